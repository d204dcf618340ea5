"""The engine every claim shares: a rule applied seed by seed, and a verdict over seeds.

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

The claims themselves (bnopt.analysis.claims) only say what they compare and by which
rule; the registry fills in each row's statement. A check usually reads variants of its
own net and recipe; one may name its networks as arms (net, variant, and optionally
a sibling recipe), to compare across nets (claim 8: the standard ResNet against the
VGG) or recipes (the ResNet with and without its skips), still seed by seed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import numpy as np
import pandas as pd
from scipy import stats

from .measures import did_not_train, fmt, runs_at

HOLDS, FAILS, NOT_MEASURED = "holds", "does not hold", "not measured by this config"
HOLDS_MOST, MIXED, MOOT = "holds in most seeds", "mixed", "moot"
# Every verdict, best first: the order of the report's legend and colours.
VERDICTS = (HOLDS, HOLDS_MOST, MIXED, FAILS, MOOT, NOT_MEASURED)
AGGREGATE_RULE = ("over the seeds measured and not moot: holds in every one -> holds; in at least 2/3 -> holds in "
                  "most seeds; in at most 1/3 -> does not hold; otherwise mixed; no seed left -> moot (a network the "
                  "comparison rests on did not train in any seed) or not measured")
CONFIDENCE = 0.95  # of the bootstrap interval of an effect
# The claims table (results/tables/claims.csv), in order.
COLUMNS = ["claim", "statement", "net", "lr", "optimizer", "recipe", "comparison", "verdict", "k", "n", "holds_in", "effect",
           "effect_median", "effect_ci_low", "effect_ci_high", "effect_per_seed", "seeds", "seed_verdicts",
           "moot_because", "numbers", "rule", "aggregate_rule"]
# The measured tables a rule may read, split by seed once (SeedTables).
TABLE_NAMES = ("training", "evals", "landscape_steps", "ics", "moments", "activations")


PAPER_NETS = ("vgg", "dln")  # every claim has a row for each (not measured where a config has none)


def claim_nets(table: pd.DataFrame, paper_nets: tuple[str, ...] = PAPER_NETS) -> list[str]:
    """The nets a claim's rows cover: `paper_nets` always, and beyond the paper any
    other net `table` has runs of (the ResNet), after the image net and before the DLN.
    A config without such a net gets exactly the rows it got before."""
    present = set(table["net"].unique()) if "net" in table and len(table) else set()
    beyond = sorted(present - set(PAPER_NETS))
    return [n for n in paper_nets if n != "dln"] + beyond + [n for n in paper_nets if n == "dln"]


def verdict_of(ok: bool) -> str:
    return HOLDS if ok else FAILS


@dataclass(frozen=True)
class Judgement:
    """One seed's outcome of a rule: ok (None: that seed lacks the measurements),
    the numbers the rule read, and the effect size."""
    ok: bool | None
    numbers: dict
    effect: float = math.nan


@dataclass(frozen=True)
class Arm:
    """One network a check reads: a variant of `net`, of the recipe being checked or,
    with `recipe`, of that sibling recipe's runs (e.g. "noskip")."""
    net: str
    variant: str
    recipe: str | None = None

    @property
    def label(self) -> str:
        """"RESNET standard [noskip]": its net, variant and sibling recipe."""
        return f"{self.net.upper()} {self.variant}" + (f" [{self.recipe}]" if self.recipe else "")


@dataclass(frozen=True)
class Check:
    """One row of the claims table: a rule applied to the runs of `variants` at
    (net, lr), seed by seed. `references` are the networks the comparison rests on:
    a seed in which one of them did not train is moot. `source` names the table
    whose seeds count (the one holding the rule's measurements). `arms` and
    `reference_arms`, when given, replace `variants` and `references` of `net` with
    networks of any net or sibling recipe (bnopt.analysis.verdicts.Arm)."""
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
    arms: tuple[Arm, ...] = ()
    reference_arms: tuple[Arm, ...] = ()

    def all_arms(self) -> tuple[Arm, ...]:
        return self.arms or tuple(Arm(self.net, v) for v in self.variants)

    def all_references(self) -> tuple[Arm, ...]:
        return self.reference_arms or tuple(Arm(self.net, v) for v in self.references)


class SeedView(dict):
    """One seed's tables by name, and the runs of any arm in that seed (of a sibling
    recipe's tables where the arm names one; none where the config has no such recipe)."""

    def __init__(self, tables: dict, seed: int, siblings: dict):
        super().__init__(tables)
        self.seed, self._siblings = seed, siblings

    def runs(self, arm: Arm, source: str, lr: float) -> pd.DataFrame:
        if arm.recipe is None:
            table = self[source]
        elif arm.recipe in self._siblings:
            table = self._siblings[arm.recipe].of(self.seed)[source]
        else:
            table = self[source].iloc[0:0]
        return runs_at(table, arm.net, arm.variant, lr)


class SeedTables:
    """The measured tables of one recipe (`recipe`, its token) split by seed once (the
    activations table is millions of rows): `of(seed)` gives every table restricted to
    that seed. `siblings` maps every recipe's token to its SeedTables (itself
    included), for checks whose arms read another recipe."""

    def __init__(self, tables: dict[str, pd.DataFrame], recipe: str = "", siblings: dict | None = None):
        empty = pd.DataFrame(columns=["net", "variant", "lr", "seed", "step"])
        self.tables = {name: tables.get(name, empty) for name in TABLE_NAMES}
        self.recipe = recipe
        self.siblings = siblings if siblings is not None else {recipe: self}
        self._split = {name: {int(s): part for s, part in t.groupby("seed")} if "seed" in t and len(t) else {}
                       for name, t in self.tables.items()}

    def of(self, seed: int) -> SeedView:
        return SeedView({name: self._split[name].get(seed, self.tables[name].iloc[0:0]) for name in TABLE_NAMES},
                        seed, self.siblings)

    def _table(self, source: str, arm: Arm) -> pd.DataFrame:
        if arm.recipe is None:
            return self.tables[source]
        sibling = self.siblings.get(arm.recipe)
        return sibling.tables[source] if sibling is not None else self.tables[source].iloc[0:0]

    def seeds(self, source: str, net: str, lr: float, variants: tuple[str, ...] = (),
              arms: tuple[Arm, ...] = ()) -> list[int]:
        """The seeds in which `source` holds every one of `variants` of `net` (or every
        one of `arms`) at `lr`."""
        common = None
        for arm in arms or tuple(Arm(net, v) for v in variants):
            table = self._table(source, arm)
            have = set(runs_at(table, arm.net, arm.variant, lr)["seed"].astype(int)) if len(table) else set()
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


def median_numbers(per_seed: list[dict]) -> dict:
    keys = list(dict.fromkeys(k for numbers in per_seed for k in numbers))
    out = {}
    for key in keys:
        values = [float(numbers[key]) for numbers in per_seed if key in numbers]
        values = [v for v in values if not math.isnan(v)]
        out[key] = float(np.median(values)) if values else math.nan
    return out


def evaluate(check: Check, split: SeedTables) -> dict:
    """The claims-table row of one check: its rule applied seed by seed, aggregated."""
    seeds = split.seeds(check.source, check.net, check.lr, arms=check.all_arms())
    verdicts, effects, numbers, moot = [], [], [], []
    for seed in seeds:
        tables = split.of(seed)
        reasons = [why for arm in check.all_references()
                   if (why := _why_not_trained(tables.runs(arm, "training", check.lr), arm, check.net))]
        judged = check.judge(tables)
        numbers.append(judged.numbers)
        if reasons:
            verdicts.append(MOOT)
            moot.append(f"seed {seed}: " + "; ".join(reasons))
        elif judged.ok is None:
            verdicts.append(NOT_MEASURED)
        else:
            verdicts.append(verdict_of(judged.ok))
            effects.append(judged.effect)
    return dict(claim=check.claim, net=check.net, lr=check.lr,
                comparison=check.comparison, effect=check.effect, moot_because=" | ".join(moot),
                **over_seeds(seeds, verdicts, effects, numbers),
                rule=check.rule + ("" if seeds else f" (needs {check.source} of {_names(check)})"),
                aggregate_rule=AGGREGATE_RULE)


def _why_not_trained(runs: pd.DataFrame, arm: Arm, net: str) -> str:
    """Why a reference network did not train ("" if it did), naming it where it is not
    a variant of the check's own net and recipe."""
    why = did_not_train(runs, arm.net)
    if why and (arm.net != net or arm.recipe is not None):  # e.g. "VGG: standard diverged at step 12"
        return f"{arm.net.upper()}" + (f" [{arm.recipe}]" if arm.recipe else "") + f": {why}"
    return why


def over_seeds(seeds: list[int], verdicts: list[str], effects: list[float], numbers: list[dict],
               extra: str = "") -> dict:
    """A claims row's across-seed columns from its per-seed verdicts, effects (of the
    counted seeds) and numbers: the aggregate verdict, k of n, the effect's median and
    interval, and the numbers' medians as text (`extra` appended)."""
    verdict, k, n = aggregate(verdicts)
    low, high = effect_interval(effects)
    measured = [e for e in effects if not math.isnan(e)]
    text = "; ".join([*(f"{key} = {fmt(v)}" for key, v in median_numbers(numbers).items()), *([extra] if extra else [])])
    return dict(verdict=verdict, k=k, n=n, holds_in=f"{k} of {n} seeds" if n else "-",
                effect_median=float(np.median(measured)) if measured else math.nan, effect_ci_low=low,
                effect_ci_high=high, effect_per_seed=", ".join(fmt(e) for e in effects),
                seeds=", ".join(map(str, seeds)), seed_verdicts=", ".join(verdicts),
                numbers=("median over seeds: " if len(numbers) > 1 else "") + text)


def _names(check: Check) -> str:
    if not check.arms:
        return ", ".join(check.variants)
    return ", ".join(arm.label for arm in check.arms)


def unmeasured(claim: int, net: str, comparison: str, needs: str) -> dict:
    """The row of a claim this config has no runs for."""
    row = dict.fromkeys(COLUMNS, "")
    row.update(claim=claim, net=net, lr=math.nan, comparison=comparison,
               verdict=NOT_MEASURED, k=0, n=0, holds_in="-", effect_median=math.nan, effect_ci_low=math.nan,
               effect_ci_high=math.nan, rule=f"needs {needs}", aggregate_rule=AGGREGATE_RULE)
    return row
