"""The paper's claims (five, and the learning-rate range of bnopt.analysis.sensitivity) and claim 7 (today's
normalizations, beyond the paper), each checked on the measured tables by an explicit rule, seed by seed and
across seeds.

A check compares runs of one net at one learning rate. Its rule is applied to each
seed on its own (the variants of one seed share their data order, initialization
scheme and, in the DLN, the target matrix A: a paired comparison), giving a verdict
per seed: "holds", "does not hold", "moot" when a network the comparison rests on did
not train in that seed (diverged, or its final smoothed accuracy is below twice
chance: comparing landscapes with a network that never moved says nothing), or "not
measured" when the seed lacks the probes. The row then carries "holds in k of n
seeds" (n counts the seeds that were measured and not moot), the effect size of the
rule's main quantity (its median over seeds, with a bootstrap 95% interval when n >= 3)
and an aggregate verdict by AGGREGATE_RULE.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import numpy as np
import pandas as pd
from scipy import stats

from ..training.optim import PAPER_TOKEN
from ..training.recipe import DEFAULT_RECIPE
from .tables import of_recipe, recipes

HOLDS, FAILS, NOT_MEASURED = "holds", "does not hold", "not measured by this config"
HOLDS_MOST, MIXED, MOOT = "holds in most seeds", "mixed", "moot"
# Every verdict, best first: the order of the report's legend and colours.
VERDICTS = (HOLDS, HOLDS_MOST, MIXED, FAILS, MOOT, NOT_MEASURED)
AGGREGATE_RULE = ("over the seeds measured and not moot: holds in every one -> holds; in at least 2/3 -> holds in "
                  "most seeds; in at most 1/3 -> does not hold; otherwise mixed; no seed left -> moot (a network the "
                  "comparison rests on did not train in any seed) or not measured")
TARGET_ACCURACY = 0.9  # claim 1: steps until the smoothed training accuracy first reaches it
SMOOTHING = 0.05  # rolling window, as a fraction of the run's steps (at least 1 step)
SIMILAR = 1.25  # claim 3: "similar" = within this factor
COSINE_SLACK = 0.05  # claim 3: cos(G, G') "similar" = within this
ACCURACY_SLACK = 0.05  # claims 2, 5: "trains about / at least as well" = final accuracy within this
LOSS_SLACK = 1.10  # claim 5 on the DLN: final loss within this factor of BN's
CHANCE = 0.1  # the VGG's datasets (CIFAR-10, digits) have ten classes
NO_PROGRESS = 0.9  # a DLN "did not train" when its final smoothed loss is above this fraction of its first
CONFIDENCE = 0.95

CLAIMS = {
    1: "With BN, VGG trains faster at the same learning rate, and still trains at 0.5, where the standard network does not.",
    2: "Noisy BN trains about as well as BN although its activation distributions move far more than the standard network's.",
    3: "BN does not reduce ICS: ||G - G'|| is similar or larger, and cos(G, G') similar or smaller, with BN.",
    4: "With BN the loss varies less along the gradient, the gradient changes less, and the effective beta is lower and steadier.",
    5: "l_p normalizations train at least as well as BN and smooth the landscape too, while their activation distributions are not Gaussian-like and move more.",
    6: "BN trains over a broader range of learning rates (the paper's section 3.1 and the blog post).",
    7: "Beyond the paper: LayerNorm, GroupNorm and weight normalization train about as well as BN and smooth the landscape like it (the paper's section 3.3 question, asked of today's normalizations).",
}
# Claim 7's normalizations: those in use today that the paper did not test.
MODERN_NORMS = ("layernorm", "groupnorm", "weightnorm")
COLUMNS = ["claim", "statement", "net", "lr", "optimizer", "recipe", "comparison", "verdict", "k", "n", "holds_in", "effect",
           "effect_median", "effect_ci_low", "effect_ci_high", "effect_per_seed", "seeds", "seed_verdicts",
           "moot_because", "numbers", "rule", "aggregate_rule"]
TABLE_NAMES = ("training", "evals", "landscape_steps", "ics", "moments", "activations")


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
    if net == "vgg":
        final = final_value(run, "accuracy")
        if final < 2 * CHANCE:
            return f"{variant} did not train (final smoothed accuracy {_fmt(final)} < twice chance, {2 * CHANCE:g})"
    else:
        final, first = final_value(run, "loss"), float(run["loss"].iloc[0])
        if final > NO_PROGRESS * first:
            return f"{variant} did not train (final smoothed loss {_fmt(final)} > {NO_PROGRESS:g} x its first, {_fmt(first)})"
    return None


@dataclass(frozen=True)
class Judgement:
    """One seed's outcome of a rule: ok (None: that seed lacks the measurements),
    the numbers the rule read, and the effect size."""
    ok: bool | None
    numbers: dict
    effect: float = math.nan


@dataclass(frozen=True)
class Check:
    """One row of the claims table: a rule applied to the runs of `variants` at
    (net, lr), seed by seed. `references` are the networks the comparison rests on:
    a seed in which one of them did not train is moot. `source` names the table
    whose seeds count (the one holding the rule's measurements)."""
    claim: int
    net: str
    lr: float
    comparison: str
    variants: tuple[str, ...]
    references: tuple[str, ...]
    rule: str
    effect: str
    judge: Callable[[dict], Judgement]
    source: str = "training"


class SeedTables:
    """The measured tables split by seed once (the activations table is millions of
    rows): `of(seed)` gives every table restricted to that seed."""

    def __init__(self, tables: dict[str, pd.DataFrame]):
        empty = pd.DataFrame(columns=["net", "variant", "lr", "seed", "step"])
        self.tables = {name: tables.get(name, empty) for name in TABLE_NAMES}
        self._split = {name: {int(s): part for s, part in t.groupby("seed")} if "seed" in t and len(t) else {}
                       for name, t in self.tables.items()}

    def of(self, seed: int) -> dict[str, pd.DataFrame]:
        return {name: self._split[name].get(seed, self.tables[name].iloc[0:0]) for name in TABLE_NAMES}

    def seeds(self, source: str, net: str, lr: float, variants: tuple[str, ...]) -> list[int]:
        """The seeds in which `source` holds every one of `variants` at (net, lr)."""
        table = self.tables[source]
        if table.empty:
            return []
        common = None
        for variant in variants:
            have = set(_runs(table, net, variant, lr)["seed"].astype(int))
            common = have if common is None else common & have
        return sorted(common or [])


def aggregate(verdicts: list[str]) -> tuple[str, int, int]:
    """The aggregate verdict over per-seed verdicts by AGGREGATE_RULE, and k of n."""
    counted = [v for v in verdicts if v in (HOLDS, FAILS)]
    k, n = counted.count(HOLDS), len(counted)
    if n == 0:
        return (MOOT if MOOT in verdicts else NOT_MEASURED), 0, 0
    if k == n:
        return HOLDS, k, n
    if k / n >= 2 / 3:
        return HOLDS_MOST, k, n
    if k / n <= 1 / 3:
        return FAILS, k, n
    return MIXED, k, n


def effect_interval(values: list[float]) -> tuple[float, float]:
    """A bootstrap 95% interval (percentile) of the median over seeds; NaN with fewer
    than three finite values. Seeded, so the table is reproducible."""
    x = np.asarray([v for v in values if math.isfinite(v)], dtype=float)
    if len(x) < 3:
        return math.nan, math.nan
    if np.all(x == x[0]):
        return float(x[0]), float(x[0])
    result = stats.bootstrap((x,), np.median, confidence_level=CONFIDENCE, n_resamples=9999, method="percentile",
                             rng=np.random.default_rng(0))
    return float(result.confidence_interval.low), float(result.confidence_interval.high)


def _median_numbers(per_seed: list[dict]) -> dict:
    keys = list(dict.fromkeys(k for numbers in per_seed for k in numbers))
    out = {}
    for key in keys:
        values = [float(numbers[key]) for numbers in per_seed if key in numbers]
        values = [v for v in values if not math.isnan(v)]
        out[key] = float(np.median(values)) if values else math.nan
    return out


def evaluate(check: Check, split: SeedTables) -> dict:
    """The claims-table row of one check: its rule applied seed by seed, aggregated."""
    seeds = split.seeds(check.source, check.net, check.lr, check.variants)
    verdicts, effects, numbers, moot = [], [], [], []
    for seed in seeds:
        tables = split.of(seed)
        reasons = [why for v in check.references
                   if (why := did_not_train(_runs(tables["training"], check.net, v, check.lr), check.net))]
        judged = check.judge(tables)
        numbers.append(judged.numbers)
        if reasons:
            verdicts.append(MOOT)
            moot.append(f"seed {seed}: " + "; ".join(reasons))
        elif judged.ok is None:
            verdicts.append(NOT_MEASURED)
        else:
            verdicts.append(_verdict(judged.ok))
            effects.append(judged.effect)
    return dict(claim=check.claim, statement=CLAIMS[check.claim], net=check.net, lr=check.lr,
                comparison=check.comparison, effect=check.effect, moot_because=" | ".join(moot),
                **over_seeds(seeds, verdicts, effects, numbers),
                rule=check.rule + ("" if seeds else f" (needs {check.source} of {', '.join(check.variants)})"),
                aggregate_rule=AGGREGATE_RULE)


def over_seeds(seeds: list[int], verdicts: list[str], effects: list[float], numbers: list[dict],
               extra: str = "") -> dict:
    """A claims row's across-seed columns from its per-seed verdicts, effects (of the
    counted seeds) and numbers: the aggregate verdict, k of n, the effect's median and
    interval, and the numbers' medians as text (`extra` appended)."""
    verdict, k, n = aggregate(verdicts)
    low, high = effect_interval(effects)
    measured = [e for e in effects if not math.isnan(e)]
    text = "; ".join([*(f"{key} = {_fmt(v)}" for key, v in _median_numbers(numbers).items()), *([extra] if extra else [])])
    return dict(verdict=verdict, k=k, n=n, holds_in=f"{k} of {n} seeds" if n else "-",
                effect_median=float(np.median(measured)) if measured else math.nan, effect_ci_low=low,
                effect_ci_high=high, effect_per_seed=", ".join(_fmt(e) for e in effects),
                seeds=", ".join(map(str, seeds)), seed_verdicts=", ".join(verdicts),
                numbers=("median over seeds: " if len(numbers) > 1 else "") + text)


def unmeasured(claim: int, net: str, comparison: str, needs: str) -> dict:
    """The row of a claim this config has no runs for."""
    row = dict.fromkeys(COLUMNS, "")
    row.update(claim=claim, statement=CLAIMS[claim], net=net, lr=math.nan, comparison=comparison,
               verdict=NOT_MEASURED, k=0, n=0, holds_in="-", effect_median=math.nan, effect_ci_low=math.nan,
               effect_ci_high=math.nan, rule=f"needs {needs}", aggregate_rule=AGGREGATE_RULE)
    return row


def _ratio(a: float, b: float) -> float:
    if math.isnan(a) or math.isnan(b) or b == 0:
        return math.nan
    return a / b


# --------------------------------------------------------------------------- the claims


def claim_1(split: SeedTables) -> list[dict]:
    training = split.tables["training"]
    lrs = _lrs_with(training, "vgg", ["standard", "batchnorm"])
    if not lrs:
        return [unmeasured(1, "vgg", "batchnorm vs standard", "VGG runs of standard and batchnorm at one lr")]
    rule = (f"steps until the smoothed minibatch accuracy first reaches {TARGET_ACCURACY:.0%}: "
            "batchnorm reaches it, and sooner than standard (which may never)")

    def speed(lr):
        def judge(t):
            bn_run, std_run = (_runs(t["training"], "vgg", v, lr) for v in ("batchnorm", "standard"))
            bn, std = steps_to_accuracy(bn_run), steps_to_accuracy(std_run)
            length = float(max(len(bn_run), len(std_run)))
            return Judgement(math.isfinite(bn) and bn < std, {"steps batchnorm": bn, "steps standard": std},
                             _ratio(min(bn, length), min(std, length)))
        return judge

    checks = [Check(1, "vgg", lr, "batchnorm vs standard", ("batchnorm", "standard"), (), rule,
                    "steps to the target, batchnorm / standard (never = the run's length)", speed(lr)) for lr in lrs]
    largest = max(lrs)

    def survives(t):
        bn, std = (final_value(_runs(t["training"], "vgg", v, largest), "accuracy") for v in ("batchnorm", "standard"))
        ok = bn >= TARGET_ACCURACY > std if largest >= 0.5 else None
        return Judgement(ok, {"final accuracy batchnorm": bn, "final accuracy standard": std}, bn - std)

    rule = (f"at the largest lr ({largest:g}): batchnorm's final smoothed accuracy reaches {TARGET_ACCURACY:.0%}, "
            "standard's does not" + ("" if largest >= 0.5 else " (needs an lr of 0.5 or more)"))
    checks.append(Check(1, "vgg", largest, "batchnorm vs standard, large lr", ("batchnorm", "standard"), (), rule,
                        "final smoothed accuracy, batchnorm - standard", survives))
    return [evaluate(c, split) for c in checks]


# --------------------------------------------------------------------------- distributions



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
    if activations.empty:
        return math.nan
    s = _standardized_samples(activations)
    if s.empty:
        return math.nan
    cdf = stats.norm.cdf(s["z"].to_numpy())
    gap = np.maximum(s["rank"].to_numpy() / s["n"].to_numpy() - cdf, cdf - (s["rank"].to_numpy() - 1) / s["n"].to_numpy())
    return float(pd.Series(gap).groupby(s["code"].to_numpy()).max().median())


def excess_kurtosis(activations: pd.DataFrame) -> float:
    """Median over (layer, unit, step) of the sampled values' |excess kurtosis|:
    0 for a Gaussian, large for heavy-tailed or spiky distributions."""
    if activations.empty:
        return math.nan
    s = _standardized_samples(activations)
    if s.empty:
        return math.nan
    return float((pd.Series(s["z"].to_numpy() ** 4).groupby(s["code"].to_numpy()).mean() - 3.0).abs().median())


def claim_2(split: SeedTables) -> list[dict]:
    variants = ("batchnorm", "noisy_batchnorm", "standard")
    lrs = _lrs_with(split.tables["training"], "vgg", list(variants))
    if not lrs:
        return [unmeasured(2, "vgg", "noisy_batchnorm vs batchnorm and standard",
                           "VGG runs of standard, batchnorm and noisy_batchnorm at one lr")]
    rule = (f"noisy_batchnorm's final smoothed accuracy is within {ACCURACY_SLACK:.0%} of batchnorm's, and its "
            "median |mu_t+1 - mu_t| (from each probed step to the next step) at the probed layers exceeds "
            "standard's")

    def judge_at(lr):
        def judge(t):
            acc_bn, acc_noisy = (final_value(_runs(t["training"], "vgg", v, lr), "accuracy")
                                 for v in ("batchnorm", "noisy_batchnorm"))
            drift_noisy, drift_std = (moment_drift(_runs(t["moments"], "vgg", v, lr))
                                      for v in ("noisy_batchnorm", "standard"))
            numbers = {"final accuracy noisy_batchnorm": acc_noisy, "final accuracy batchnorm": acc_bn,
                       "|dmu| noisy_batchnorm": drift_noisy, "|dmu| standard": drift_std}
            if math.isnan(drift_noisy) or math.isnan(drift_std):
                return Judgement(None, numbers)
            return Judgement(acc_noisy >= acc_bn - ACCURACY_SLACK and drift_noisy > drift_std, numbers,
                             _ratio(drift_noisy, drift_std))
        return judge

    return [evaluate(Check(2, "vgg", lr, "noisy_batchnorm vs batchnorm and standard", variants,
                           ("batchnorm", "standard"), rule, "|dmu|, noisy_batchnorm / standard", judge_at(lr)), split)
            for lr in lrs]


# --------------------------------------------------------------------------- probes


def claim_3(split: SeedTables) -> list[dict]:
    rows = []
    rule = (f"medians over probe steps and layers >= 2: ||G - G'|| with batchnorm >= standard's / {SIMILAR}, "
            f"and cos(G, G') with batchnorm <= standard's + {COSINE_SLACK}")
    ics = split.tables["ics"]
    for net in ("vgg", "dln"):
        lrs = _lrs_with(ics[ics["layer"] >= 2], net, ["standard", "batchnorm"]) if len(ics) else []
        if not lrs:
            rows.append(unmeasured(3, net, "batchnorm vs standard", "ICS probes of standard and batchnorm"))

        def judge_at(net, lr):
            def judge(t):
                deep = t["ics"][t["ics"]["layer"] >= 2]
                bn, std = (_runs(deep, net, v, lr) for v in ("batchnorm", "standard"))
                l2_bn, l2_std = bn["l2"].median(), std["l2"].median()
                cos_bn, cos_std = bn["cosine"].median(), std["cosine"].median()
                numbers = {"l2 batchnorm": l2_bn, "l2 standard": l2_std, "cos batchnorm": cos_bn,
                           "cos standard": cos_std}
                return Judgement(l2_bn >= l2_std / SIMILAR and cos_bn <= cos_std + COSINE_SLACK, numbers,
                                 _ratio(l2_bn, l2_std))
            return judge

        rows += [evaluate(Check(3, net, lr, "batchnorm vs standard", ("batchnorm", "standard"),
                                ("batchnorm", "standard"), rule, "||G - G'||, batchnorm / standard",
                                judge_at(net, lr), source="ics"), split) for lr in lrs]
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


def claim_4(split: SeedTables) -> list[dict]:
    rows = []
    rule = ("medians over probe steps: batchnorm's loss range, gradient-change range and effective beta are "
            "lower than standard's, and so is the interquartile range of its effective beta")
    steps = split.tables["landscape_steps"]
    for net in ("vgg", "dln"):
        lrs = _lrs_with(steps, net, ["standard", "batchnorm"]) if len(steps) else []
        if not lrs:
            rows.append(unmeasured(4, net, "batchnorm vs standard", "landscape probes of standard and batchnorm"))

        def judge_at(net, lr):
            def judge(t):
                bn, std = (landscape_summary(_runs(t["landscape_steps"], net, v, lr)) for v in ("batchnorm", "standard"))
                numbers = {f"{k} {v}": s[k] for k in bn for v, s in (("batchnorm", bn), ("standard", std))}
                return Judgement(all(bn[k] < std[k] for k in bn), numbers,
                                 _ratio(bn["effective beta"], std["effective beta"]))
            return judge

        rows += [evaluate(Check(4, net, lr, "batchnorm vs standard", ("batchnorm", "standard"),
                                ("batchnorm", "standard"), rule, "effective beta, batchnorm / standard",
                                judge_at(net, lr), source="landscape_steps"), split) for lr in lrs]
    return rows


def _trains_rule(net: str) -> str:
    """The words of claims 5 and 7's "trains about as well as batchnorm"."""
    return (f"final accuracy within {ACCURACY_SLACK:.0%} of batchnorm's" if net == "vgg"
            else f"final loss within {LOSS_SLACK}x batchnorm's")


def _trains_like_batchnorm(mine: float, batchnorm: float, net: str) -> bool:
    return mine >= batchnorm - ACCURACY_SLACK if net == "vgg" else mine <= LOSS_SLACK * batchnorm


def _against_batchnorm_and_standard(split: SeedTables, claim: int, norms: tuple[str, ...], rule: Callable,
                                    judge_at: Callable, missing: tuple[str, str]) -> list[dict]:
    """Claims 5 and 7: a row per net, lr and normalization in `norms` run beside
    batchnorm and standard; `rule(net)` is its rule's words, `judge_at(net, lr, norm)`
    its judge; a net with none gets the `missing` (comparison, needs) row."""
    rows = []
    training = split.tables["training"]
    for net in ("vgg", "dln"):
        found = False
        for norm in norms:
            for lr in _lrs_with(training, net, [norm, "batchnorm", "standard"]):
                found = True
                rows.append(evaluate(Check(claim, net, lr, f"{norm} vs batchnorm and standard",
                                           (norm, "batchnorm", "standard"), ("batchnorm", "standard"), rule(net),
                                           f"effective beta, {norm} / standard", judge_at(net, lr, norm)), split))
        if not found:
            rows.append(unmeasured(claim, net, *missing))
    return rows


def claim_5(split: SeedTables) -> list[dict]:
    def rule(net):
        return (f"{_trains_rule(net)}; median effective beta below standard's; its activations' median distance "
                "from a Gaussian (KS to the fitted normal) and its median |mu_t+1 - mu_t| (successive steps) above "
                "batchnorm's")

    def judge_at(net, lr, p):
        def judge(t):
            metric = "accuracy" if net == "vgg" else "loss"
            mine, bn = (final_value(_runs(t["training"], net, v, lr), metric) for v in (p, "batchnorm"))
            beta, beta_std = (landscape_summary(_runs(t["landscape_steps"], net, v, lr))["effective beta"]
                              for v in (p, "standard"))
            shape, shape_bn = (gaussian_distance(_runs(t["activations"], net, v, lr)) for v in (p, "batchnorm"))
            kurt, kurt_bn = (excess_kurtosis(_runs(t["activations"], net, v, lr)) for v in (p, "batchnorm"))
            drift, drift_bn = (moment_drift(_runs(t["moments"], net, v, lr)) for v in (p, "batchnorm"))
            numbers = {f"final {metric} {p}": mine, f"final {metric} batchnorm": bn,
                       f"effective beta {p}": beta, "effective beta standard": beta_std,
                       f"distance from Gaussian {p}": shape, "distance from Gaussian batchnorm": shape_bn,
                       f"|excess kurtosis| {p}": kurt, "|excess kurtosis| batchnorm": kurt_bn,
                       f"|dmu| {p}": drift, "|dmu| batchnorm": drift_bn}
            if any(math.isnan(v) for v in (beta, beta_std, shape, shape_bn, drift, drift_bn)):
                return Judgement(None, numbers)
            ok = (_trains_like_batchnorm(mine, bn, net) and beta < beta_std and shape > shape_bn
                  and drift > drift_bn)
            return Judgement(ok, numbers, _ratio(beta, beta_std))
        return judge

    return _against_batchnorm_and_standard(split, 5, ("l1", "l2", "linf"), rule, judge_at,
                                           ("l_p vs batchnorm and standard",
                                            "l1/l2/linf, batchnorm and standard runs at one lr"))


def claim_7(split: SeedTables) -> list[dict]:
    """Claim 5's form for each of MODERN_NORMS: trains about as well as batchnorm, and
    smoother than standard by both landscape measures that claim 4 compares."""
    def rule(net):
        return (f"{_trains_rule(net)}; medians over probe steps: effective beta and gradient-change range below "
                "standard's")

    def judge_at(net, lr, norm):
        def judge(t):
            metric = "accuracy" if net == "vgg" else "loss"
            mine, bn, std = (final_value(_runs(t["training"], net, v, lr), metric)
                             for v in (norm, "batchnorm", "standard"))
            numbers = {f"final {metric} {norm}": mine, f"final {metric} batchnorm": bn,
                       f"final {metric} standard": std}
            probed = [_runs(t["landscape_steps"], net, v, lr) for v in (norm, "standard")]
            if any(p.empty for p in probed):  # trained without probes (a run group's probe: false)
                return Judgement(None, numbers)
            smooth, smooth_std = (landscape_summary(p) for p in probed)
            numbers |= {f"effective beta {norm}": smooth["effective beta"],
                        "effective beta standard": smooth_std["effective beta"],
                        f"gradient-change range {norm}": smooth["gradient-change range"],
                        "gradient-change range standard": smooth_std["gradient-change range"]}
            if any(math.isnan(v) for v in (mine, bn, *smooth.values(), *smooth_std.values())):
                return Judgement(None, numbers)
            smoother = all(smooth[k] < smooth_std[k] for k in ("effective beta", "gradient-change range"))
            return Judgement(_trains_like_batchnorm(mine, bn, net) and smoother, numbers,
                             _ratio(smooth["effective beta"], smooth_std["effective beta"]))
        return judge

    return _against_batchnorm_and_standard(split, 7, MODERN_NORMS, rule, judge_at,
                                           ("layernorm/groupnorm/weightnorm vs batchnorm and standard",
                                            "layernorm, groupnorm or weightnorm runs beside batchnorm and standard "
                                            "at one lr"))


def check_claims(training: pd.DataFrame, landscape_steps: pd.DataFrame, ics: pd.DataFrame,
                 moments: pd.DataFrame, activations: pd.DataFrame) -> pd.DataFrame:
    """The claims table: one row per (claim, net, lr, recipe, comparison), seed by
    seed and aggregated (see the module's docstring). Each recipe's runs (one optimizer,
    initialization and loss: bnopt.training.recipe) are compared among themselves; the
    default recipe gets every claim's row, another recipe the rows it has runs for, its
    token in the comparison."""
    from .sensitivity import claim_6  # it builds on this module

    tables = dict(training=training, landscape_steps=landscape_steps, ics=ics, moments=moments,
                  activations=activations)
    rows = []
    for recipe in recipes(training):
        mine = {name: of_recipe(table, recipe) for name, table in tables.items()}
        split = SeedTables(mine)
        found = [*claim_1(split), *claim_2(split), *claim_3(split), *claim_4(split), *claim_5(split),
                 *claim_6(mine["training"]), *claim_7(split)]
        if recipe != DEFAULT_RECIPE:
            found = [dict(row, comparison=f"{row['comparison']} [{recipe}]") for row in found
                     if row["verdict"] != NOT_MEASURED]  # only what its runs measure
        optimizer = mine["training"]["optimizer"].iloc[0] if len(mine["training"]) else PAPER_TOKEN
        rows += [dict(row, optimizer=optimizer, recipe=recipe) for row in found]
    return pd.DataFrame(rows, columns=COLUMNS)
