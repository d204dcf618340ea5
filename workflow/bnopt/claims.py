"""The paper's five claims, each checked on the measured tables by an explicit rule.

Every rule compares runs of one net at one learning rate and one seed set (medians
over seeds where there are several); each row gives the claim, the comparison, the
numbers, the rule, and a verdict: "holds", "does not hold", or "not measured by
this config" when the runs or probes it needs are absent. A diverged run counts as
not training (its loss is infinite from the diverged step on).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from scipy import stats

HOLDS, FAILS, NOT_MEASURED = "holds", "does not hold", "not measured by this config"
TARGET_ACCURACY = 0.9  # claim 1: steps until the smoothed training accuracy first reaches it
SMOOTHING = 0.05  # rolling window, as a fraction of the run's steps (at least 1 step)
SIMILAR = 1.25  # claim 3: "similar" = within this factor
COSINE_SLACK = 0.05  # claim 3: cos(G, G') "similar" = within this
ACCURACY_SLACK = 0.05  # claims 2, 5: "trains about / at least as well" = final accuracy within this
LOSS_SLACK = 1.10  # claim 5 on the DLN: final loss within this factor of BN's

CLAIMS = {
    1: "With BN, VGG trains faster at the same learning rate, and still trains at 0.5, where the standard network does not.",
    2: "Noisy BN trains about as well as BN although its activation distributions move far more than the standard network's.",
    3: "BN does not reduce ICS: ||G - G'|| is similar or larger, and cos(G, G') similar or smaller, with BN.",
    4: "With BN the loss varies less along the gradient, the gradient changes less, and the effective beta is lower and steadier.",
    5: "l_p normalizations train at least as well as BN and smooth the landscape too, while their activation distributions are not Gaussian-like and move more.",
}


def _row(claim, net, lr, comparison, numbers, rule, verdict):
    return dict(claim=claim, statement=CLAIMS[claim], net=net, lr=lr, comparison=comparison,
                numbers="; ".join(f"{k} = {_fmt(v)}" for k, v in numbers.items()), rule=rule, verdict=verdict)


def _fmt(value) -> str:
    if isinstance(value, (float, np.floating)):
        if math.isnan(value):
            return "n/a"
        if math.isinf(value):
            return "never" if value > 0 else "-inf"
        return f"{value:.4g}"
    return str(value)


def _verdict(ok: bool) -> str:
    return HOLDS if ok else FAILS


def _runs(table: pd.DataFrame, net: str, variant: str, lr: float) -> pd.DataFrame:
    return table[(table["net"] == net) & (table["variant"] == variant) & np.isclose(table["lr"], lr)]


def _lrs_with(table: pd.DataFrame, net: str, variants: list[str]) -> list[float]:
    sub = table[table["net"] == net]
    common = None
    for v in variants:
        lrs = set(sub.loc[sub["variant"] == v, "lr"].round(12))
        common = lrs if common is None else common & lrs
    return sorted(common or [])


# --------------------------------------------------------------------------- training


def smoothed(training: pd.DataFrame, column: str) -> pd.DataFrame:
    """`column` as a rolling mean over SMOOTHING of each run's steps; a diverged
    run's non-finite values make the rest of it non-finite (it does not train)."""
    out = []
    for _, run in training.groupby(["net", "variant", "lr", "seed"], sort=False):
        run = run.sort_values("step")
        window = max(1, int(round(SMOOTHING * len(run))))
        values = run[column].astype(float)
        out.append(run.assign(smoothed=values.rolling(window, min_periods=1).mean()))
    return pd.concat(out) if out else training.assign(smoothed=pd.Series(dtype=float))


def steps_to_accuracy(training: pd.DataFrame, target: float = TARGET_ACCURACY) -> float:
    """The first step at which one run's smoothed training accuracy reaches `target`
    (inf if it never does); median over seeds."""
    values = []
    for _, run in smoothed(training, "accuracy").groupby("seed"):
        reached = run.loc[run["smoothed"] >= target, "step"]
        values.append(float(reached.iloc[0]) if len(reached) else math.inf)
    return float(np.median(values)) if values else math.nan


def final_value(training: pd.DataFrame, column: str) -> float:
    """The smoothed `column` at each run's last step (median over seeds); a diverged
    run scores no accuracy (0) and an infinite loss."""
    values = []
    for _, run in smoothed(training, column).groupby("seed"):
        value = float(run["smoothed"].iloc[-1])
        if not math.isfinite(value):
            value = 0.0 if column == "accuracy" else math.inf
        values.append(value)
    return float(np.median(values)) if values else math.nan


def claim_1(training: pd.DataFrame) -> list[dict]:
    rows = []
    lrs = _lrs_with(training, "vgg", ["standard", "batchnorm"])
    if not lrs:
        return [_row(1, "vgg", math.nan, "batchnorm vs standard", {}, "needs VGG runs of both", NOT_MEASURED)]
    rule = (f"steps until the smoothed minibatch accuracy first reaches {TARGET_ACCURACY:.0%}: "
            "batchnorm reaches it, and sooner than standard (which may never)")
    for lr in lrs:
        bn = steps_to_accuracy(_runs(training, "vgg", "batchnorm", lr))
        std = steps_to_accuracy(_runs(training, "vgg", "standard", lr))
        rows.append(_row(1, "vgg", lr, "batchnorm vs standard", {"steps batchnorm": bn, "steps standard": std},
                         rule, _verdict(math.isfinite(bn) and bn < std)))
    largest = max(lrs)
    bn_acc = final_value(_runs(training, "vgg", "batchnorm", largest), "accuracy")
    std_acc = final_value(_runs(training, "vgg", "standard", largest), "accuracy")
    rule = (f"at the largest lr ({largest:g}): batchnorm's final smoothed accuracy reaches {TARGET_ACCURACY:.0%}, "
            "standard's does not")
    verdict = _verdict(bn_acc >= TARGET_ACCURACY > std_acc) if largest >= 0.5 else NOT_MEASURED
    rows.append(_row(1, "vgg", largest, "batchnorm vs standard, large lr",
                     {"final accuracy batchnorm": bn_acc, "final accuracy standard": std_acc},
                     rule + ("" if largest >= 0.5 else " (needs an lr of 0.5 or more)"), verdict))
    return rows


# --------------------------------------------------------------------------- distributions


def moment_drift(moments: pd.DataFrame) -> float:
    """Median over units and probe steps of |mu_t+1 - mu_t|: how far a unit's mean
    moves between two successive training steps (the paper's Fig. 8), step t's
    update and step t + 1's minibatch and noise included."""
    if moments.empty:
        return math.nan
    drifts = (moments["mean_next"] - moments["mean"]).abs().dropna()
    return float(drifts.median()) if len(drifts) else math.nan


def _median_over_samples(activations: pd.DataFrame, statistic) -> float:
    """Median over (layer, unit, step) of `statistic` of the standardized sampled
    values (groups of fewer than 4 values, or constant ones, are skipped)."""
    if activations.empty:
        return math.nan
    values = []
    for _, group in activations.groupby(["seed", "layer", "unit", "step"]):
        x = group["value"].to_numpy(dtype=float)
        sd = x.std()
        if len(x) > 3 and sd > 0:
            values.append(statistic((x - x.mean()) / sd))
    return float(np.median(values)) if values else math.nan


def gaussian_distance(activations: pd.DataFrame) -> float:
    """Median over (layer, unit, step) of the Kolmogorov-Smirnov distance between the
    sampled values and the normal distribution with their own mean and std
    (Lilliefors' statistic): 0 for a Gaussian sample (~0.03 at 1,024 values), up to 1.

    Claim 5's measure of "not Gaussian-like" (the paper shows it as histograms, Fig. 6):
    a histogram can fail to look Gaussian by its skew, its tails or its modes, and this
    distance sees each; excess kurtosis sees only tails, is 0 for some clearly
    non-Gaussian shapes and is carried by a few outliers."""
    return _median_over_samples(activations, lambda z: stats.kstest(z, "norm").statistic)


def excess_kurtosis(activations: pd.DataFrame) -> float:
    """Median over (layer, unit, step) of the sampled values' |excess kurtosis|:
    0 for a Gaussian, large for heavy-tailed or spiky distributions."""
    return _median_over_samples(activations, lambda z: abs((z**4).mean() - 3.0))


def claim_2(training: pd.DataFrame, moments: pd.DataFrame) -> list[dict]:
    lrs = _lrs_with(training, "vgg", ["batchnorm", "noisy_batchnorm", "standard"])
    if not lrs:
        return [_row(2, "vgg", math.nan, "noisy_batchnorm vs batchnorm and standard", {},
                     "needs VGG runs of standard, batchnorm and noisy_batchnorm at one lr", NOT_MEASURED)]
    rows = []
    rule = (f"noisy_batchnorm's final smoothed accuracy is within {ACCURACY_SLACK:.0%} of batchnorm's, and its "
            "median |mu_t+1 - mu_t| (from each probed step to the next step) at the probed layers exceeds "
            "standard's")
    for lr in lrs:
        acc_bn = final_value(_runs(training, "vgg", "batchnorm", lr), "accuracy")
        acc_noisy = final_value(_runs(training, "vgg", "noisy_batchnorm", lr), "accuracy")
        drift_noisy = moment_drift(_runs(moments, "vgg", "noisy_batchnorm", lr))
        drift_std = moment_drift(_runs(moments, "vgg", "standard", lr))
        numbers = {"final accuracy noisy_batchnorm": acc_noisy, "final accuracy batchnorm": acc_bn,
                   "|dmu| noisy_batchnorm": drift_noisy, "|dmu| standard": drift_std}
        if math.isnan(drift_noisy) or math.isnan(drift_std):
            rows.append(_row(2, "vgg", lr, "noisy_batchnorm vs batchnorm and standard", numbers,
                             rule + " (needs activation probes of both)", NOT_MEASURED))
            continue
        ok = acc_noisy >= acc_bn - ACCURACY_SLACK and drift_noisy > drift_std
        rows.append(_row(2, "vgg", lr, "noisy_batchnorm vs batchnorm and standard", numbers, rule, _verdict(ok)))
    return rows


# --------------------------------------------------------------------------- probes


def claim_3(ics: pd.DataFrame) -> list[dict]:
    rows = []
    rule = (f"medians over probe steps and layers >= 2: ||G - G'|| with batchnorm >= standard's / {SIMILAR}, "
            f"and cos(G, G') with batchnorm <= standard's + {COSINE_SLACK}")
    for net in ("vgg", "dln"):
        lrs = _lrs_with(ics[ics["layer"] >= 2], net, ["standard", "batchnorm"])
        if not lrs:
            rows.append(_row(3, net, math.nan, "batchnorm vs standard", {}, "needs ICS probes of both",
                             NOT_MEASURED))
        for lr in lrs:
            bn, std = (_runs(ics[ics["layer"] >= 2], net, v, lr) for v in ("batchnorm", "standard"))
            l2_bn, l2_std = bn["l2"].median(), std["l2"].median()
            cos_bn, cos_std = bn["cosine"].median(), std["cosine"].median()
            ok = l2_bn >= l2_std / SIMILAR and cos_bn <= cos_std + COSINE_SLACK
            rows.append(_row(3, net, lr, "batchnorm vs standard",
                             {"l2 batchnorm": l2_bn, "l2 standard": l2_std, "cos batchnorm": cos_bn,
                              "cos standard": cos_std}, rule, _verdict(ok)))
    return rows


def landscape_summary(steps: pd.DataFrame) -> dict[str, float]:
    """Medians over probe steps of the loss range and gradient-change range along the
    gradient, the median effective beta, and its interquartile range (steadiness)."""
    beta = steps["effective_beta"].replace([np.inf, -np.inf], np.nan)
    return {
        "loss range": float((steps["loss_max"] - steps["loss_min"]).median()),
        "gradient-change range": float((steps["grad_change_max"] - steps["grad_change_min"]).median()),
        "effective beta": float(beta.median()),
        "effective beta IQR": float(beta.quantile(0.75) - beta.quantile(0.25)),
    }


def claim_4(landscape_steps: pd.DataFrame) -> list[dict]:
    rows = []
    rule = ("medians over probe steps: batchnorm's loss range, gradient-change range and effective beta are "
            "lower than standard's, and so is the interquartile range of its effective beta")
    for net in ("vgg", "dln"):
        lrs = _lrs_with(landscape_steps, net, ["standard", "batchnorm"])
        if not lrs:
            rows.append(_row(4, net, math.nan, "batchnorm vs standard", {}, "needs landscape probes of both",
                             NOT_MEASURED))
        for lr in lrs:
            bn = landscape_summary(_runs(landscape_steps, net, "batchnorm", lr))
            std = landscape_summary(_runs(landscape_steps, net, "standard", lr))
            numbers = {f"{k} {v}": s[k] for k in bn for v, s in (("batchnorm", bn), ("standard", std))}
            ok = all(bn[k] < std[k] for k in bn)
            rows.append(_row(4, net, lr, "batchnorm vs standard", numbers, rule, _verdict(ok)))
    return rows


def claim_5(training: pd.DataFrame, landscape_steps: pd.DataFrame, moments: pd.DataFrame,
            activations: pd.DataFrame) -> list[dict]:
    rows = []
    for net in ("vgg", "dln"):
        found = False
        for p in ("l1", "l2", "linf"):
            for lr in _lrs_with(training, net, [p, "batchnorm", "standard"]):
                found = True
                if net == "vgg":
                    mine = final_value(_runs(training, net, p, lr), "accuracy")
                    bn = final_value(_runs(training, net, "batchnorm", lr), "accuracy")
                    trains, train_rule = mine >= bn - ACCURACY_SLACK, f"final accuracy within {ACCURACY_SLACK:.0%} of batchnorm's"
                else:
                    mine = final_value(_runs(training, net, p, lr), "loss")
                    bn = final_value(_runs(training, net, "batchnorm", lr), "loss")
                    trains, train_rule = mine <= LOSS_SLACK * bn, f"final loss within {LOSS_SLACK}x batchnorm's"
                beta = landscape_summary(_runs(landscape_steps, net, p, lr))["effective beta"]
                beta_std = landscape_summary(_runs(landscape_steps, net, "standard", lr))["effective beta"]
                shape, shape_bn = (gaussian_distance(_runs(activations, net, v, lr)) for v in (p, "batchnorm"))
                kurt, kurt_bn = (excess_kurtosis(_runs(activations, net, v, lr)) for v in (p, "batchnorm"))
                drift, drift_bn = (moment_drift(_runs(moments, net, v, lr)) for v in (p, "batchnorm"))
                numbers = {f"final {'accuracy' if net == 'vgg' else 'loss'} {p}": mine,
                           f"final {'accuracy' if net == 'vgg' else 'loss'} batchnorm": bn,
                           f"effective beta {p}": beta, "effective beta standard": beta_std,
                           f"distance from Gaussian {p}": shape, "distance from Gaussian batchnorm": shape_bn,
                           f"|excess kurtosis| {p}": kurt, "|excess kurtosis| batchnorm": kurt_bn,
                           f"|dmu| {p}": drift, "|dmu| batchnorm": drift_bn}
                rule = (f"{train_rule}; median effective beta below standard's; its activations' median distance "
                        "from a Gaussian (KS to the fitted normal) and its median |mu_t+1 - mu_t| (successive "
                        "steps) above batchnorm's")
                needed = [beta, beta_std, shape, shape_bn, drift, drift_bn]
                if any(math.isnan(v) for v in needed):
                    verdict = NOT_MEASURED
                else:
                    verdict = _verdict(trains and beta < beta_std and shape > shape_bn and drift > drift_bn)
                rows.append(_row(5, net, lr, f"{p} vs batchnorm and standard", numbers, rule, verdict))
        if not found:
            rows.append(_row(5, net, math.nan, "l_p vs batchnorm and standard", {},
                             "needs l1/l2/linf, batchnorm and standard runs at one lr", NOT_MEASURED))
    return rows


def check_claims(training: pd.DataFrame, landscape_steps: pd.DataFrame, ics: pd.DataFrame,
                 moments: pd.DataFrame, activations: pd.DataFrame) -> pd.DataFrame:
    """The claims table: one row per (claim, net, lr) comparison."""
    rows = [*claim_1(training), *claim_2(training, moments), *claim_3(ics), *claim_4(landscape_steps),
            *claim_5(training, landscape_steps, moments, activations)]
    return pd.DataFrame(rows, columns=["claim", "statement", "net", "lr", "comparison", "numbers", "rule",
                                       "verdict"])
