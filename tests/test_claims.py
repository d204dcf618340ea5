"""The claim rules on small hand-made tables whose answers are known."""

import math

import numpy as np
import pandas as pd
import pytest

from bnopt.analysis.claims import check_claims, claim
from bnopt.analysis.measures import did_not_train, excess_kurtosis, gaussian_distance, moment_drift, steps_to_accuracy
from bnopt.analysis.verdicts import (FAILS, HOLDS, HOLDS_MOST, MIXED, MOOT, NOT_MEASURED, SeedTables, aggregate,
                                     effect_interval)

claim_1, claim_3, claim_4, claim_7 = (claim(n).rows for n in (1, 3, 4, 7))


def _split(**tables):
    return SeedTables(tables)


def _training(runs, steps=100):
    """runs: {(variant, lr): accuracy function of step}."""
    rows = []
    for (variant, lr), acc in runs.items():
        for t in range(steps):
            a = acc(t)
            rows.append(dict(net="vgg", variant=variant, lr=lr, seed=0, step=t, accuracy=a,
                             loss=math.inf if math.isnan(a) else 1 - a))
    return pd.DataFrame(rows)


def step_up(at):
    return lambda t: 0.1 if t < at else 1.0


def test_steps_to_accuracy_uses_the_smoothed_curve():
    table = _training({("batchnorm", 0.1): step_up(30)})
    # 5% of 100 steps = a 5-step rolling mean: it first reaches 0.9 once 5 steps at 1.0 (mean 1.0)
    # or 4 at 1.0 and one at 0.1 (mean 0.82 < 0.9) -> at step 34.
    assert steps_to_accuracy(table) == 34
    assert steps_to_accuracy(_training({("standard", 0.1): lambda t: 0.5})) == math.inf


def test_claim_1_holds_when_batchnorm_is_faster_and_survives_a_large_lr():
    table = _training({("batchnorm", 0.1): step_up(10), ("standard", 0.1): step_up(50),
                       ("batchnorm", 0.5): step_up(10), ("standard", 0.5): lambda t: 0.1})
    rows = pd.DataFrame(claim_1(_split(training=table)))
    assert list(rows["verdict"]) == [HOLDS, HOLDS, HOLDS]
    assert "steps batchnorm = 14; steps standard = 54" in rows["numbers"].iloc[0]
    assert "steps standard = never" in rows["numbers"].iloc[1]


def test_claim_1_fails_when_standard_is_faster_and_is_unmeasured_without_runs():
    table = _training({("batchnorm", 0.1): step_up(60), ("standard", 0.1): step_up(10)})
    rows = pd.DataFrame(claim_1(_split(training=table)))
    assert rows["verdict"].iloc[0] == FAILS
    assert rows["verdict"].iloc[1] == NOT_MEASURED  # no lr >= 0.5 in this config
    only_bn = _training({("batchnorm", 0.1): step_up(10)})
    assert [r["verdict"] for r in claim_1(_split(training=only_bn))] == [NOT_MEASURED]


def test_a_diverged_run_does_not_train():
    table = _training({("batchnorm", 0.5): step_up(10), ("standard", 0.5): lambda t: 0.1 if t < 3 else math.nan})
    rows = pd.DataFrame(claim_1(_split(training=table)))
    assert rows["verdict"].iloc[-1] == HOLDS
    assert "final accuracy standard = 0" in rows["numbers"].iloc[-1]


def _ics(l2_bn, l2_std, cos_bn, cos_std):
    rows = []
    for variant, l2, cos in (("batchnorm", l2_bn, cos_bn), ("standard", l2_std, cos_std)):
        for step in (0, 10):
            for layer in (1, 2, 3):
                rows.append(dict(net="dln", variant=variant, lr=1e-6, seed=0, step=step, layer=layer,
                                 l2=0.0 if layer == 1 else l2, cosine=1.0 if layer == 1 else cos))
    return pd.DataFrame(rows)


@pytest.mark.parametrize("l2_bn, cos_bn, verdict", [(2.0, 0.5, HOLDS), (1.0, 0.94, HOLDS),
                                                    (0.5, 0.5, FAILS), (2.0, 0.99, FAILS)])
def test_claim_3_rule(l2_bn, cos_bn, verdict):
    rows = [r for r in claim_3(_split(ics=_ics(l2_bn, 1.0, cos_bn, 0.9))) if r["net"] == "dln"]
    assert [r["verdict"] for r in rows] == [verdict]
    assert [r["verdict"] for r in claim_3(_split(ics=_ics(1, 1, 1, 1))) if r["net"] == "vgg"] == [NOT_MEASURED]


def _landscape(scale_bn, iqr_bn=1.0):
    rows = []
    for variant, scale, spread in (("batchnorm", scale_bn, iqr_bn), ("standard", 1.0, 1.0)):
        for i, step in enumerate(range(0, 50, 10)):
            rows.append(dict(net="vgg", variant=variant, lr=0.1, seed=0, step=step, loss_min=1.0,
                             loss_max=1.0 + scale, grad_change_min=0.0, grad_change_max=2 * scale,
                             effective_beta=10 * scale + spread * i))
    return pd.DataFrame(rows)


def test_claim_4_rule():
    assert [r["verdict"] for r in claim_4(_split(landscape_steps=_landscape(0.5, 0.5))) if r["net"] == "vgg"] == [HOLDS]
    assert [r["verdict"] for r in claim_4(_split(landscape_steps=_landscape(0.5, 2.0))) if r["net"] == "vgg"] == [FAILS]  # not steadier
    assert [r["verdict"] for r in claim_4(_split(landscape_steps=_landscape(2.0))) if r["net"] == "vgg"] == [FAILS]


def _landscape_of(variant, scale, seed=0):
    return pd.DataFrame([dict(net="vgg", variant=variant, lr=0.1, seed=seed, step=step, loss_min=1.0,
                              loss_max=1.0 + scale, grad_change_min=0.0, grad_change_max=2 * scale,
                              effective_beta=10 * scale) for step in range(0, 50, 10)])


@pytest.mark.parametrize("final, scale, beta_ok, verdict", [
    (0.97, 0.5, True, HOLDS),      # trains like BN (within 5%), half standard's beta and gradient change
    (0.90, 0.5, True, FAILS),      # smoother, but 8% below batchnorm's accuracy
    (0.97, 1.5, False, FAILS),     # trains, but rougher than standard
])
def test_claim_7_rule(final, scale, beta_ok, verdict):
    table = _training({("batchnorm", 0.1): lambda t: 0.98, ("standard", 0.1): lambda t: 0.6,
                       ("groupnorm", 0.1): lambda t: final})
    steps = pd.concat([_landscape_of("batchnorm", 0.3), _landscape_of("standard", 1.0),
                       _landscape_of("groupnorm", scale)], ignore_index=True)
    rows = pd.DataFrame(claim_7(_split(training=table, landscape_steps=steps)))
    vgg = rows[rows["net"] == "vgg"].iloc[0]
    assert vgg["verdict"] == verdict and vgg["comparison"] == "groupnorm vs batchnorm and standard"
    assert vgg["effect_median"] == pytest.approx(scale)  # effective beta, groupnorm / standard
    assert f"final accuracy groupnorm = {final:g}" in vgg["numbers"]
    assert "gradient-change range standard = 2" in vgg["numbers"]
    # layernorm and weightnorm are not in this config; the DLN has no runs at all
    assert list(rows["net"]) == ["vgg", "dln"] and rows.iloc[1]["verdict"] == NOT_MEASURED


def test_claim_7_without_probes_is_not_measured():
    table = _training({("batchnorm", 0.1): lambda t: 0.98, ("standard", 0.1): lambda t: 0.6,
                       ("weightnorm", 0.1): lambda t: 0.97})
    row = claim_7(_split(training=table))[0]
    assert row["verdict"] == NOT_MEASURED and row["comparison"] == "weightnorm vs batchnorm and standard"


def test_distribution_statistics():
    rng = np.random.default_rng(0)
    gauss = pd.DataFrame(dict(seed=0, layer=1, unit=0, step=0, value=rng.normal(size=20000)))
    uniform = gauss.assign(value=rng.uniform(size=20000))
    assert excess_kurtosis(gauss) < 0.1
    assert excess_kurtosis(uniform) == pytest.approx(1.2, abs=0.05)  # |kurtosis - 3| of U(0, 1)
    # Distance from the fitted normal: ~0 for Gaussian values; for uniform ones the
    # largest gap between U(-sqrt 3, sqrt 3)'s CDF and the standard normal's.
    grid = np.linspace(-np.sqrt(3), np.sqrt(3), 200001)
    exact = np.abs((grid + np.sqrt(3)) / (2 * np.sqrt(3)) - 0.5 * (1 + np.vectorize(math.erf)(grid / np.sqrt(2)))).max()
    assert gaussian_distance(gauss) < 0.01
    assert gaussian_distance(uniform) == pytest.approx(exact, abs=0.01)
    bimodal = gauss.assign(value=np.where(rng.uniform(size=20000) < 0.5, -2.0, 2.0) + rng.normal(size=20000) * 0.5)
    assert gaussian_distance(bimodal) > gaussian_distance(uniform)
    # Drift between successive steps (t and t + 1), not between probe steps far apart:
    # the means at probe steps 0, 10, 20 move a lot, from one step to the next little.
    moments = pd.DataFrame(dict(seed=0, layer=1, unit=[0, 0, 0, 1, 1, 1], step=[0, 10, 20] * 2,
                                mean=[0.0, 1.0, 3.0, 0.0, 0.5, 0.5],
                                mean_next=[0.1, 1.3, 3.0, -0.2, 0.5, 0.9]))
    assert moment_drift(moments) == pytest.approx(0.15)  # median of 0.1, 0.3, 0, 0.2, 0, 0.4


def test_the_claims_table_covers_every_claim_even_when_nothing_was_measured():
    empty = pd.DataFrame(columns=["net", "variant", "lr", "seed", "step", "layer", "unit", "accuracy", "loss",
                                  "l2", "cosine", "loss_min", "loss_max", "grad_change_min", "grad_change_max",
                                  "effective_beta", "mean", "value"])
    table = check_claims(empty, empty, empty, empty, empty)
    assert set(table["claim"]) == {1, 2, 3, 4, 5, 6, 7, 8}
    assert set(table["verdict"]) == {NOT_MEASURED}


@pytest.mark.parametrize("verdicts, expected", [
    ([HOLDS, HOLDS, HOLDS], (HOLDS, 3, 3)),
    ([HOLDS, HOLDS, FAILS], (HOLDS_MOST, 2, 3)),
    ([HOLDS, FAILS], (MIXED, 1, 2)),
    ([HOLDS, FAILS, FAILS], (FAILS, 1, 3)),
    ([HOLDS, MOOT], (HOLDS, 1, 1)),  # a moot seed is not counted
    ([MOOT, MOOT], (MOOT, 0, 0)),
    ([NOT_MEASURED], (NOT_MEASURED, 0, 0)),
    ([FAILS], (FAILS, 0, 1)),
])
def test_aggregate_verdict(verdicts, expected):
    assert aggregate(verdicts) == expected


def _seeded(runs_by_seed, steps=100):
    """{seed: {(variant, lr): accuracy function}} -> one training table."""
    return pd.concat([_training(runs, steps).assign(seed=seed) for seed, runs in runs_by_seed.items()],
                     ignore_index=True)


def test_claim_1_seed_by_seed_with_k_of_n_and_a_bootstrap_interval():
    # Seeds 0-2: batchnorm reaches 90% at steps 10, 20, 60 (+4: the 5-step smoothing), standard at 50 in each.
    table = _seeded({s: {("batchnorm", 0.1): step_up(at), ("standard", 0.1): step_up(50)}
                     for s, at in enumerate((10, 20, 60))})
    row = pd.DataFrame(claim_1(_split(training=table))).iloc[0]
    assert row["verdict"] == HOLDS_MOST and (row["k"], row["n"]) == (2, 3)
    assert row["holds_in"] == "2 of 3 seeds"
    assert row["seed_verdicts"] == f"{HOLDS}, {HOLDS}, {FAILS}" and row["seeds"] == "0, 1, 2"
    ratios = [14 / 54, 24 / 54, 64 / 54]
    assert row["effect_median"] == pytest.approx(24 / 54)
    assert row["effect_ci_low"] >= min(ratios) - 1e-12 and row["effect_ci_high"] <= max(ratios) + 1e-12
    assert row["effect_ci_low"] < row["effect_median"] < row["effect_ci_high"]
    assert "median over seeds: steps batchnorm = 24; steps standard = 54" == row["numbers"]
    # Two seeds: no interval; one seed each way: mixed.
    two = pd.DataFrame(claim_1(_split(training=table[table["seed"] != 1]))).iloc[0]
    assert two["verdict"] == MIXED and math.isnan(two["effect_ci_low"])


def test_a_comparison_with_a_network_that_did_not_train_is_moot():
    # At lr 0.5 the standard network stays at chance in seed 0 and trains in seed 1.
    table = _seeded({0: {("batchnorm", 0.5): step_up(10), ("standard", 0.5): lambda t: 0.1},
                     1: {("batchnorm", 0.5): step_up(10), ("standard", 0.5): step_up(50)}})
    steps = pd.concat([_landscape(0.5, 0.5).assign(seed=s, lr=0.5) for s in (0, 1)], ignore_index=True)
    row = pd.DataFrame(claim_4(_split(training=table, landscape_steps=steps))).query("net == 'vgg'").iloc[0]
    assert row["seed_verdicts"] == f"{MOOT}, {HOLDS}"
    assert row["verdict"] == HOLDS and row["holds_in"] == "1 of 1 seeds"
    assert row["moot_because"] == "seed 0: standard did not train (final smoothed accuracy 0.1 < twice chance, 0.2)"
    only_seed_0 = pd.DataFrame(claim_4(_split(training=table[table["seed"] == 0],
                                              landscape_steps=steps[steps["seed"] == 0]))).query("net == 'vgg'")
    assert only_seed_0["verdict"].tolist() == [MOOT]
    # Claim 1 is not moot there: a standard network that never trains is its point. Its
    # large-lr rule holds in seed 0 only (in seed 1 the standard network trains at 0.5).
    assert pd.DataFrame(claim_1(_split(training=table)))["verdict"].tolist() == [HOLDS, MIXED]


def test_did_not_train():
    run = lambda losses: pd.DataFrame(dict(net="dln", variant="standard", lr=0.1, seed=0, step=range(len(losses)),  # noqa: E731
                                           loss=losses, accuracy=0.5))
    assert did_not_train(run([10.0] * 50 + [1.0] * 50), "dln") is None
    assert "did not train (final smoothed loss" in did_not_train(run([10.0] * 99 + [9.5]), "dln")
    assert did_not_train(run([10.0, 5.0, math.inf, math.nan]), "dln") == "standard diverged at step 2"
    assert did_not_train(run([]), "vgg") is None


def test_effect_interval():
    assert all(math.isnan(v) for v in effect_interval([1.0, 2.0]))
    assert effect_interval([2.0, 2.0, 2.0]) == (2.0, 2.0)
    low, high = effect_interval([1.0, 2.0, 3.0, 4.0, 5.0, math.inf])
    assert 1.0 <= low < 3.0 < high <= 5.0  # the non-finite value is left out
    assert effect_interval([1.0, 2.0, 3.0, 4.0, 5.0]) == (low, high)  # seeded: reproducible


def test_distribution_statistics_equal_scipy_sample_by_sample():
    rng = np.random.default_rng(1)
    parts = []
    for i, (size, draw) in enumerate([(50, rng.exponential), (200, lambda size: rng.standard_t(3, size=size)),
                                      (7, rng.uniform), (3, rng.normal), (30, lambda size: np.ones(size))]):
        values = draw(size=size)
        parts.append(pd.DataFrame(dict(seed=i % 2, layer=1, unit=i, step=0, value=values)))
    table = pd.concat(parts, ignore_index=True).sample(frac=1.0, random_state=0)  # order must not matter
    expected_ks, expected_kurt = [], []
    for part in parts[:3]:  # 3 values and a constant sample are skipped
        x = part["value"].to_numpy()
        z = (x - x.mean()) / x.std()
        expected_ks.append(stats_kstest(z))
        expected_kurt.append(abs((z**4).mean() - 3.0))
    assert gaussian_distance(table) == pytest.approx(np.median(expected_ks), rel=1e-12)
    assert excess_kurtosis(table) == pytest.approx(np.median(expected_kurt), rel=1e-12)


def stats_kstest(z):
    from scipy import stats

    return stats.kstest(z, "norm").statistic


def _arm_rows(net, variant, scale, seed, recipe="", final=0.97, steps=60):
    """A run's training rows (accuracy `final` from step 0) and landscape rows (effective beta 10 x scale)."""
    training = pd.DataFrame([dict(net=net, variant=variant, lr=0.1, seed=seed, step=t, accuracy=final,
                                  loss=1 - final, recipe=recipe, optimizer="sgd") for t in range(steps)])
    landscape = _landscape_of(variant, scale, seed).assign(net=net, recipe=recipe)
    return training, landscape


def _claim_8(arms):
    """The claims table's claim 8 rows over arms [(net, variant, scale, seed, recipe, final)]."""
    parts = [_arm_rows(*arm) for arm in arms]
    training = pd.concat([p[0] for p in parts], ignore_index=True)
    steps = pd.concat([p[1] for p in parts], ignore_index=True)
    empty = pd.DataFrame(columns=["net", "variant", "lr", "seed", "step", "recipe"])
    table = check_claims(training, steps, empty, empty, empty)
    return table[table["claim"] == 8].set_index("comparison")


def test_claim_8_compares_the_standard_resnet_with_the_vgg_and_without_its_skips_seed_by_seed():
    # Seeds 0-2: the standard ResNet's beta 2 (x10), the VGG's standard 5, batchnorm 1.5 (seed 2: 3);
    # the plain net of the ResNet's depth 8 (seed 1: 1, smoother than with skips).
    arms = []
    for seed, (bn_vgg, plain) in enumerate(((1.5, 8.0), (1.5, 1.0), (3.0, 8.0))):
        arms += [("resnet", "standard", 2.0, seed, "", 0.97), ("vgg", "standard", 5.0, seed, "", 0.9),
                 ("vgg", "batchnorm", bn_vgg, seed, "", 0.98), ("resnet", "standard", plain, seed, "noskip", 0.9),
                 ("resnet", "batchnorm", 1.0, seed, "", 0.98), ("resnet", "fixup", 1.0, seed, "", 0.96 - 0.1 * seed)]
    rows = _claim_8(arms)
    assert list(rows.index) == ["standard ResNet vs VGG standard", "standard ResNet vs VGG batchnorm",
                                "standard ResNet vs no skips", "fixup vs batchnorm"]
    assert set(rows["net"]) == {"resnet"} and set(rows["recipe"]) == {""}
    vgg_std, vgg_bn, plain, fixup = (rows.iloc[i] for i in range(4))
    assert (vgg_std["verdict"], vgg_std["k"], vgg_std["n"]) == (HOLDS, 3, 3)
    assert vgg_std["effect_median"] == pytest.approx(2.0 / 5.0)
    assert (vgg_bn["verdict"], vgg_bn["k"], vgg_bn["n"]) == (FAILS, 1, 3)  # as smooth as BN in seed 2 only
    assert vgg_bn["seed_verdicts"] == f"{FAILS}, {FAILS}, {HOLDS}"
    assert (plain["verdict"], plain["k"], plain["n"]) == (HOLDS_MOST, 2, 3)
    assert "effective beta RESNET standard [noskip] = 80" in plain["numbers"]
    # Fixup at 0.96, 0.86, 0.76 against batchnorm's 0.98: within 5% in seed 0 only
    assert (fixup["verdict"], fixup["k"], fixup["n"]) == (FAILS, 1, 3)
    assert fixup["effect_median"] == pytest.approx(0.86 - 0.98)
    # the plain net's own recipe gets claims 1-7's rows of its runs, no claim 8 row of its own
    assert not check_claims(*[pd.concat([_arm_rows(*a)[i] for a in arms]) for i in (0, 1)],
                            *[pd.DataFrame(columns=["net", "variant", "lr", "seed", "step", "recipe"])] * 3
                            ).query("claim == 8 and recipe == 'noskip'").shape[0]


def test_claim_8_is_moot_where_the_vgg_does_not_train_and_unmeasured_without_a_resnet():
    rows = _claim_8([("resnet", "standard", 2.0, 0, "", 0.97), ("vgg", "standard", 5.0, 0, "", 0.1)])
    row = rows.loc["standard ResNet vs VGG standard"]
    assert row["verdict"] == MOOT
    assert row["moot_because"].startswith("seed 0: VGG: standard did not train")
    none = _claim_8([("vgg", "standard", 5.0, 0, "", 0.9), ("vgg", "batchnorm", 1.0, 0, "", 0.98)])
    assert list(none["verdict"]) == [NOT_MEASURED] and list(none["net"]) == ["resnet"]
    assert "nets.resnet" in none["rule"].iloc[0]
