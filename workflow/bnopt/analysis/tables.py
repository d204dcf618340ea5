"""Gather every run's outputs into tidy tables: one row per observation, with the
run's net, variant, lr, seed and recipe (optimizer, init, loss) as columns.
Computation only, no plotting.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from ..training.optim import PAPER_TOKEN
from ..training.recipe import DEFAULT_RECIPE

RUN_COLUMNS = ["net", "variant", "lr", "seed", "optimizer", "init", "objective", "recipe"]


def _tokens(table: pd.DataFrame, column: str, default: str) -> list[str]:
    found = set(table[column].dropna()) if column in table else set()
    return [default, *sorted(found - {default})]


def _of(table: pd.DataFrame, column: str, token: str, default: str) -> pd.DataFrame:
    if column not in table:  # a table from before the column: every row is the default's
        return table if token == default else table.iloc[0:0]
    return table[table[column] == token]


def optimizers(table: pd.DataFrame) -> list[str]:
    """The optimizer tokens in `table`, the paper's SGD first (a table without the
    column holds the paper's only)."""
    return _tokens(table, "optimizer", PAPER_TOKEN)


def of_optimizer(table: pd.DataFrame, token: str) -> pd.DataFrame:
    """The rows of runs trained with the optimizer `token`."""
    return _of(table, "optimizer", token, PAPER_TOKEN)


def recipes(table: pd.DataFrame) -> list[str]:
    """The recipe tokens in `table` (bnopt.training.recipe), the default ("") first."""
    return _tokens(table, "recipe", DEFAULT_RECIPE)


def of_recipe(table: pd.DataFrame, token: str) -> pd.DataFrame:
    """The rows of runs of the recipe `token`: every comparison of variants is made
    between runs of one recipe (one optimizer, initialization and loss)."""
    return _of(table, "recipe", token, DEFAULT_RECIPE)


def read_csv(path: str | Path) -> pd.DataFrame:
    """A CSV table of the workflow's (claims.csv, scorecard.csv), with its recipe column
    as text: the default recipe's token is "", which CSV would give back as missing."""
    table = pd.read_csv(path)
    if "recipe" in table:
        table["recipe"] = table["recipe"].astype(object).where(table["recipe"].notna(), "")
    return table


def concat(paths: list[str | Path]) -> pd.DataFrame:
    """Concatenate parquet files; empty ones (a diverged run's later segments) keep
    their columns and add no rows."""
    frames = [pd.read_parquet(p) for p in paths]
    non_empty = [f for f in frames if len(f)]
    if non_empty:
        table = pd.concat(non_empty, ignore_index=True)
    elif frames:
        table = frames[0].iloc[0:0]
    else:
        return pd.DataFrame(columns=RUN_COLUMNS)
    keys = [c for c in [*RUN_COLUMNS, "step", "layer", "unit", "eta", "b", "a", "alpha"] if c in table]
    return table.sort_values(keys, kind="stable").reset_index(drop=True)


def runs_table(manifests: list[str | Path]) -> pd.DataFrame:
    """One row per run: its parameters, whether and when it diverged, its cost and
    final numbers."""
    rows = []
    for path in manifests:
        m = json.loads(Path(path).read_text())
        final = m.get("final", {})
        rows.append(dict(**m["run"], steps=m["spec"]["steps"], steps_completed=m["steps_completed"],
                         diverged=bool(m["diverged"]), diverged_step=m["diverged_step"],
                         wall_time_s=m["wall_time_s"], device=m["device"],
                         final_train_loss=_number(final.get("train_loss")),
                         final_test_loss=_number(final.get("test_loss")),
                         final_test_accuracy=_number(final.get("test_accuracy"))))
    table = pd.DataFrame(rows, columns=[*RUN_COLUMNS, "steps", "steps_completed", "diverged", "diverged_step",
                                        "wall_time_s", "device", "final_train_loss", "final_test_loss",
                                        "final_test_accuracy"])
    table["diverged_step"] = table["diverged_step"].astype("Int64")
    return table.sort_values(RUN_COLUMNS).reset_index(drop=True)


def _number(value) -> float:
    """Manifest numbers; non-finite ones were written as strings ("inf", "nan")."""
    return float("nan") if value is None else float(value)
