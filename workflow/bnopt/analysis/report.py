"""The report notebook's helpers (workflow/notebooks/report.ipynb), apart from the
figures (bnopt.analysis.figures): the tables it reads, the claims matrix and the
scorecard as HTML tables, and an overview of many runs.
"""

from __future__ import annotations

import html
from pathlib import Path

import pandas as pd

from . import claims, draws, verdicts
from .measures import fmt
from .tables import read_table

TABLES = ("runs", "training", "evals", "landscape", "landscape_steps", "ics", "activations", "moments",
          "curvature", "surface", "interpolation", "scorecard_values")


def load_tables(folder: str | Path) -> dict[str, pd.DataFrame]:
    """Every table the report draws from, text columns as categoricals (read_table)."""
    return {name: read_table(Path(folder) / f"{name}.parquet") for name in TABLES}


# --------------------------------------------------------------------------- claims matrix, scorecard

VERDICT_COLOURS = {verdicts.HOLDS: "#b7e1c1", verdicts.HOLDS_MOST: "#dcefc6", verdicts.MIXED: "#fbe7a1",
                   verdicts.FAILS: "#f4b9bf", verdicts.MOOT: "#d6d8db", verdicts.NOT_MEASURED: "#eeeeee"}


def _setting(net: str, lr) -> str:
    return f"{net.upper()}" + ("" if pd.isna(lr) else f", lr {lr:g}")


def claims_matrix(table: pd.DataFrame) -> pd.DataFrame:
    """Claims x settings (net, lr): each cell a list of (comparison, verdict, k/n)."""
    table = table.assign(setting=[_setting(n, lr) for n, lr in zip(table["net"], table["lr"])])
    order = (table.assign(net_order=table["net"].map({"vgg": 0, "resnet": 1, "dln": 2}), lr_order=table["lr"].fillna(-1))
             .sort_values(["net_order", "lr_order"])["setting"].drop_duplicates().tolist())
    cells: dict[tuple[int, str], list] = {}
    for r in table.itertuples():
        kn = f"{r.k}/{r.n}" if r.n else "–"
        if r.verdict == verdicts.MOOT:
            per_seed = str(r.seed_verdicts).split(", ")
            kn = f"{per_seed.count(verdicts.MOOT)} of {len(per_seed)} seeds moot"
        cells.setdefault((r.claim, r.setting), []).append((r.comparison, r.verdict, kn))
    matrix = pd.DataFrame(index=sorted(set(table["claim"])), columns=order, dtype=object)
    for (claim, where), entries in cells.items():
        matrix.at[claim, where] = entries
    return matrix


def claims_matrix_html(table: pd.DataFrame) -> str:
    """The matrix as an HTML table (id "claims-matrix"): one line per comparison in a
    cell, coloured by its aggregate verdict and showing k/n seeds."""
    matrix = claims_matrix(table)
    head = "".join(f"<th>{html.escape(c)}</th>" for c in matrix.columns)
    rows = []
    for claim, row in matrix.iterrows():
        cells = []
        for entries in row:
            if not isinstance(entries, list):
                cells.append('<td class="empty"></td>')
                continue
            lines = "".join(
                f'<div class="verdict" style="background:{VERDICT_COLOURS.get(verdict, "#fff")}" '
                f'title="{html.escape(comparison)}">{html.escape(_short(comparison))}: <b>{html.escape(verdict)}</b>'
                f' ({kn})</div>' for comparison, verdict, kn in entries)
            cells.append(f"<td>{lines}</td>")
        statement = html.escape(claims.CLAIMS.get(int(claim), ""))
        rows.append(f'<tr><th title="{statement}">Claim {claim}</th>{"".join(cells)}</tr>')
    legend = " ".join(f'<span style="background:{c};padding:0 0.4em">{html.escape(v)}</span>'
                      for v, c in VERDICT_COLOURS.items())
    style = ("<style>#claims-matrix td, #claims-matrix th, #scorecard td, #scorecard th {text-align: left; "
             "vertical-align: top} #claims-matrix .verdict {margin: 1px 0; padding: 1px 4px}</style>")
    return (style + f'<table id="claims-matrix" class="claims-matrix"><thead><tr><th></th>{head}</tr></thead>'
            f'<tbody>{"".join(rows)}</tbody></table><p>{legend}; (k/n): holds in k of n seeds.</p>')


def _short(comparison: str) -> str:
    """"batchnorm vs standard" -> "bn vs std", to keep the matrix narrow."""
    for long, short in (("noisy_batchnorm", "noisy bn"), ("batchnorm", "bn"), ("standard", "std")):
        comparison = comparison.replace(long, short)
    return comparison


def scorecard_html(card: pd.DataFrame) -> str:
    """The scorecard as an HTML table (id "scorecard"), the agreement cell coloured; a
    run of another recipe than the default names it; with many seeds, their central 90%
    and the paper's percentile among them."""
    colours = {"within the paper's range": VERDICT_COLOURS[verdicts.HOLDS], "below the paper's": "#fbe7a1",
               "above the paper's": "#fbe7a1", "not measured by this config": VERDICT_COLOURS[verdicts.NOT_MEASURED]}
    rows = []
    for r in card.itertuples():
        this = ("–" if pd.isna(r.this_median) else
                fmt(r.this_median) + ("" if r.seeds < 2 else f" ({fmt(r.this_min)} – {fmt(r.this_max)}, "
                                                              f"{r.seeds} seeds)"))
        if not pd.isna(r.paper_percentile):
            this += (f"; central 90% {draws.fmt_value(r.this_p05)} – {draws.fmt_value(r.this_p95)}; the paper at its "
                     f"{r.paper_percentile:.0f}th percentile")
        run = f"{r.net.upper()} {r.variant}, lr {r.lr:g}" + (f" [{r.recipe}]" if isinstance(r.recipe, str) and r.recipe else "")
        cells = [r.source, run, r.quantity, r.paper, f"{fmt(r.paper_low)} – {fmt(r.paper_high)}", this]
        tds = "".join(f"<td>{html.escape(str(c))}</td>" for c in cells)
        tds += f'<td style="background:{colours.get(r.agreement, "#fff")}">{html.escape(r.agreement)}</td>'
        same = r.setting == "paper's setting"
        tds += f'<td style="color:{"#155724" if same else "#6c757d"}">{html.escape(r.setting)}</td>'
        rows.append(f"<tr>{tds}</tr>")
    head = "".join(f"<th>{h}</th>" for h in ("source", "run", "quantity", "the paper", "read as",
                                             "this config: median (range over seeds)", "", "setting"))
    return f'<table id="scorecard"><thead><tr>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table>'


def runs_overview(runs: pd.DataFrame) -> pd.DataFrame:
    """One row per net, variant, recipe and lr: how many seeds, how many diverged, and
    the medians over seeds of the wall time and final numbers (for configs of many seeds)."""
    keys = ["net", "variant", "recipe", "lr"]
    grouped = runs.groupby(keys, sort=False)
    return pd.DataFrame(dict(seeds=grouped["seed"].nunique(), diverged=grouped["diverged"].sum(),
                             wall_time_s=grouped["wall_time_s"].median(),
                             final_train_loss=grouped["final_train_loss"].median(),
                             final_test_accuracy=grouped["final_test_accuracy"].median())).reset_index()
