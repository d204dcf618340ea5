"""Gather every run's outputs into tidy tables: one row per observation, with the
run's net, variant, lr, seed and recipe (optimizer, init, loss) as columns.
Computation only, no plotting.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from ..defaults import DEFAULT_RECIPE, NO_SKIP, PAPER_TOKEN

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


def plain_recipe(recipe: str) -> str:
    """The token of `recipe`'s runs without the ResNet's skips ("noskip" first,
    bnopt.training.recipe): "" -> "noskip", "adam" -> "noskip+adam"."""
    return "+".join([NO_SKIP, recipe] if recipe else [NO_SKIP])


def of_recipes(table: pd.DataFrame, tokens: set[str]) -> pd.DataFrame:
    """The rows of runs of any of the recipes `tokens` (a missing recipe, as a CSV reads
    the default's empty token, is the default's)."""
    if "recipe" not in table:
        return table if DEFAULT_RECIPE in tokens else table.iloc[0:0]
    return table[table["recipe"].astype(object).where(table["recipe"].notna(), DEFAULT_RECIPE).astype(str)
                 .isin(tokens)]


def read_table(path: str | Path) -> pd.DataFrame:
    """A parquet table with its text columns (net, variant, recipe, ...) as categoricals
    whose categories are in the strings' own order, so sorting and grouping keep the
    strings' order: the activations table has millions of rows (each probed run records
    1,024 samples of 4 units per layer and probe step), and selecting from it by these
    columns costs a figure ~20 s as strings and well under 1 s as codes."""
    import pyarrow.parquet as pq

    text = [field.name for field in pq.read_schema(path) if str(field.type) in ("string", "large_string")]
    table = pd.read_parquet(path, read_dictionary=text)  # dictionary-encoded text arrives as categoricals
    for column in text:
        table[column] = table[column].cat.reorder_categories(sorted(table[column].cat.categories))
    return table


def read_csv(path: str | Path) -> pd.DataFrame:
    """A CSV table of the workflow's (claims.csv, scorecard.csv), with its recipe column
    as text: the default recipe's token is "", which CSV would give back as missing."""
    table = pd.read_csv(path)
    if "recipe" in table:
        table["recipe"] = table["recipe"].astype(object).where(table["recipe"].notna(), "")
    return table


SORT_KEYS = [*RUN_COLUMNS, "step", "layer", "unit", "eta", "b", "a", "alpha"]


def concat(paths: list[str | Path]) -> pd.DataFrame:
    """Concatenate parquet files, sorted by run, then step, layer, unit, ... (stable);
    empty ones (a diverged run's later segments) keep their columns and add no rows.

    Each file holds one run's rows (a run's training metrics, or one probe segment's
    table): the files are grouped by run, the runs put in order, and only each run's own
    rows sorted, as Arrow tables, then handed to pandas once. That is the order a stable
    sort of the whole table gives (the tests check it against pandas' own), without
    sorting the activations table's ~17 million rows of the quick config by its text
    columns (~13 s in pandas). A file that mixes runs falls back to sorting the whole."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    if not paths:
        return pd.DataFrame(columns=RUN_COLUMNS)
    files = [pq.ParquetFile(p) for p in paths]
    parts = [f.read() for f in files]
    non_empty = [(f, t) for f, t in zip(files, parts) if t.num_rows]
    if not non_empty:
        return parts[0].slice(0, 0).to_pandas()
    names = non_empty[0][1].column_names
    run_keys = [c for c in RUN_COLUMNS if c in names]
    rest = [(c, "ascending") for c in SORT_KEYS if c in names and c not in run_keys]
    by_run: dict[tuple, list] = {}
    for file, part in non_empty:
        if not all(_constant(file, part, c) for c in run_keys):
            by_run = {}  # a file of several runs: sort the whole table
            break
        by_run.setdefault(tuple(part.column(c)[0].as_py() for c in run_keys), []).append(part)
    if by_run:
        pieces = []
        for key in sorted(by_run):
            table = pa.concat_tables(by_run[key], promote_options="permissive")
            pieces.append(_sorted(table, rest) if rest else table)
        table = pa.concat_tables(pieces, promote_options="permissive")
    else:
        table = pa.concat_tables([t for _, t in non_empty], promote_options="permissive")
        table = _sorted(table, [(c, "ascending") for c in SORT_KEYS if c in names])
    return table.to_pandas()


def _constant(file, table, column: str) -> bool:
    """Whether a column holds one value throughout: from the file's statistics where it
    has them (no pass over the data), else by counting."""
    import pyarrow.compute as pc

    index = table.column_names.index(column)
    stats = [file.metadata.row_group(g).column(index).statistics for g in range(file.metadata.num_row_groups)]
    if all(s is not None and s.has_min_max and s.null_count == 0 for s in stats):
        return len({s.min for s in stats} | {s.max for s in stats}) == 1
    return pc.count_distinct(table.column(column), mode="all").as_py() == 1  # a null counts as a value


def _sorted(table, keys):
    """`table` stably sorted by `keys`; no copy when it is in order already (a run's
    own rows usually are)."""
    import numpy as np
    import pyarrow.compute as pc

    order = pc.sort_indices(table, sort_keys=keys).to_numpy()
    return table if np.array_equal(order, np.arange(len(order))) else table.take(order)


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
