"""Learning-rate sensitivity: over which learning rates each variant trains, and where
the standard network breaks (the blog post's second effect of BatchNorm; the paper's
"enables us to use a broader range of (and thus larger) learning rates").

A run's score is its final smoothed training metric (VGG: accuracy, a diverged run
scoring 0; DLN: loss, a diverged run scoring infinity). On a net's grid of learning
rates, a variant's **usable** learning rates are those at which its score (median
over seeds) comes within a stated level of the best run on the grid, any variant's:
VGG at least USABLE_ACCURACY of the best accuracy, DLN at most USABLE_LOSS times the
best loss. Its **usable range** is the ratio of the largest to the smallest usable
learning rate (1 for a single one, 0 for none).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from ..tasks import is_classifier, metric_of
from .measures import TARGET_ACCURACY, did_not_train, final_value, smoothed, steps_to_accuracy

USABLE_ACCURACY = 0.9  # VGG: usable where the final smoothed accuracy is >= 90% of the grid's best
USABLE_LOSS = 2.0  # DLN: usable where the final smoothed loss is <= 2x the grid's best
BREAK_SLACK = 4.0  # "slightly above" the paper's break: within this factor of it
MIN_GRID = 3  # claim 6 needs a grid of at least this many learning rates shared by both


def final_scores(training: pd.DataFrame, net: str, evals: pd.DataFrame | None = None) -> pd.DataFrame:
    """One row per run of `net`: variant, lr, seed, its score, whether it diverged,
    and why it did not train (empty if it did; see measures.did_not_train); with
    `evals`, also `test`: the last test-set evaluation's accuracy (VGG) or loss (DLN),
    scored as the training metric is when it is not finite."""
    metric = metric_of(net)
    worst = 0.0 if is_classifier(net) else math.inf
    tests = {}
    if evals is not None:
        for key, run in evals[evals["net"] == net].groupby(["variant", "lr", "seed"]):
            value = float(run.sort_values("step")[f"test_{metric}"].iloc[-1])
            tests[(key[0], float(key[1]), int(key[2]))] = value if math.isfinite(value) else worst
    rows = []
    for (variant, lr, seed), run in training[training["net"] == net].groupby(["variant", "lr", "seed"]):
        rows.append(dict(variant=variant, lr=float(lr), seed=int(seed), score=final_value(run, metric),
                         test=tests.get((variant, float(lr), int(seed)), math.nan),
                         diverged=not np.isfinite(run["loss"].to_numpy(dtype=float)).all(),
                         not_trained=did_not_train(run, net) or ""))
    return pd.DataFrame(rows, columns=["variant", "lr", "seed", "score", "test", "diverged", "not_trained"])


def shared_lrs(scores: pd.DataFrame) -> list[float]:
    """The learning rates at which both standard and batchnorm were run."""
    return sorted(set(scores.loc[scores["variant"] == "standard", "lr"])
                  & set(scores.loc[scores["variant"] == "batchnorm", "lr"]))


def usable_lrs(scores: pd.DataFrame, net: str, own_best: bool = False) -> dict[str, list[float]]:
    """Per variant, its usable learning rates on the grid: where its median score over
    seeds comes within the level of the grid's best run (module docstring), or, with
    `own_best`, of the variant's own best (how flat its own curve is, whatever level
    it reaches)."""
    medians = scores.groupby(["variant", "lr"])["score"].median().reset_index()
    if medians.empty:
        return {}
    best_of = medians.groupby("variant")["score"]
    if is_classifier(net):
        best = best_of.transform("max") if own_best else medians["score"].max()
        ok = medians["score"] >= USABLE_ACCURACY * best
    else:
        best = best_of.transform("min") if own_best else medians["score"].min()
        ok = medians["score"] <= USABLE_LOSS * best
    usable = medians[ok]
    return {v: sorted(usable.loc[usable["variant"] == v, "lr"]) for v in sorted(set(medians["variant"]))}


def training_lrs(scores: pd.DataFrame) -> dict[str, list[float]]:
    """Per variant, the grid learning rates at which most of its seeds train at all
    (measures.did_not_train: not diverged, and VGG above twice chance, DLN below 0.9x its
    first loss)."""
    trains = scores.assign(trains=scores["not_trained"] == "").groupby(["variant", "lr"])["trains"].mean()
    return {v: sorted(lr for (var, lr), share in trains.items() if var == v and share > 0.5)
            for v in sorted(set(scores["variant"]))}


def usable_range(lrs: list[float]) -> float:
    """The ratio of the largest to the smallest usable learning rate (0 if none)."""
    return max(lrs) / min(lrs) if lrs else 0.0


def range_table(scores: pd.DataFrame, net: str) -> pd.DataFrame:
    """Per variant: its usable learning rates (within the level of the grid's best),
    the lowest and highest, and the range (claim 6's number); beside it the range
    within the level of the variant's own best, and the range over which it trains at
    all."""
    own, trains = usable_lrs(scores, net, own_best=True), training_lrs(scores)
    rows = []
    for variant, lrs in usable_lrs(scores, net).items():
        rows.append(dict(net=net, variant=variant, usable_lrs=", ".join(f"{lr:g}" for lr in lrs),
                         lowest=min(lrs) if lrs else math.nan, highest=max(lrs) if lrs else math.nan,
                         usable_range=usable_range(lrs), own_best_range=usable_range(own.get(variant, [])),
                         training_range=usable_range(trains.get(variant, [])),
                         training_lrs=", ".join(f"{lr:g}" for lr in trains.get(variant, []))))
    return pd.DataFrame(rows, columns=["net", "variant", "usable_lrs", "lowest", "highest", "usable_range",
                                       "own_best_range", "training_range", "training_lrs"])


def break_points(scores: pd.DataFrame, variant: str = "standard") -> dict[str, float]:
    """The smallest grid lr at which `variant` diverges, and the smallest at which it
    stops training (diverged or not training), each in more than half of its seeds;
    NaN where it never does on the grid."""
    runs = scores[scores["variant"] == variant]
    if runs.empty:
        return {"diverges": math.nan, "stops_training": math.nan}
    per_lr = runs.groupby("lr").agg(diverged=("diverged", "mean"), stopped=("not_trained", lambda s: (s != "").mean()))
    diverges = per_lr.index[per_lr["diverged"] > 0.5]
    stops = per_lr.index[per_lr["stopped"] > 0.5]
    return {"diverges": float(diverges.min()) if len(diverges) else math.nan,
            "stops_training": float(stops.min()) if len(stops) else math.nan}


def compare_break(points: dict[str, float], paper_factor: float, paper_lr: float) -> str:
    """Whether the standard network breaks where the paper says its own did: just above
    `paper_factor` x `paper_lr` (the paper's largest probe step was "slightly smaller
    than the learning rate at which the standard network diverges"). Reads the break
    points of break_points; the first of stopping and diverging counts."""
    limit = paper_factor * paper_lr
    first = np.nanmin([points["stops_training"], points["diverges"]]) if not all(
        math.isnan(v) for v in points.values()) else math.nan
    if math.isnan(first):
        return f"does not break on this grid, so the paper's {limit:g} cannot be checked here"
    ratio = first / paper_lr
    if first <= limit:
        return (f"breaks at {ratio:.3g}x the paper's lr, at or below the paper's {paper_factor:g}x: "
                "earlier than the paper's network")
    if first <= BREAK_SLACK * limit:
        return f"breaks at {ratio:.3g}x the paper's lr, just above the paper's {paper_factor:g}x: as the paper says"
    return (f"breaks at {ratio:.3g}x the paper's lr, more than {BREAK_SLACK:g}x above the paper's "
            f"{paper_factor:g}x: later than the paper's network")


def trained_level(net: str, scores: pd.DataFrame, setting: float | None = None) -> float:
    """The level from which a run counts as trained, for the speed panel: the config's
    `setting` (nets.<net>.sensitivity), else VGG TARGET_ACCURACY (claim 1's
    level) and DLN USABLE_LOSS x the grid's best final loss (the DLN's attainable loss
    depends on the seed's matrix A, so no one number suits every config)."""
    if setting is not None:
        return float(setting)
    if is_classifier(net):
        return TARGET_ACCURACY
    finite = scores["score"][np.isfinite(scores["score"])] if len(scores) else pd.Series(dtype=float)
    return USABLE_LOSS * float(finite.min()) if len(finite) else math.nan


def steps_to_level(training: pd.DataFrame, net: str, level: float) -> pd.DataFrame:
    """Per run: the first step at which it is trained (VGG: smoothed accuracy reaches
    `level`; DLN: smoothed loss falls to `level`; see trained_level), inf if never:
    the speed half of the blog post's claim."""
    rows = []
    for (variant, lr, seed), run in training[training["net"] == net].groupby(["variant", "lr", "seed"]):
        if is_classifier(net):
            steps = steps_to_accuracy(run, level)
        else:
            curve = smoothed(run, "loss")
            reached = curve.loc[curve["smoothed"] <= level, "step"]
            steps = float(reached.iloc[0]) if len(reached) else math.inf
        rows.append(dict(variant=variant, lr=float(lr), seed=int(seed), steps=steps))
    return pd.DataFrame(rows, columns=["variant", "lr", "seed", "steps"])
