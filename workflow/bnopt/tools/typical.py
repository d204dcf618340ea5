"""Where the paper's DLN numbers fall among many draws, as Markdown, from a finished run.

    python -m bnopt typical [--tables results/tables] [--config CONFIG...] [--scorecard]

Prints, from the run's own tables (the scorecard, its per-seed values and the claims
table), the summary of the report's "How typical is the paper's DLN?" section: one
row per reading of the paper's open choices with many draws, and one per DLN number
(the paper's value, each reading's median, central 90% and the paper's percentile),
with the commit that made them, for the README and the docs to quote rather than
retype. ``--scorecard`` prints the default recipe's scorecard instead (every number
the paper states beside the run's median and range over seeds).
"""

from __future__ import annotations

import argparse
import subprocess
from pathlib import Path

import pandas as pd

from ..analysis import draws
from ..analysis.draws import fmt_value as _fmt
from ..analysis.tables import read_csv


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--tables", default="results/tables", help="the run's results/tables folder")
    parser.add_argument("--config", nargs="*", default=[], help="the config files the run used (named in the output)")
    parser.add_argument("--scorecard", action="store_true", help="print the default recipe's scorecard instead")


def _commit() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                              check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def markdown(card: pd.DataFrame, values: pd.DataFrame, claims: pd.DataFrame,
             summary: pd.DataFrame | None = None) -> str:
    """The draws' summary and the paper's numbers among them, as Markdown tables;
    `summary` is draws.settings_summary of the same tables, when the caller has it."""
    summary = draws.settings_summary(card, claims, values) if summary is None else summary
    if summary.empty:
        return f"No DLN recipe has {draws.MIN_DRAWS} or more seeds in these tables (run config/dln-draws.yaml)."
    lines = ["| reading | draws | paper's numbers in the central 90% | outside | claim 4 (DLN, lr 1e-6) | "
             f"standard nets as rough as the paper's (max beta >= {draws.ROUGH:.0e}) |", "|---|---|---|---|---|---|"]
    for r in summary.itertuples():
        lines.append(f"| {r.setting} | {r.draws} | {r.inside} of {r.numbers} | {r.outside or '-'} | {r.claim4} | "
                     f"{r.rough} of {r.rough_of} |")
    rows = draws.drawn(card)
    recipes = list(summary["recipe"])
    lines += ["", "| the paper's number | paper | " + " | ".join(draws.recipe_label(r) for r in recipes) + " |",
              "|---|---|" + "---|" * len(recipes)]
    for key, mine in rows.groupby("id", sort=False):
        first = mine.iloc[0]
        cells = []
        for recipe in recipes:
            row = mine[mine["recipe"] == recipe]
            if row.empty:
                cells.append("-")
                continue
            r = next(row.itertuples())
            mark = "" if r.inside else " (outside)"
            cells.append(f"{_fmt(r.this_median)} [{_fmt(r.this_p05)}, {_fmt(r.this_p95)}], {r.paper_percentile:.0f}%"
                         + (f", {int(r.overflowed)} overflowed" if r.overflowed else "") + mark)
        lines.append(f"| {key}: {first['variant']}, {first['quantity']} | {_fmt(first['paper_value'])} | "
                     + " | ".join(cells) + " |")
    best = draws.closest(summary)
    lines += ["", f"Closest to the paper: {draws.recipe_label(best) if best is not None else 'no single reading'} "
                  f"({draws.CLOSEST_RULE})."]
    return "\n".join(lines)


def scorecard_markdown(card: pd.DataFrame) -> str:
    """The default recipe's scorecard: the paper's words and value beside this run's
    median (range, seeds) and where that median lies."""
    lines = ["| number | the paper | this run: median (range, seeds) | |", "|---|---|---|---|"]
    for r in card[card["recipe"] == ""].itertuples():
        this = "-" if pd.isna(r.this_median) else (
            _fmt(r.this_median) + (f" ({_fmt(r.this_min)} - {_fmt(r.this_max)}, {r.seeds})" if r.seeds > 1 else
                                   " (1)"))
        lines.append(f"| {r.id}: {r.net.upper()} {r.variant}, {r.quantity} | {r.paper} | {this} | {r.agreement} |")
    return "\n".join(lines)


def main(args) -> int:
    tables = Path(args.tables)
    card, claims = read_csv(tables / "scorecard.csv"), read_csv(tables / "claims.csv")
    values = pd.read_parquet(tables / "scorecard_values.parquet")
    print(scorecard_markdown(card) if args.scorecard else markdown(card, values, claims))
    configs = " ".join(args.config) or "(the config the run used)"
    what = ("" if args.scorecard else ": median [central 90%] over the draws, then the paper's percentile among "
            "them")
    print(f"\n(Generated by `python -m bnopt typical{' --scorecard' if args.scorecard else ''}` from {tables} of "
          f"`{configs}` at commit {_commit()}{what}.)")
    return 0
