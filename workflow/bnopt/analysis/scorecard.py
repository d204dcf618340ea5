"""The paper's stated numbers beside this config's: the scorecard.

The numbers are data (workflow/resources/paper_numbers.csv): each names where the
paper states it (section or figure), the run it is about (net, variant, lr), what it
measures (a key of MEASURES, computed here for every seed of that run), the paper's
words and the range they are read as. Numbers read off a plot are "approximately X":
the range is a factor of 2 around X for quantities the paper plots on a log axis, and
about +-0.05 for accuracies; numbers stated in the text, +-0.02.

A row also says whether this config's setting is the paper's (dataset, network,
schedule). Where it is not (the quick config's digits and narrow VGG-11), compare the
direction of a difference, not the value. Each recipe trained with the paper's plain
SGD (initialization, loss: bnopt.training.recipe) gets its own rows.

The paper shows one draw of each run. Where a config has MIN_DRAWS or more seeds of
a run, a row also says where the paper's value sits among them: its percentile
(the share of seeds below it, ties counted half) and the seeds' central 90%. A value
past float32's range (a probe that overflowed, recorded as inf) counts as above any
threshold, never as missing.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd

from scipy import stats

from ..defaults import DEFAULT_RECIPE, PAPER_TOKEN
from .measures import final_value, runs_at
from .tables import of_recipe, recipes

PAPER_NUMBERS = Path(__file__).resolve().parents[2] / "resources" / "paper_numbers.csv"
# The paper's settings, per net: what a config must match for its values to compare.
PAPER_SETTING = {
    "vgg": {"dataset": "cifar10", "model.arch": "vgg16", "model.width": 1.0, "steps": 15000, "batch_size": 128},
    "dln": {"model.depth": 25, "model.width": 10, "model.normalized_layers": 24, "data.n_train": 1000,
            "steps": 10000, "batch_size": 1000},
}
COLUMNS = ["id", "source", "net", "variant", "lr", "recipe", "quantity", "paper", "paper_value", "paper_low",
           "paper_high", "this_median", "this_min", "this_max", "this_p05", "this_p95", "seeds", "overflowed",
           "paper_percentile", "agreement", "setting"]
# Seeds a run needs before the scorecard places the paper's value among them.
MIN_DRAWS = 10


def _last_test_accuracy(t: dict) -> float:
    evals = t["evals"].sort_values("step")
    return float(evals["test_accuracy"].iloc[-1]) if len(evals) else math.nan


def _late(steps: pd.DataFrame, column: str) -> float:
    if steps.empty:
        return math.nan
    half = steps["step"].max() / 2
    return _measured(steps.loc[steps["step"] >= half, column], "median")


def _at_largest_eta(landscape: pd.DataFrame) -> float:
    if landscape.empty:
        return math.nan
    return float(landscape.loc[np.isclose(landscape["eta"], landscape["eta"].max()), "grad_change"].max())


def _deep_cosine(ics: pd.DataFrame) -> float:
    if ics.empty:
        return math.nan
    return float(ics.loc[ics["layer"] >= max(2, ics["layer"].max() / 2), "cosine"].median())


def _measured(series: pd.Series, how: str) -> float:
    """`how` (median, max) of a probe column over the steps that measured it: NaN (not
    measured) is left out, inf (past float32's range: an overflow) counts as larger
    than any value."""
    values = series.astype(float).dropna()
    return float(getattr(values, how)()) if len(values) else math.nan


# Each measure: one run's (one seed's) tables -> a number.
MEASURES: dict[str, Callable[[dict], float]] = {
    "final_test_accuracy": _last_test_accuracy,
    "final_train_accuracy": lambda t: final_value(t["training"], "accuracy") if len(t["training"]) else math.nan,
    "final_train_loss": lambda t: final_value(t["training"], "loss") if len(t["training"]) else math.nan,
    "initial_train_loss": lambda t: (float(t["training"].sort_values("step")["loss"].iloc[0])
                                     if len(t["training"]) else math.nan),
    "grad_predictiveness": lambda t: _measured(t["landscape_steps"]["grad_change_max"], "median"),
    "grad_change_at_largest_eta_max": lambda t: _at_largest_eta(t["landscape"]),
    "effective_beta": lambda t: _measured(t["landscape_steps"]["effective_beta"], "median"),
    "effective_beta_max": lambda t: _measured(t["landscape_steps"]["effective_beta"], "max"),
    "effective_beta_late": lambda t: _late(t["landscape_steps"], "effective_beta"),
    "loss_along_gradient_max": lambda t: _measured(t["landscape_steps"]["loss_max"], "max"),
    "ics_cosine_deep": lambda t: _deep_cosine(t["ics"]),
}
TABLES = ("training", "evals", "landscape", "landscape_steps", "ics")


def load_paper_numbers(path: str | Path = PAPER_NUMBERS) -> pd.DataFrame:
    numbers = pd.read_csv(path)
    unknown = sorted(set(numbers["measure"]) - set(MEASURES))
    if unknown:
        raise ValueError(f"{path}: unknown measure(s) {', '.join(unknown)}; known: {', '.join(MEASURES)}")
    return numbers


def _lookup(section: dict, dotted: str):
    value = section
    for key in dotted.split("."):
        value = value.get(key) if isinstance(value, dict) else None
    return value


def setting_inputs(config: dict) -> dict:
    """The part of `config` that setting() reads (PAPER_SETTING's keys of each net), as
    a nested dict: the scorecard rule's param, so that changing anything else (runs,
    surfaces, probes) does not rerun it."""
    nets = {}
    for net, section in config.get("nets", {}).items():
        view: dict = {}
        for dotted in PAPER_SETTING.get(net, {}):
            *parents, last = dotted.split(".")
            where = view
            for key in parents:
                where = where.setdefault(key, {})
            where[last] = _lookup(section, dotted)
        nets[net] = view
    return {"nets": nets}


def setting(config: dict, net: str) -> str:
    """"paper's setting" or "setting differs (...): compare the direction, not the value"."""
    section = config.get("nets", {}).get(net)
    if section is None:
        return "not in this config"
    differs = [f"{key} {_lookup(section, key)} (paper: {want})" for key, want in PAPER_SETTING[net].items()
               if _lookup(section, key) != want]
    if not differs:
        return "paper's setting"
    return f"setting differs ({'; '.join(differs)}): compare the direction, not the value"


def _agreement(value: float, low: float, high: float) -> str:
    if math.isnan(value):
        return "not measured by this config"
    if value < low:
        return "below the paper's"
    if value > high:
        return "above the paper's"
    return "within the paper's range"


def paper_percentile(values: list[float], paper: float) -> float:
    """Where the paper's value sits among this config's seeds: the percentage of seeds
    below it, ties counted half (inf, an overflow, is above any finite value)."""
    return float(stats.percentileofscore(np.asarray(values, dtype=float), paper, kind="mean"))


def central_interval(values: list[float], coverage: float = 0.9) -> tuple[float, float]:
    """The seeds' central `coverage` (the 5th and 95th percentiles by default; an
    overflow, inf, is the largest value)."""
    tail = (1 - coverage) / 2 * 100
    values = np.asarray(values, dtype=float)
    largest = values[np.isfinite(values)].max(initial=-math.inf)
    # An overflow stands in as the largest float; a percentile that reaches above every
    # finite value touched it, and is inf.
    low, high = np.percentile(np.minimum(values, np.finfo(float).max), [tail, 100 - tail], method="linear")
    return tuple(math.inf if v > largest else float(v) for v in (low, high))


def run_values(tables: dict[str, pd.DataFrame], net: str, variant: str, lr: float, measure: str) -> dict[int, float]:
    """The measure `measure` for every seed of the run (net, variant, lr) in `tables`
    (one recipe's): {seed: value}, NaN where the seed lacks what it reads."""
    run_tables = {name: runs_at(tables[name], net, variant, lr) if len(tables[name]) else tables[name]
                  for name in TABLES}
    seeds = sorted(set(run_tables["training"]["seed"].astype(int))) if len(run_tables["training"]) else []
    return {s: MEASURES[measure]({name: t[t["seed"] == s] for name, t in run_tables.items()}) for s in seeds}


def _row(n, recipe: str, values: list[float], config: dict) -> dict:
    measured = [v for v in values if not math.isnan(v)]
    median = float(np.median(measured)) if measured else math.nan
    draws = len(measured) >= MIN_DRAWS and not math.isnan(n.paper_value)
    low, high = central_interval(measured) if len(measured) >= MIN_DRAWS else (math.nan, math.nan)
    return dict(id=n.id, source=n.source, net=n.net, variant=n.variant, lr=n.lr, recipe=recipe, quantity=n.quantity,
                paper=n.paper, paper_value=n.paper_value, paper_low=n.paper_low, paper_high=n.paper_high,
                this_median=median, this_min=min(measured) if measured else math.nan,
                this_max=max(measured) if measured else math.nan, this_p05=low, this_p95=high, seeds=len(measured),
                overflowed=sum(1 for v in measured if math.isinf(v)),
                paper_percentile=paper_percentile(measured, n.paper_value) if draws else math.nan,
                agreement=_agreement(median, n.paper_low, n.paper_high), setting=setting(config, n.net))


VALUE_COLUMNS = ["recipe", "id", "net", "variant", "lr", "seed", "value"]


def scorecard_and_values(tables: dict[str, pd.DataFrame], config: dict,
                         numbers: pd.DataFrame | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The scorecard: one row per paper number and recipe trained with the paper's plain
    SGD, this config's median, range and (with MIN_DRAWS seeds or more) central 90%
    over seeds beside it, and the paper's percentile among them. The default recipe has
    a row for every number; another recipe, for the numbers its runs measure. And
    every seed's value behind it (recipe, id, ..., seed, value; inf = an overflow), for
    the figure that shows where the paper's value falls among them."""
    numbers = load_paper_numbers() if numbers is None else numbers
    rows, values = [], []
    for recipe in recipes(tables["training"]):
        mine = {name: of_recipe(table, recipe) for name, table in tables.items()}
        if len(mine["training"]) and mine["training"]["optimizer"].iloc[0] != PAPER_TOKEN:
            continue  # the paper trained with plain SGD: another optimizer's numbers do not compare
        for n in numbers.itertuples():
            per_seed = run_values(mine, n.net, n.variant, n.lr, n.measure)
            if recipe == DEFAULT_RECIPE or any(not math.isnan(v) for v in per_seed.values()):
                rows.append(_row(n, recipe, list(per_seed.values()), config))
            values += [(recipe, n.id, n.net, n.variant, n.lr, seed, value) for seed, value in per_seed.items()
                       if not math.isnan(value)]
    return pd.DataFrame(rows, columns=COLUMNS), pd.DataFrame(values, columns=VALUE_COLUMNS)


def scorecard(tables: dict[str, pd.DataFrame], config: dict, numbers: pd.DataFrame | None = None) -> pd.DataFrame:
    """The scorecard alone (:func:`scorecard_and_values`)."""
    return scorecard_and_values(tables, config, numbers)[0]
