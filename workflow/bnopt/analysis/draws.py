"""How typical is the paper's DLN? Where its numbers fall among many draws of each
reading of the choices it leaves open (initialization, loss: bnopt.training.recipe).

The paper shows one draw of each DLN run. With many seeds of a recipe (the scorecard
needs MIN_DRAWS), each DLN scorecard number becomes a distribution: this module
summarizes, per recipe, the paper's percentile and whether its value lies in the
draws' central 90%, claim 4's verdict over the draws, and how many draws are as rough
as the paper's standard net; and draws it all in one figure. Reporting only: it reads
the scorecard, its per-seed values and the claims table.
"""

from __future__ import annotations

import html
import math

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.ticker import NullFormatter  # noqa: E402

from ..nets.models import DEFAULT_INIT  # noqa: E402
from ..training.problems import DEFAULT_LOSS  # noqa: E402
from .measures import fmt as _claims_fmt  # noqa: E402
from .scorecard import MIN_DRAWS  # noqa: E402


def fmt_value(value) -> str:
    """A draw's value: an overflow (inf) reads "overflow", not the claims' "never"."""
    if isinstance(value, (float, np.floating)) and np.isposinf(value):
        return "overflow"
    return _claims_fmt(value)


# A draw whose standard net is as rough as the paper's: its effective beta reaches this
# at some probe step (the paper's peaks at 1.2e15; 1e13 leaves room for where a probe
# step falls on the peak).
ROUGH = 1e13
ROUGH_ID = "10-std-beta-early"
PAPER_LR = 1e-6
INIT_WORDS = {"glorot_uniform": "Glorot uniform", "glorot_normal": "Glorot normal",
              "glorot_truncated_normal": "TF1 truncated normal", "he_normal": "He normal"}
LOSS_WORDS = {"sum": "sum", "half_sum": "1/2 sum"}


def recipe_parts(recipe: str) -> tuple[str, str]:
    """(init, loss) of a DLN recipe token with the paper's optimizer."""
    parts = recipe.split("+") if recipe else []
    init = next((p for p in parts if p in INIT_WORDS), DEFAULT_INIT)
    loss = next((p for p in parts if p in LOSS_WORDS), DEFAULT_LOSS["dln"])
    return init, loss


def recipe_label(recipe: str) -> str:
    """"Glorot uniform, 1/2 sum" for the recipe's reading of the paper."""
    init, loss = recipe_parts(recipe)
    return f"{INIT_WORDS[init]}, {LOSS_WORDS[loss]}"


def drawn(card: pd.DataFrame) -> pd.DataFrame:
    """The scorecard's DLN rows of recipes with MIN_DRAWS seeds or more, where the
    paper states a value, with ``inside``: the paper's value lies in the central 90%."""
    rows = card[(card["net"] == "dln") & (card["seeds"] >= MIN_DRAWS) & card["paper_value"].notna()].copy()
    rows["inside"] = (rows["this_p05"] <= rows["paper_value"]) & (rows["paper_value"] <= rows["this_p95"])
    return rows


def _order(recipes) -> list[str]:
    return sorted(set(recipes), key=lambda r: (list(INIT_WORDS).index(recipe_parts(r)[0]),
                                               list(LOSS_WORDS).index(recipe_parts(r)[1])))


def settings_summary(card: pd.DataFrame, claims: pd.DataFrame, values: pd.DataFrame) -> pd.DataFrame:
    """One row per recipe with many draws: how many of the paper's DLN numbers lie in
    its draws' central 90%, claim 4's verdict for the DLN at the paper's lr (k of n
    draws), and the draws whose standard net is as rough as the paper's (max effective
    beta >= ROUGH; an overflow counts)."""
    rows = drawn(card)
    # The numbers every reading measures (l1 and l2 are drawn under one only): the
    # readings are compared on these.
    shared = set.intersection(*(set(g["id"]) for _, g in rows.groupby("recipe"))) if len(rows) else set()
    out = []
    for recipe in _order(rows["recipe"]):
        mine = rows[rows["recipe"] == recipe]
        common = mine[mine["id"].isin(shared)]
        claim = claims[(claims["claim"] == 4) & (claims["net"] == "dln") & (claims["recipe"].fillna("") == recipe)
                       & np.isclose(claims["lr"].astype(float), PAPER_LR)] if len(claims) else claims
        peaks = values[(values["recipe"] == recipe) & (values["id"] == ROUGH_ID)]["value"]
        out.append(dict(recipe=recipe, setting=recipe_label(recipe), draws=int(mine["seeds"].max()),
                        numbers=len(mine), inside=int(mine["inside"].sum()),
                        outside=", ".join(mine.loc[~mine["inside"], "id"]),
                        claim4=(f"{claim['verdict'].iloc[0]} ({claim['k'].iloc[0]}/{claim['n'].iloc[0]})"
                                if len(claim) else "not measured"),
                        rough=int((peaks >= ROUGH).sum()), rough_of=len(peaks),
                        shared_inside=int(common["inside"].sum()),
                        off_centre=float((common["paper_percentile"] - 50).abs().median())))
    return pd.DataFrame(out, columns=["recipe", "setting", "draws", "numbers", "inside", "outside", "claim4", "rough",
                                      "rough_of", "shared_inside", "off_centre"])


CLOSEST_RULE = ("the most of the numbers every reading measures inside its draws' central 90%, then the "
                "paper's numbers nearest the middle of its draws")


def closest(summary: pd.DataFrame) -> str | None:
    """The recipe closest to the paper, on the numbers every reading measures: the most
    of them in its draws' central 90%; between readings tied on that, the paper's
    numbers nearest the middle of the draws (the smallest median |percentile - 50|).
    None when there are no many-draw recipes, or when that too is tied."""
    if summary.empty:
        return None
    leaders = summary[summary["shared_inside"] == summary["shared_inside"].max()]
    leaders = leaders[np.isclose(leaders["off_centre"], leaders["off_centre"].min())]
    return leaders["recipe"].iloc[0] if len(leaders) == 1 else None


def _cell(row) -> str:
    return (f"{fmt_value(row.this_median)} [{fmt_value(row.this_p05)}, {fmt_value(row.this_p95)}]; paper at "
            f"{row.paper_percentile:.0f}%" + (f" ({int(row.overflowed)} overflowed)" if row.overflowed else ""))


def table_html(card: pd.DataFrame) -> str:
    """The paper's DLN numbers (rows) against each many-draw recipe (columns): the
    draws' median [central 90%] and the paper's percentile; green where the paper's
    value lies in the central 90%."""
    rows = drawn(card)
    if rows.empty:
        return ""
    recipes = _order(rows["recipe"])
    head = "".join(f"<th>{html.escape(recipe_label(r))} ({int(rows[rows['recipe'] == r]['seeds'].max())} draws)</th>"
                   for r in recipes)
    body = []
    for key, mine in rows.groupby("id", sort=False):
        first = mine.iloc[0]
        cells = []
        for recipe in recipes:
            row = mine[mine["recipe"] == recipe]
            if row.empty:
                cells.append("<td>–</td>")
                continue
            r = next(row.itertuples())
            colour = "#b7e1c1" if r.inside else "#f4b9bf"
            cells.append(f'<td style="background:{colour}">{html.escape(_cell(r))}</td>')
        label = f"{first['source']} {first['variant']}: {first['quantity']}"
        body.append(f"<tr><th>{html.escape(label)}</th><td>{fmt_value(first['paper_value'])}</td>{''.join(cells)}</tr>")
    return (f'<table id="typical-dln"><thead><tr><th>the paper\'s number</th><th>paper</th>{head}</tr></thead>'
            f"<tbody>{''.join(body)}</tbody></table>")


def figure(card: pd.DataFrame, values: pd.DataFrame) -> plt.Figure:
    """One panel per DLN number: each recipe's draws (dots), their central 90% (a bar)
    and median (a tick), and the paper's value (red line) with its percentile. Log axes
    where the values are positive; an overflow is drawn at the axis' right edge (a
    triangle) and counted."""
    rows = drawn(card)
    recipes = _order(rows["recipe"])
    ids = list(dict.fromkeys(rows["id"]))
    columns = 3
    grid_rows = math.ceil(len(ids) / columns)
    fig, axes = plt.subplots(grid_rows, columns, figsize=(4.6 * columns, grid_rows * (0.55 * len(recipes) + 1.4)),
                             squeeze=False)
    rng = np.random.default_rng(0)  # the dots' vertical jitter only
    for ax, key in zip(axes.flat, ids):
        mine = rows[rows["id"] == key]
        draws = values[values["id"] == key]
        finite = draws["value"][np.isfinite(draws["value"])]
        paper = float(mine["paper_value"].iloc[0])
        log = bool(len(finite)) and finite.min() > 0 and paper > 0
        span = [*finite, paper]
        low, high = min(span), max(span)
        if log:
            low, high = low / 3, high * 3
            ax.set_xscale("log")
            ax.xaxis.set_minor_formatter(NullFormatter())  # a narrow span would label its minor ticks too
        else:
            pad = 0.05 * (high - low or 1.0)
            low, high = low - pad, high + pad
        for y, recipe in enumerate(recipes):
            seen = draws[draws["recipe"] == recipe]["value"].to_numpy(dtype=float)
            row = mine[mine["recipe"] == recipe]
            if row.empty:
                continue
            r = next(row.itertuples())
            over = np.isinf(seen)
            ax.scatter(seen[~over], y + rng.uniform(-0.22, 0.22, (~over).sum()), s=9, color="#4c72b0", alpha=0.55,
                       lw=0)
            if over.any():  # at the axis' edge, inside it
                ax.scatter([high], [y], marker=">", s=40, color="#4c72b0", clip_on=False, zorder=3)
                ax.annotate(f"{int(over.sum())} overflowed", (high, y + 0.38), ha="right", fontsize=6.5)
            p05, p95 = (min(max(v, low), high) for v in (r.this_p05, r.this_p95))
            ax.plot([p05, p95], [y, y], color="black", lw=3, alpha=0.35, solid_capstyle="butt")
            ax.plot([min(r.this_median, high)] * 2, [y - 0.3, y + 0.3], color="black", lw=1.2)
            ax.annotate(f"{r.paper_percentile:.0f}%", (1.04, y), xycoords=("axes fraction", "data"), va="center",
                        fontsize=7.5, color="#c44e52" if not r.inside else "#2d7d3a")
        ax.axvline(paper, color="#c44e52", lw=1.4, ls="--")
        ax.set_xlim(low, high)
        ax.set_yticks(range(len(recipes)))
        ax.set_yticklabels([recipe_label(r) for r in recipes] if ax in axes[:, 0] else [], fontsize=7.5)
        ax.set_ylim(len(recipes) - 0.5, -0.5)
        title = f"{mine['source'].iloc[0]}, {mine['variant'].iloc[0]}: {mine['quantity'].iloc[0]}"
        ax.set_title(title if len(title) < 70 else title[:67] + "...", fontsize=7.5)
        ax.tick_params(axis="x", labelsize=7)
    for ax in axes.flat[len(ids):]:
        ax.axis("off")
    fig.suptitle("Where the paper's DLN numbers (red) fall among the draws of each reading of its choices "
                 "(bar: central 90%; tick: median; right: the paper's percentile, green inside the 90%)",
                 fontsize=9)
    fig.tight_layout()
    return fig
