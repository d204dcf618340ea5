"""What the claims measure on one run or a few: the shared measures of the claims, the
report's summaries, the scorecard and the learning-rate sensitivity (smoothed curves,
steps to a target, final values, whether a run trained, activation shape and drift,
the landscape's summary along the gradient). Pure functions of the measured tables.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from scipy import stats

from ..tasks import is_classifier

TARGET_ACCURACY = 0.9  # claim 1: steps until the smoothed training accuracy first reaches it
SMOOTHING = 0.05  # rolling window, as a fraction of the run's steps (at least 1 step)
CHANCE = 0.1  # the VGG's datasets (CIFAR-10, digits) have ten classes
NO_PROGRESS = 0.9  # a DLN "did not train" when its final smoothed loss is above this fraction of its first


def fmt(value) -> str:
    """A number as the claims table writes it (4 significant digits; inf = never)."""
    if isinstance(value, (float, np.floating)):
        if math.isnan(value):
            return "n/a"
        if math.isinf(value):
            return "never" if value > 0 else "-inf"
        return f"{value:.4g}"
    return str(value)


def ratio(a: float, b: float) -> float:
    """a / b, NaN when either is NaN or b is 0."""
    if math.isnan(a) or math.isnan(b) or b == 0:
        return math.nan
    return a / b


def runs_at(table: pd.DataFrame, net: str, variant: str, lr: float) -> pd.DataFrame:
    """The rows of `table` of one net, variant and learning rate (every seed)."""
    return table[(table["net"] == net) & (table["variant"] == variant) & np.isclose(table["lr"], lr)]


def lrs_with(table: pd.DataFrame, net: str, variants: list[str]) -> list[float]:
    """The learning rates at which `table` holds every one of `variants` of `net`."""
    sub = table[table["net"] == net]
    common = None
    for v in variants:
        lrs = set(sub.loc[sub["variant"] == v, "lr"].round(12))
        common = lrs if common is None else common & lrs
    return sorted(common or [])


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


# --------------------------------------------------------------------------- seed by seed

def did_not_train(run: pd.DataFrame, net: str) -> str | None:
    """Why one run (one seed's training table) did not train, or None if it did (or
    is absent): it diverged, or its final smoothed accuracy is below twice chance
    (VGG), or its final smoothed loss is above NO_PROGRESS of its first (DLN)."""
    if run.empty:
        return None
    run = run.sort_values("step")
    variant = run["variant"].iloc[0]
    bad = ~np.isfinite(run["loss"].to_numpy(dtype=float))
    if bad.any():
        return f"{variant} diverged at step {int(run['step'].to_numpy()[bad.argmax()])}"
    if is_classifier(net):
        final = final_value(run, "accuracy")
        if final < 2 * CHANCE:
            return f"{variant} did not train (final smoothed accuracy {fmt(final)} < twice chance, {2 * CHANCE:g})"
    else:
        final, first = final_value(run, "loss"), float(run["loss"].iloc[0])
        if final > NO_PROGRESS * first:
            return f"{variant} did not train (final smoothed loss {fmt(final)} > {NO_PROGRESS:g} x its first, {fmt(first)})"
    return None


def moment_drift(moments: pd.DataFrame) -> float:
    """Median over units and probe steps of |mu_t+1 - mu_t|: how far a unit's mean
    moves between two successive training steps (the paper's Fig. 8), step t's
    update and step t + 1's minibatch and noise included."""
    if moments.empty:
        return math.nan
    drifts = (moments["mean_next"] - moments["mean"]).abs().dropna()
    return float(drifts.median()) if len(drifts) else math.nan


SAMPLE_KEYS = ["seed", "layer", "unit", "step"]


def _standardized_samples(activations: pd.DataFrame) -> pd.DataFrame:
    """Each (seed, layer, unit, step) sample standardized by its own mean and std
    (population), with its size and each value's rank within it; samples of fewer
    than 4 values, or constant ones, are dropped. Vectorized over all samples at once:
    the activations table holds millions of values in thousands of samples."""
    value = activations["value"].to_numpy(dtype=float)
    codes = activations.groupby(SAMPLE_KEYS, sort=False).ngroup().to_numpy()
    frame = pd.DataFrame(dict(code=codes, value=value))
    grouped = frame.groupby("code")["value"]
    sd = grouped.transform("std", ddof=0).to_numpy()
    size = grouped.transform("size").to_numpy()
    keep = (size > 3) & (sd > 0)
    frame = frame[keep].assign(z=(value[keep] - grouped.transform("mean").to_numpy()[keep]) / sd[keep],
                               n=size[keep])
    frame["rank"] = frame.groupby("code")["z"].rank(method="first").to_numpy()
    return frame


def gaussian_distance(activations: pd.DataFrame) -> float:
    """Median over (layer, unit, step) of the Kolmogorov-Smirnov distance between the
    sampled values and the normal distribution with their own mean and std
    (Lilliefors' statistic): 0 for a Gaussian sample (~0.03 at 1,024 values), up to 1.
    (scipy.stats.kstest's one-sample statistic, computed for every sample at once.)

    Claim 5's measure of "not Gaussian-like" (the paper shows it as histograms, Fig. 6):
    a histogram can fail to look Gaussian by its skew, its tails or its modes, and this
    distance sees each; excess kurtosis sees only tails, is 0 for some clearly
    non-Gaussian shapes and is carried by a few outliers."""
    return activation_shape(activations)[0]


def _gaussian_distance(s: pd.DataFrame) -> float:
    cdf = stats.norm.cdf(s["z"].to_numpy())
    gap = np.maximum(s["rank"].to_numpy() / s["n"].to_numpy() - cdf, cdf - (s["rank"].to_numpy() - 1) / s["n"].to_numpy())
    return float(pd.Series(gap).groupby(s["code"].to_numpy()).max().median())


def excess_kurtosis(activations: pd.DataFrame) -> float:
    """Median over (layer, unit, step) of the sampled values' |excess kurtosis|:
    0 for a Gaussian, large for heavy-tailed or spiky distributions."""
    return activation_shape(activations)[1]


def _excess_kurtosis(s: pd.DataFrame) -> float:
    return float((pd.Series(s["z"].to_numpy() ** 4).groupby(s["code"].to_numpy()).mean() - 3.0).abs().median())


def activation_shape(activations: pd.DataFrame) -> tuple[float, float]:
    """(gaussian_distance, excess_kurtosis) of the activations, standardizing their
    samples once (the slow part, on millions of values)."""
    if activations.empty:
        return math.nan, math.nan
    s = _standardized_samples(activations)
    if s.empty:
        return math.nan, math.nan
    return _gaussian_distance(s), _excess_kurtosis(s)


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
