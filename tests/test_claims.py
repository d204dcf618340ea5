"""The claim rules on small hand-made tables whose answers are known."""

import math

import numpy as np
import pandas as pd
import pytest

from bnopt.claims import (FAILS, HOLDS, NOT_MEASURED, check_claims, claim_1, claim_3, claim_4, excess_kurtosis,
                          gaussian_distance, moment_drift, steps_to_accuracy)


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
    rows = pd.DataFrame(claim_1(table))
    assert list(rows["verdict"]) == [HOLDS, HOLDS, HOLDS]
    assert "steps batchnorm = 14; steps standard = 54" in rows["numbers"].iloc[0]
    assert "steps standard = never" in rows["numbers"].iloc[1]


def test_claim_1_fails_when_standard_is_faster_and_is_unmeasured_without_runs():
    table = _training({("batchnorm", 0.1): step_up(60), ("standard", 0.1): step_up(10)})
    rows = pd.DataFrame(claim_1(table))
    assert rows["verdict"].iloc[0] == FAILS
    assert rows["verdict"].iloc[1] == NOT_MEASURED  # no lr >= 0.5 in this config
    only_bn = _training({("batchnorm", 0.1): step_up(10)})
    assert [r["verdict"] for r in claim_1(only_bn)] == [NOT_MEASURED]


def test_a_diverged_run_does_not_train():
    table = _training({("batchnorm", 0.5): step_up(10), ("standard", 0.5): lambda t: 0.1 if t < 3 else math.nan})
    rows = pd.DataFrame(claim_1(table))
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
    rows = [r for r in claim_3(_ics(l2_bn, 1.0, cos_bn, 0.9)) if r["net"] == "dln"]
    assert [r["verdict"] for r in rows] == [verdict]
    assert [r["verdict"] for r in claim_3(_ics(1, 1, 1, 1)) if r["net"] == "vgg"] == [NOT_MEASURED]


def _landscape(scale_bn, iqr_bn=1.0):
    rows = []
    for variant, scale, spread in (("batchnorm", scale_bn, iqr_bn), ("standard", 1.0, 1.0)):
        for i, step in enumerate(range(0, 50, 10)):
            rows.append(dict(net="vgg", variant=variant, lr=0.1, seed=0, step=step, loss_min=1.0,
                             loss_max=1.0 + scale, grad_change_min=0.0, grad_change_max=2 * scale,
                             effective_beta=10 * scale + spread * i))
    return pd.DataFrame(rows)


def test_claim_4_rule():
    assert [r["verdict"] for r in claim_4(_landscape(0.5, 0.5)) if r["net"] == "vgg"] == [HOLDS]
    assert [r["verdict"] for r in claim_4(_landscape(0.5, 2.0)) if r["net"] == "vgg"] == [FAILS]  # not steadier
    assert [r["verdict"] for r in claim_4(_landscape(2.0)) if r["net"] == "vgg"] == [FAILS]


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
    assert set(table["claim"]) == {1, 2, 3, 4, 5}
    assert set(table["verdict"]) == {NOT_MEASURED}
