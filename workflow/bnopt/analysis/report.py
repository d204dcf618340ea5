"""The report's catalogue of figures: which of the paper's figures to draw from the
tidy tables, with which runs, and the caption of each (what the paper claims, what
this run shows, in numbers).

A config that lacks what a figure needs (no DLN, one learning rate, no noisy BN)
gets a :class:`Skipped` entry with the reason in place of that figure; a diverged
run is drawn (its curve ends in an x, its probes stop) and named in the caption.
"""

from __future__ import annotations

import html
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd

from ..measure import surface as surfaces
from ..runs import group_init, group_loss, own_recipe
from ..training.optim import PAPER_TOKEN
from . import claims, draws, figures, measures, sensitivity, verdicts
from .tables import of_optimizer, of_recipe, optimizers

TABLES = ("runs", "training", "evals", "landscape", "landscape_steps", "ics", "activations", "moments",
          "curvature", "surface", "interpolation", "scorecard_values")
# The paper's activation layers (VGG-16: #2, #3, #9, #11, #13; DLN: #1, #11, #24). A
# config names its own layers; the paper's figures pick from that list by position.
PAPER_ACTIVATION_LAYERS = {"vgg": (2, 3, 9, 11, 13), "dln": (1, 11, 24)}
# Fig. 3's layers, as a fraction of the depth (VGG-16 #5, #10 of 16; DLN #9, #17 of 25).
PAPER_ICS_DEPTHS = {"vgg": (5 / 16, 10 / 16), "dln": (9 / 25, 17 / 25)}
# The learning rates each figure of the paper shows, in order of preference.
PAPER_LRS = {"vgg": (0.1, 0.5, 0.01), "dln": (1e-6, 1e-7)}
LP_VARIANTS = ["l1", "l2", "linf"]
# Every normalization but batchnorm's family: the paper's l_p ones and, beyond it, today's (claim 7).
OTHER_NORMS = [*LP_VARIANTS, *claims.MODERN_NORMS]


@dataclass(frozen=True)
class Rendered:
    stem: str
    title: str
    caption: str
    paths: list[Path] = field(default_factory=list)


@dataclass(frozen=True)
class Skipped:
    stem: str
    title: str
    reason: str


def load_tables(folder: str | Path) -> dict[str, pd.DataFrame]:
    return {name: pd.read_parquet(Path(folder) / f"{name}.parquet") for name in TABLES}


# --------------------------------------------------------------------------- choices


def layers_by_position(configured: list[int], paper_net: str, paper_layers: tuple[int, ...]) -> list[int]:
    """The configured activation layers standing where `paper_layers` stand in the
    paper's list (e.g. the paper's #11 is its 4th layer: take the config's 4th)."""
    positions = [PAPER_ACTIVATION_LAYERS[paper_net].index(layer) for layer in paper_layers]
    chosen = [configured[p] for p in positions if p < len(configured)]
    return sorted(set(chosen)) or list(configured[:1])


def ics_layers(ics: pd.DataFrame, net: str) -> list[int]:
    """Fig. 3's layers at the paper's relative depths of this net (at least layer 2:
    layer 1 has nothing before it, so its G' = G)."""
    depth = int(ics.loc[ics["net"] == net, "layer"].max())
    return sorted({max(2, round(f * depth)) for f in PAPER_ICS_DEPTHS[net]})


def lrs_for(table: pd.DataFrame, net: str, variants: list[str], preferred: tuple[float, ...] | None,
            count: int | None = None) -> tuple[list[float], str]:
    """The learning rates to show: the paper's (`preferred`, in order) among those
    every variant in `variants` has; else whatever they share, with a note saying so."""
    shared = measures.lrs_with(table, net, variants)
    if not shared:
        raise figures.NoData(f"needs {net} runs of {', '.join(variants)} at one common learning rate; "
                             "this config has none")
    if preferred is None:
        return shared, ""
    chosen = [lr for lr in preferred if any(math.isclose(lr, s) for s in shared)]
    note = ""
    if not chosen:
        chosen = shared
        note = (f" The paper's lr ({', '.join(f'{lr:g}' for lr in preferred[:count or 1])}) is not in this "
                f"config; showing {', '.join(f'{lr:g}' for lr in shared[:count or len(shared)])}.")
    return chosen[:count] if count else chosen, note


def diverged_note(runs: pd.DataFrame, net: str, lrs: list[float], variants: list[str] | None) -> str:
    sub = figures.at_lrs(runs[(runs["net"] == net) & runs["diverged"]], lrs)
    if variants is not None:
        sub = sub[sub["variant"].isin(variants)]
    if sub.empty:
        return ""
    named = ", ".join(f"{r.variant} at lr {r.lr:g} (seed {r.seed}) diverged at step {int(r.diverged_step)}"
                      for r in sub.itertuples())
    return (f" Diverged, drawn up to that step: {named}; log axes are fitted to the runs that trained, so a "
            "diverged run's last values are cut off at the axis.")


def diverged_runs(runs: pd.DataFrame, net: str) -> set:
    """(variant, lr, seed) of every run of `net` that diverged."""
    sub = runs[(runs["net"] == net) & runs["diverged"]]
    return {(r.variant, float(r.lr), int(r.seed)) for r in sub.itertuples()}


HISTOGRAM_SEEDS = " The histograms are the lowest seed's of each variant; the numbers pool every seed."
ETA_SEEDS = " With several seeds, each curve is the median over seeds."


def _if_several_seeds(table: pd.DataFrame, net: str, lr: float, text: str) -> str:
    """`text` where some variant of `net` at `lr` has two or more seeds, else nothing."""
    seeds = figures.at_lrs(table[table["net"] == net], [lr]).groupby("variant")["seed"].nunique()
    return text if len(seeds) and seeds.max() >= 2 else ""


def seeds_note(table: pd.DataFrame, net: str, lrs: list[float], variants: list[str] | None) -> str:
    """How many seeds each shown curve pools: " Seeds: standard 3, batchnorm 3 at lr 0.1 ..."."""
    sub = figures.at_lrs(table[table["net"] == net], lrs)
    if variants is not None:
        sub = sub[sub["variant"].isin(variants)]
    counts = sub.groupby(["lr", "variant"])["seed"].nunique()
    if counts.empty or counts.max() < 2:
        return " One seed per run."
    parts = []
    for lr in sorted(set(counts.index.get_level_values(0))):
        per = counts.loc[lr]
        parts.append(f"lr {lr:g}: " + ", ".join(f"{v} {per[v]}" for v in figures._variants(per.reset_index(), None)
                                               if v in per.index))
    return (f" Seeds per curve ({'; '.join(parts)}): the line is the {figures.SEED_BAND.replace('shaded', 'the band')}"
            " (a run of one seed draws as a plain line).")


_fmt = measures.fmt


# --------------------------------------------------------------------------- what each figure shows


def _per_lr(lrs: list[float], variants: list[str], describe) -> str:
    """"lr A: v1 ...; v2 .... lr B: ..." from describe(variant, lr), which returns
    None for a variant with no such run."""
    parts = []
    for lr in lrs:
        items = [text for variant in variants if (text := describe(variant, lr)) is not None]
        parts.append(f"lr {lr:g}: " + "; ".join(items))
    return ". ".join(parts) + "."


def _training_summary(t: dict, net: str, lrs: list[float], variants: list[str]) -> str:
    def describe(variant, lr):
        run = measures.runs_at(t["training"], net, variant, lr)
        if run.empty:
            return None
        if net != "vgg":
            return f"{variant} final loss {_fmt(measures.final_value(run, 'loss'))}"
        test = measures.runs_at(t["evals"], net, variant, lr).sort_values("step")
        accuracy = float(test.groupby("seed")["test_accuracy"].last().median()) if len(test) else math.nan
        steps, target = measures.steps_to_accuracy(run), f"{measures.TARGET_ACCURACY:.0%} train accuracy"
        reached = f"reaches {target} at step {_fmt(steps)}" if math.isfinite(steps) else f"never reaches {target}"
        return f"{variant} {reached}, final test accuracy {_fmt(accuracy)}"

    return " This run: " + _per_lr(lrs, variants, describe)


def _distribution_summary(t: dict, net: str, lr: float, layers: list[int], variants: list[str]) -> str:
    items = []
    for variant in variants:
        acts = measures.runs_at(t["activations"], net, variant, lr)
        moms = measures.runs_at(t["moments"], net, variant, lr)
        acts, moms = acts[acts["layer"].isin(layers)], moms[moms["layer"].isin(layers)]
        if acts.empty and moms.empty:
            continue
        items.append(f"{variant} median distance from a Gaussian {_fmt(measures.gaussian_distance(acts))} "
                     f"(|excess kurtosis| {_fmt(measures.excess_kurtosis(acts))}), "
                     f"median |mu_t+1 - mu_t| {_fmt(measures.moment_drift(moms))}")
    return f" This run (lr {lr:g}, layers {', '.join(map(str, layers))}): " + "; ".join(items) + "."


def _ics_summary(t: dict, net: str, lrs: list[float], layers: list[int]) -> str:
    def describe(variant, lr):
        run = measures.runs_at(t["ics"], net, variant, lr)
        run = run[run["layer"].isin(layers)]
        if run.empty:
            return None
        return f"{variant} ||G - G'|| {_fmt(run['l2'].median())}, cos {_fmt(run['cosine'].median())}"

    return (" This run, medians over probe steps at the shown layers: "
            + _per_lr(lrs, ["standard", "batchnorm"], describe))


def _landscape_summary(t: dict, net: str, lrs: list[float], variants: list[str]) -> str:
    def describe(variant, lr):
        run = measures.runs_at(t["landscape_steps"], net, variant, lr)
        if run.empty:
            return None
        s = measures.landscape_summary(run)
        return (f"{variant} effective beta {_fmt(s['effective beta'])} (IQR {_fmt(s['effective beta IQR'])}), "
                f"gradient-change range {_fmt(s['gradient-change range'])}")

    return " This run, medians over probe steps: " + _per_lr(lrs, variants, describe)


def _eta_summary(t: dict, net: str, lr: float, variants: list[str]) -> str:
    items = []
    for variant in variants:
        run = measures.runs_at(t["landscape"], net, variant, lr)
        if run.empty:
            continue
        small, large = run["eta"].min(), run["eta"].max()
        at = lambda eta: run.loc[np.isclose(run["eta"], eta), "grad_change"].median()  # noqa: E731
        items.append(f"{variant} median gradient change {_fmt(at(small))} at eta = {small:.3g}, "
                     f"{_fmt(at(large))} at eta = {large:.3g}")
    return f" This run (lr {lr:g}): " + "; ".join(items) + "."


def _curvature_summary(t: dict, net: str, lrs: list[float]) -> str:
    parts = []
    for lr in lrs:
        sub = t["curvature"][(t["curvature"]["net"] == net) & np.isclose(t["curvature"]["lr"], lr)]
        items = [f"{v} {_fmt(sub.loc[sub['variant'] == v, 'top_eigenvalue'].median())}"
                 for v in figures._variants(sub, None)]
        parts.append(f"lr {lr:g} (2/lr = {2 / lr:.3g}): " + ", ".join(items))
    return " This run, median top eigenvalue over probe steps: " + ". ".join(parts) + "."


def _verdicts(claims_table: pd.DataFrame | None, claim: int, net: str | None = None) -> str:
    if claims_table is None or claims_table.empty:
        return ""
    rows = claims_table[claims_table["claim"] == claim]
    if net is not None:
        rows = rows[rows["net"] == net]
    if rows.empty:
        return ""
    def verdict(r):
        return f"{r.verdict} ({r.holds_in})" if r.n else r.verdict

    listed = "; ".join(f"{r.net} lr {r.lr:g}, {r.comparison}: {verdict(r)}" if not pd.isna(r.lr)
                       else f"{r.net}: {verdict(r)}" for r in rows.itertuples())
    return f" Claim {claim} in the claims table: {listed}."


# --------------------------------------------------------------------------- claims matrix, scorecard

VERDICT_COLOURS = {verdicts.HOLDS: "#b7e1c1", verdicts.HOLDS_MOST: "#dcefc6", verdicts.MIXED: "#fbe7a1",
                   verdicts.FAILS: "#f4b9bf", verdicts.MOOT: "#d6d8db", verdicts.NOT_MEASURED: "#eeeeee"}


def _setting(net: str, lr) -> str:
    return f"{net.upper()}" + ("" if pd.isna(lr) else f", lr {lr:g}")


def claims_matrix(table: pd.DataFrame) -> pd.DataFrame:
    """Claims x settings (net, lr): each cell a list of (comparison, verdict, k/n)."""
    table = table.assign(setting=[_setting(n, lr) for n, lr in zip(table["net"], table["lr"])])
    order = (table.assign(net_order=table["net"].map({"vgg": 0, "dln": 1}), lr_order=table["lr"].fillna(-1))
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
                _fmt(r.this_median) + ("" if r.seeds < 2 else f" ({_fmt(r.this_min)} – {_fmt(r.this_max)}, "
                                                              f"{r.seeds} seeds)"))
        if not pd.isna(r.paper_percentile):
            this += (f"; central 90% {draws.fmt_value(r.this_p05)} – {draws.fmt_value(r.this_p95)}; the paper at its "
                     f"{r.paper_percentile:.0f}th percentile")
        run = f"{r.net.upper()} {r.variant}, lr {r.lr:g}" + (f" [{r.recipe}]" if isinstance(r.recipe, str) and r.recipe else "")
        cells = [r.source, run, r.quantity, r.paper, f"{_fmt(r.paper_low)} – {_fmt(r.paper_high)}", this]
        tds = "".join(f"<td>{html.escape(str(c))}</td>" for c in cells)
        tds += f'<td style="background:{colours.get(r.agreement, "#fff")}">{html.escape(r.agreement)}</td>'
        same = r.setting == "paper's setting"
        tds += f'<td style="color:{"#155724" if same else "#6c757d"}">{html.escape(r.setting)}</td>'
        rows.append(f"<tr>{tds}</tr>")
    head = "".join(f"<th>{h}</th>" for h in ("source", "run", "quantity", "the paper", "read as",
                                             "this config: median (range over seeds)", "", "setting"))
    return f'<table id="scorecard"><thead><tr>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table>'


# --------------------------------------------------------------------------- the catalogue


@dataclass(frozen=True)
class Spec:
    stem: str
    title: str
    paper: str
    draw: Callable[[dict, dict], tuple]  # (tables, config) -> (Figure, what this run shows)
    # False: the figure sees the runs of its net's own recipe only (nets.<net>.optimizer, init
    # and loss: the paper's SGD, Glorot uniform, the sum by default); True: every optimizer's
    # with the net's own init and loss.
    every_optimizer: bool = False
    # True: every recipe's runs (a figure that compares the readings of the paper's choices).
    every_recipe: bool = False


def _activation_layers(config: dict, net: str) -> list[int]:
    return list(config["nets"][net]["probes"]["activations"]["layers"])


def _need(table: pd.DataFrame, net: str, variants: list[str], what: str) -> None:
    have = set(table.loc[table["net"] == net, "variant"].unique())
    missing = [v for v in variants if v not in have]
    if missing:
        raise figures.NoData(f"needs {net} {what} of {', '.join(missing)}; this config has none")


def _fig1(t, config):
    variants = ["standard", "batchnorm"]
    _need(t["training"], "vgg", variants, "runs")
    lrs, note = lrs_for(t["training"], "vgg", variants, (0.1, 0.5))
    fig = figures.training_curves(t["training"], t["evals"], "vgg", variants, lrs)
    return fig, (note + _training_summary(t, "vgg", lrs, variants) + seeds_note(t["training"], "vgg", lrs, variants)
                 + diverged_note(t["runs"], "vgg", lrs, variants))


def _fig1c(t, config):
    variants = ["standard", "batchnorm"]
    _need(t["activations"], "vgg", variants, "activation probes")
    (lr,), note = lrs_for(t["activations"], "vgg", variants, PAPER_LRS["vgg"], 1)
    layers = layers_by_position(_activation_layers(config, "vgg"), "vgg", (3, 11))
    fig = figures.activation_histograms(t["activations"], "vgg", lr, layers, variants)
    return fig, (note + _distribution_summary(t, "vgg", lr, layers, variants)
                 + _if_several_seeds(t["activations"], "vgg", lr, HISTOGRAM_SEEDS))


def _fig2(t, config):
    variants = ["standard", "batchnorm", "noisy_batchnorm"]
    _need(t["training"], "vgg", variants, "runs")
    lrs, note = lrs_for(t["training"], "vgg", variants, PAPER_LRS["vgg"], 1)
    fig = figures.training_curves(t["training"], t["evals"], "vgg", variants, lrs)
    return fig, (note + _training_summary(t, "vgg", lrs, variants) + seeds_note(t["training"], "vgg", lrs, variants)
                 + diverged_note(t["runs"], "vgg", lrs, variants))


def _fig2_hist(t, config):
    variants = ["standard", "batchnorm", "noisy_batchnorm"]
    _need(t["activations"], "vgg", variants, "activation probes")
    (lr,), note = lrs_for(t["activations"], "vgg", variants, PAPER_LRS["vgg"], 1)
    layers = layers_by_position(_activation_layers(config, "vgg"), "vgg", (2, 9, 13))
    fig = figures.activation_histograms(t["activations"], "vgg", lr, layers, variants)
    return fig, (note + _distribution_summary(t, "vgg", lr, layers, variants)
                 + _if_several_seeds(t["activations"], "vgg", lr, HISTOGRAM_SEEDS))


def _fig3(net, preferred):
    def draw(t, config):
        _need(t["ics"], net, ["standard", "batchnorm"], "ICS probes")
        lrs, note = lrs_for(t["ics"], net, ["standard", "batchnorm"], preferred, 2)
        layers = ics_layers(t["ics"], net)
        fig = figures.internal_covariate_shift(figures.at_lrs(t["ics"], lrs), net, layers)
        return fig, (f" Layers {', '.join(map(str, layers))} (the paper's relative depths)." + note
                     + _ics_summary(t, net, lrs, layers) + _verdicts(t.get("claims"), 3, net)
                     + seeds_note(t["ics"], net, lrs, ["standard", "batchnorm"])
                     + diverged_note(t["runs"], net, lrs, ["standard", "batchnorm"]))
    return draw


def _landscape(net, variants, *claim_numbers):
    def draw(t, config):
        _need(t["landscape_steps"], net, variants[:2], "landscape probes")
        present = figures._variants(t["landscape_steps"][t["landscape_steps"]["net"] == net], variants)
        lrs, _ = lrs_for(t["landscape_steps"], net, ["standard", "batchnorm"], None)
        fig = figures.landscape(t["landscape_steps"], net, lrs, present, diverged_runs(t["runs"], net))
        return fig, (_landscape_summary(t, net, lrs, present)
                     + "".join(_verdicts(t.get("claims"), claim, net) for claim in claim_numbers)
                     + seeds_note(t["landscape_steps"], net, lrs, present)
                     + diverged_note(t["runs"], net, lrs, present))
    return draw


def _fig5(net):
    def draw(t, config):
        variants = ["standard", "batchnorm", *OTHER_NORMS]
        _need(t["training"], net, ["standard", "batchnorm"], "runs")
        present = figures._variants(t["training"][t["training"]["net"] == net], variants)
        if not set(OTHER_NORMS) & set(present):
            raise figures.NoData(f"needs {net} runs of another normalization ({', '.join(OTHER_NORMS)}); "
                                 "this config has none")
        lrs, _ = lrs_for(t["training"], net, ["standard", "batchnorm"], None)
        fig = figures.training_curves(t["training"], t["evals"], net, present, lrs)
        return fig, (_training_summary(t, net, lrs, present) + _verdicts(t.get("claims"), 5, net)
                     + _verdicts(t.get("claims"), 7, net)
                     + seeds_note(t["training"], net, lrs, present) + diverged_note(t["runs"], net, lrs, present))
    return draw


def _fig6(t, config):
    variants = ["standard", "batchnorm", *OTHER_NORMS]
    present = figures._variants(t["activations"][t["activations"]["net"] == "vgg"], variants)
    if not set(OTHER_NORMS) & set(present):
        raise figures.NoData(f"needs vgg activation probes of another normalization ({', '.join(OTHER_NORMS)}); "
                             "this config has none")
    (lr,), note = lrs_for(t["activations"], "vgg", present, PAPER_LRS["vgg"], 1)
    layers = layers_by_position(_activation_layers(config, "vgg"), "vgg", (11,))
    fig = figures.activation_histograms(t["activations"], "vgg", lr, layers, present)
    return fig, (note + _distribution_summary(t, "vgg", lr, layers, present)
                 + _if_several_seeds(t["activations"], "vgg", lr, HISTOGRAM_SEEDS))


def _fig8(t, config):
    variants = ["standard", "batchnorm", "noisy_batchnorm"]
    _need(t["moments"], "vgg", variants, "activation probes")
    (lr,), note = lrs_for(t["moments"], "vgg", variants, PAPER_LRS["vgg"], 1)
    layers = layers_by_position(_activation_layers(config, "vgg"), "vgg", (2, 9, 13))
    fig = figures.moment_drift(t["moments"], "vgg", lr, layers, variants)
    return fig, (note + _distribution_summary(t, "vgg", lr, layers, variants) + _verdicts(t.get("claims"), 2)
                 + seeds_note(t["moments"], "vgg", [lr], variants))


def _fig11(net):
    def draw(t, config):
        variants = ["standard", "batchnorm"]
        _need(t["landscape"], net, variants, "landscape probes")
        (lr,), note = lrs_for(t["landscape"], net, variants, PAPER_LRS[net], 1)
        fig = figures.gradient_change_vs_eta(t["landscape"], net, lr, variants)
        return fig, note + _eta_summary(t, net, lr, variants) + _if_several_seeds(t["landscape"], net, lr, ETA_SEEDS)
    return draw


def _curvature(net):
    def draw(t, config):
        fig = figures.curvature(t["curvature"], net)
        lrs = sorted(t["curvature"].loc[t["curvature"]["net"] == net, "lr"].unique())
        return fig, (_curvature_summary(t, net, lrs) + seeds_note(t["curvature"], net, lrs, None)
                     + diverged_note(t["runs"], net, lrs, None))
    return draw


# Appendix A.2.2: the largest probe step, "slightly smaller than the learning rate at
# which the standard network diverges", as a multiple of the paper's base lr.
PAPER_BREAK = {"vgg": (4, 0.1), "dln": (30, 1e-6)}


def _lr_sensitivity(net):
    def draw(t, config):
        scores = sensitivity.final_scores(t["training"], net, t["evals"])
        shared = sensitivity.shared_lrs(scores)
        if len(shared) < sensitivity.MIN_GRID:
            raise figures.NoData(f"needs {net} runs of standard and batchnorm at {sensitivity.MIN_GRID} or more "
                                 f"learning rates; this config has {len(shared)}")
        # Variants run at one or two learning rates have no range to show.
        counts = scores.groupby("variant")["lr"].nunique()
        scores = scores[scores["variant"].isin(counts.index[counts >= sensitivity.MIN_GRID])]
        setting = config["nets"][net].get("sensitivity", {}).get("trained_accuracy" if net == "vgg" else "trained_loss")
        level = sensitivity.trained_level(net, scores, setting)
        steps = sensitivity.steps_to_level(t["training"], net, level)
        steps = steps[steps["variant"].isin(set(scores["variant"]))]
        fig = figures.lr_sensitivity(scores, steps, net, list(PAPER_LRS[net]), level)
        ranges = sensitivity.range_table(scores, net)
        listed = "; ".join(f"{r.variant} {_fmt(r.usable_range)}x ({r.usable_lrs or 'none'})"
                           for r in ranges.itertuples())
        own = "; ".join(f"{r.variant} {_fmt(r.own_best_range)}x" for r in ranges.itertuples())
        trains = "; ".join(f"{r.variant} {_fmt(r.training_range)}x ({r.training_lrs or 'none'})"
                           for r in ranges.itertuples())
        usable = (f"{sensitivity.USABLE_ACCURACY:.0%} of the best final accuracy" if net == "vgg"
                  else f"{sensitivity.USABLE_LOSS:g}x the best final loss")
        points = sensitivity.break_points(scores)
        factor, base = PAPER_BREAK[net]
        def at(lr):
            return "nowhere on this grid" if math.isnan(lr) else f"at lr {lr:g}"

        said = (f" Where the standard network breaks on this grid (in most seeds): it stops training "
                f"{at(points['stops_training'])} and diverges {at(points['diverges'])}; the paper's standard "
                f"network diverges slightly above {factor}x its lr {base:g}, i.e. above {factor * base:g} "
                f"(Appendix A.2.2). Here it {sensitivity.compare_break(points, factor, base)}.")
        return fig, (f" This run, usable range (largest / smallest lr whose median score is within {usable} on the grid): "
                     f"{listed}. Within the same level of each variant's own best instead: {own}. Range over which "
                     f"most seeds train at all (not diverged, and beyond twice chance / below 0.9x the first loss): "
                     f"{trains}." + said + _verdicts(t.get("claims"), 6, net)
                     + seeds_note(t["training"], net, sorted(shared), ["standard", "batchnorm"]))
    return draw


def _surface_choice(t, config, net, variants):
    """The surface to draw: the paper's lr among those with surfaces of every one of
    `variants`, the lowest seed, the last step measured."""
    table = t.get("surface", pd.DataFrame())
    if table.empty or net not in set(table["net"].unique()):
        raise figures.NoData(f"no {net} loss surfaces: add nets.{net}.surface to the config")
    _need(table, net, variants, "loss surfaces")
    (lr,), note = lrs_for(table, net, variants, PAPER_LRS[net], 1)
    at = figures.at_lrs(table[table["net"] == net], [lr])
    seed = int(at["seed"].min())
    step = int(at.loc[at["seed"] == seed, "step"].max())
    return table, lr, seed, step, note


def surface_rises(table: pd.DataFrame, net: str, lr: float, step: int, radius: float) -> pd.DataFrame:
    """Per variant and seed: the median relative loss rise on the circles of radius r/2
    and r, the absolute rise at r/2 (bnopt.surface.rise), and the centre's loss."""
    rows = []
    for (variant, seed), one in figures.surfaces_at(table, net, lr, step).groupby(["variant", "seed"]):
        rows.append(dict(variant=variant, seed=int(seed), centre=surfaces.centre_loss(one),
                         half=surfaces.rise(one, radius, 0.5), edge=surfaces.rise(one, radius, 1.0),
                         half_absolute=surfaces.rise(one, radius, 0.5, relative=False)))
    return pd.DataFrame(rows, columns=["variant", "seed", "centre", "half", "edge", "half_absolute"])


def _rises_said(rises: pd.DataFrame, radius: float, variants: list[str] | None = None) -> str:
    parts = []
    for variant in figures._variants(rises, variants):
        mine = rises[rises["variant"] == variant]
        half = ", ".join(f"{_fmt(v)}" for v in mine["half"])
        edge = ", ".join(f"{_fmt(v)}" for v in mine["edge"])
        seeds = "" if len(mine) == 1 else f" (seeds {', '.join(str(s) for s in mine['seed'])})"
        centre = ", ".join(f"{_fmt(v)}" for v in mine["centre"])
        absolute = ", ".join(f"{_fmt(v)}" for v in mine["half_absolute"])
        parts.append(f"{variant} {half} at r/2, {edge} at r (centre loss {centre}; absolute rise at r/2 "
                     f"{absolute}){seeds}")
    return (f" Median relative loss rise (L - L_centre) / L_centre on the circle of radius r/2 = {radius / 2:g} "
            f"and r = {radius:g} around the weights: " + "; ".join(parts) + ".")


def _no_surface(t, config, net: str, lr: float, seed: int, drawn: set) -> str:
    """Which selected variants have no surface to draw, and why."""
    diverged = diverged_runs(t["runs"], net)
    missing = [v for v in config["nets"][net]["surface"]["variants"] if v not in drawn]
    if not missing:
        return ""
    why = [f"{v} ({'diverged before this step' if (v, float(lr), seed) in diverged else 'not run at this lr'})"
           for v in missing]
    return " No surface for " + ", ".join(why) + "."


def _surfaces(net):
    def draw(t, config):
        variants = ["standard", "batchnorm"]
        table, lr, seed, step, note = _surface_choice(t, config, net, variants)
        fig = figures.surfaces(table, net, lr, step, seed, variants)
        radius = config["nets"][net]["surface"]["radius"]
        rises = surface_rises(table, net, lr, step, radius)
        return fig, (note + f" This run: lr {lr:g}, step {step}, seed {seed}." + _rises_said(rises, radius, variants)
                     + " The paper's claim (BatchNorm makes the landscape smoother) predicts a smaller rise for "
                     "batchnorm; the relative rise also grows as the centre's loss falls, so a better-trained "
                     "network shows a larger one: compare the absolute rise too. Directions are filter-normalized, "
                     "so batchnorm's scale invariance does not flatter it; biases and normalization parameters stay "
                     "fixed (Li et al.'s biasbn).")
    return draw


def _surface_variants(net):
    def draw(t, config):
        table, lr, seed, step, note = _surface_choice(t, config, net, ["standard", "batchnorm"])
        at = figures.surfaces_at(table, net, lr, step, seed)
        if at["variant"].nunique() <= 2:
            raise figures.NoData(f"only standard and batchnorm have {net} surfaces (the pair is the figure above); "
                                 f"add variants to nets.{net}.surface.variants")
        fig = figures.surface_contours(table, net, lr, step, seed)
        radius = config["nets"][net]["surface"]["radius"]
        return fig, (note + f" This run: lr {lr:g}, step {step}, seed {seed}."
                     + _rises_said(surface_rises(table, net, lr, step, radius), radius)
                     + _no_surface(t, config, net, lr, seed, set(at["variant"].unique())))
    return draw


def _interpolation(net):
    def draw(t, config):
        line = t.get("interpolation", pd.DataFrame())
        if line.empty or net not in set(line["net"].unique()):
            raise figures.NoData(f"no {net} interpolation lines: add nets.{net}.surface to the config")
        fig = figures.interpolation_curves(line, net)
        parts = []
        for (lr, variant), one in line[line["net"] == net].groupby(["lr", "variant"]):
            one = one[(one["seed"] == one["seed"].min()) & (one["step"] == one["step"].max())]
            bump = surfaces.barrier(one)
            parts.append(f"lr {lr:g} {variant}: highest loss between alpha 0 and 1 is {_fmt(bump)}x the higher end")
        return fig, (" This run: " + "; ".join(parts) + ". A value of 1 means the loss falls monotonically along "
                     "the line (Goodfellow et al. found this for their networks); a bump is a barrier between the "
                     "initial and the trained weights.")
    return draw


def _optimizers(net):
    def draw(t, config):
        variants = ["standard", "batchnorm"]
        training = t["training"][t["training"]["net"] == net]
        tokens = optimizers(training)
        others = [tok for tok in tokens[1:] if _lrs_of(training, net, variants, tok)]
        if not others:
            raise figures.NoData(f"needs {net} runs of standard and batchnorm with an optimizer other than the "
                                 "paper's SGD: add a run group with optimizer: {momentum: 0.9} "
                                 "(config/extensions.yaml)")
        shared = [lr for lr in _lrs_of(training, net, variants, others[0])
                  if all(lr in _lrs_of(training, net, variants, tok) for tok in [PAPER_TOKEN, *others])]
        if not shared:
            raise figures.NoData(f"needs {net} runs of standard and batchnorm under the paper's SGD and under "
                                 f"{others[0]} at one common learning rate")
        shown = [PAPER_TOKEN, *others]
        fig = figures.optimizer_comparison(t["training"], t["landscape_steps"], net, shared, variants, shown)
        return fig, "".join(_optimizer_summary(t, net, lr, variants, shown) for lr in shared)
    return draw


def _lrs_of(training: pd.DataFrame, net: str, variants: list[str], token: str) -> list[float]:
    """The lrs at which every one of `variants` has runs with the optimizer `token`."""
    return measures.lrs_with(of_optimizer(training, token), net, variants)


def _optimizer_summary(t: dict, net: str, lr: float, variants: list[str], tokens: list[str]) -> str:
    metric = "accuracy" if net == "vgg" else "loss"
    parts = []
    for token in tokens:
        training, steps = (of_optimizer(t[name], token) for name in ("training", "landscape_steps"))
        for variant in variants:
            runs = measures.runs_at(training[training["net"] == net], net, variant, lr)
            if runs.empty:
                continue
            finals = [measures.final_value(run, metric) for _, run in runs.groupby("seed")]
            probed = measures.runs_at(steps[steps["net"] == net], net, variant, lr) if len(steps) else steps
            diverged = measures.runs_at(of_optimizer(t["runs"], token), net, variant, lr)["diverged"].sum()
            text = (f"{variant} with {token}: final {metric} {_fmt(float(np.median(finals)))}"
                    + (f" ({diverged} of {len(finals)} seeds diverged)" if diverged else ""))
            if len(probed):
                text += f", effective beta {_fmt(float(probed['effective_beta'].median()))}"
                update = probed["update_effective_beta"].astype(float) if "update_effective_beta" in probed else None
                if update is not None and np.isfinite(update).any():
                    cos = probed["update_cosine"].astype(float).median()
                    text += f" (along the update taken {_fmt(float(update.median()))}; cos(update, -grad) {cos:.2f})"
            parts.append(text)
    claims_rows = t.get("claims")
    verdicts = ""
    if claims_rows is not None and "optimizer" in claims_rows:
        mine = claims_rows[(claims_rows["net"] == net) & (claims_rows["optimizer"].isin(tokens[1:]))
                           & np.isclose(claims_rows["lr"].astype(float), lr)]
        verdicts = "".join(f" Claim {int(r.claim)} ({r.comparison}): {r.verdict}"
                           + (f" ({r.holds_in})" if r.n else "") + "." for r in mine.itertuples())
    return (f" This run, lr {lr:g} (medians over seeds and probe steps): " + "; ".join(parts) + "." + verdicts)


def _typical_dln(t, config):
    card = t.get("scorecard", pd.DataFrame())
    if card.empty or draws.drawn(card).empty:
        raise figures.NoData("needs DLN runs of standard and batchnorm at lr 1e-6 with "
                             f"{draws.MIN_DRAWS} or more seeds of one recipe (config/dln-draws.yaml)")
    summary = draws.settings_summary(card, t.get("claims", pd.DataFrame()), t["scorecard_values"])
    fig = draws.figure(card, t["scorecard_values"])
    said = "; ".join(f"{r.setting} ({r.draws} draws): {r.inside} of {r.numbers} inside"
                     + (f" (outside: {r.outside})" if r.outside else "")
                     + f", claim 4 {r.claim4}, {r.rough} of {r.rough_of} draws as rough as the paper's"
                     for r in summary.itertuples())
    best = draws.closest(summary)
    verdict = (f" Closest to the paper: {draws.recipe_label(best)} ({draws.CLOSEST_RULE})." if best is not None else
               f" No reading is closest to the paper ({draws.CLOSEST_RULE}).")
    return fig, (f" This config, per reading (the paper's numbers inside the draws' central 90%; claim 4 for "
                 f"the DLN at lr 1e-6 over the draws; draws whose standard net's effective beta reaches "
                 f"{draws.ROUGH:.0e}): {said}." + verdict)


ALL_VARIANTS = figures.VARIANT_ORDER
TODAYS = (" Beyond the paper: LayerNorm, GroupNorm and weight normalization where the config runs them "
          "(claim 7).")
CATALOGUE = [
    Spec("fig01_training_vgg", "Fig. 1a-b: VGG training and test accuracy, standard vs BN",
         "Paper: with BN, VGG trains faster, and at lr 0.5 the standard network does not train at all.", _fig1),
    Spec("fig01c_activations_vgg", "Fig. 1c: VGG activation distributions over training, standard vs BN",
         "Paper: the distributions of the standard network's activations are not visibly less stable than "
         "BN's, so stability alone does not explain BN's gain.", _fig1c),
    Spec("fig02_training_noisy_vgg", "Fig. 2: VGG training with noisy BN",
         "Paper: BN with a random shift and scale injected after it at every step (noisy BN) trains about as "
         "well as BN, and far better than the standard network.", _fig2),
    Spec("fig02_activations_noisy_vgg", "Fig. 2: activation distributions with noisy BN",
         "Paper: noisy BN's distributions move far more than the standard network's, yet it trains like BN.",
         _fig2_hist),
    Spec("fig03_ics_vgg", "Fig. 3: internal covariate shift, VGG",
         "Paper: BN does not reduce ICS: with BN, ||G - G'|| is similar or larger and cos(G, G') similar or "
         "smaller.", _fig3("vgg", PAPER_LRS["vgg"][::2])),
    Spec("fig03_ics_dln", "Fig. 3: internal covariate shift, deep linear network",
         "Paper: in the DLN, BN's ICS is far larger: ||G - G'|| large and cos(G, G') near 0, while the "
         "standard network's G' is almost G.", _fig3("dln", PAPER_LRS["dln"])),
    Spec("fig04_landscape_vgg", "Fig. 4: VGG loss landscape, gradient predictiveness, effective beta",
         "Paper: with BN the loss varies less along the gradient, the gradient changes less, and the "
         "effective beta-smoothness is lower and steadier.", _landscape("vgg", ["standard", "batchnorm"], 4)),
    Spec("fig05_training_lp_vgg", "Fig. 5: VGG training with l_p (and today's) normalizations",
         "Paper: l1, l2 and l_inf normalization train about as well as BN (and better than the standard "
         "network)." + TODAYS, _fig5("vgg")),
    Spec("fig05_training_lp_dln", "Fig. 5: DLN training with l_p (and today's) normalizations",
         "Paper: in the DLN too, the l_p normalizations train about as well as BN." + TODAYS, _fig5("dln")),
    Spec("fig06_activations_lp_vgg", "Fig. 6: activation distributions under every normalization",
         "Paper: the l_p normalizations' activations are not Gaussian-like and do not stabilize the "
         "distributions, yet those networks train as well as BN." + TODAYS, _fig6),
    Spec("fig08_moment_drift_vgg", "Fig. 8: moment drift, standard vs BN vs noisy BN",
         "Paper: noisy BN's per-unit mean and variance change far more between steps than the standard "
         "network's; BN's change least.", _fig8),
    Spec("fig10_landscape_dln", "Fig. 10: DLN loss landscape, gradient predictiveness, effective beta",
         "Paper: in the DLN too, BN makes the loss and the gradient change less along the gradient, with a "
         "lower effective beta.", _landscape("dln", ["standard", "batchnorm"], 4)),
    Spec("fig11_grad_change_vs_eta_vgg", "Fig. 11: VGG gradient change against step length",
         "Paper: for every step length eta and throughout training, the gradient changes less with BN.",
         _fig11("vgg")),
    Spec("fig11_grad_change_vs_eta_dln", "Fig. 11: DLN gradient change against step length",
         "Paper: for every step length eta and throughout training, the gradient changes less with BN.",
         _fig11("dln")),
    Spec("fig12_landscape_all_vgg", "Fig. 12: VGG landscape under every normalization",
         "Paper: every normalization smooths the landscape like BN: lower loss and gradient-change ranges "
         "and a lower effective beta than the standard network." + TODAYS, _landscape("vgg", ALL_VARIANTS, 5, 7)),
    Spec("fig13_landscape_all_dln", "Fig. 13: DLN landscape under every normalization",
         "Paper: in the DLN too, every normalization smooths the landscape like BN." + TODAYS,
         _landscape("dln", ALL_VARIANTS, 5, 7)),
    Spec("lr_sensitivity_vgg", "Learning-rate sensitivity, VGG",
         "Paper (section 3.1) and the blog post: BN trains over a broader range of (and thus larger) learning "
         "rates.", _lr_sensitivity("vgg")),
    Spec("lr_sensitivity_dln", "Learning-rate sensitivity, DLN",
         "Paper (section 3.1) and the blog post: BN trains over a broader range of (and thus larger) learning "
         "rates.", _lr_sensitivity("dln")),
    Spec("surface_vgg", "Beyond the paper: VGG loss surface, standard vs BN",
         "Not in the paper: the blog post's picture (Li et al. 2018), the loss over a 2D grid around the trained "
         "weights along two filter-normalized random directions, filled contours and a 3D view on one colour "
         "scale.", _surfaces("vgg")),
    Spec("surface_dln", "Beyond the paper: DLN loss surface, standard vs BN",
         "Not in the paper: the blog post's picture, as for VGG.", _surfaces("dln")),
    Spec("surface_variants_vgg", "Beyond the paper: VGG loss surfaces of every variant",
         "Not in the paper: every variant's surface at one lr, one colour scale.", _surface_variants("vgg")),
    Spec("surface_variants_dln", "Beyond the paper: DLN loss surfaces of every variant",
         "Not in the paper: every variant's surface at one lr, one colour scale.", _surface_variants("dln")),
    Spec("interpolation_vgg", "Beyond the paper: VGG loss from the initial to the trained weights",
         "Not in the paper: the loss on the straight line theta_0 + alpha (theta_t - theta_0), alpha in "
         "[-0.5, 1.5] (Goodfellow et al. 2015).", _interpolation("vgg")),
    Spec("interpolation_dln", "Beyond the paper: DLN loss from the initial to the trained weights",
         "Not in the paper: the 1D line, as for VGG.", _interpolation("dln")),
    Spec("optimizers_vgg", "Beyond the paper: VGG under SGD with momentum",
         "Not in the paper: it trains with plain SGD; here the same networks trained with another optimizer "
         "(momentum 0.9 in config/extensions.yaml). Does BN still train faster, and is its landscape still "
         "smoother, along the gradient and along the step the optimizer actually takes?", _optimizers("vgg"),
         every_optimizer=True),
    Spec("optimizers_dln", "Beyond the paper: DLN under SGD with momentum",
         "Not in the paper: the DLN under another optimizer, as for VGG.", _optimizers("dln"), every_optimizer=True),
    Spec("typical_dln", "How typical is the paper's DLN? Its numbers among many draws",
         "The paper shows one draw of each DLN run and leaves two choices open: \"standard Glorot initialization\" "
         "(uniform or normal) and the loss's factor (its formula has no 1/2). Here, per reading, many seeds of "
         "each run: each of the paper's DLN numbers beside the distribution of the draws, with its percentile.",
         _typical_dln, every_recipe=True),
    Spec("curvature_vgg", "Beyond the paper: VGG top Hessian eigenvalue",
         "Not in the paper: the top eigenvalue of the minibatch loss's Hessian (power iteration), with 2/lr "
         "dashed. Gradient descent is stable where it stays below 2/lr; an eigenvalue sitting at 2/lr marks "
         "training at the edge of stability.", _curvature("vgg")),
    Spec("curvature_dln", "Beyond the paper: DLN top Hessian eigenvalue",
         "Not in the paper: the top Hessian eigenvalue with 2/lr dashed, as for VGG.", _curvature("dln")),
]


def render_all(tables: dict[str, pd.DataFrame], config: dict, folder: str | Path,
               catalogue: list[Spec] = CATALOGUE) -> list[Rendered | Skipped]:
    """Draw every figure of the catalogue the tables hold data for into `folder`
    (PNG + PDF); the others become Skipped entries with the reason."""
    out: list[Rendered | Skipped] = []
    for spec in catalogue:
        net = "dln" if spec.stem.endswith("_dln") else "vgg"
        if net not in config["nets"]:
            out.append(Skipped(spec.stem, spec.title, f"this config has no {net} runs (nets.{net} is absent)"))
            continue
        if spec.every_recipe:
            seen = tables
        elif spec.every_optimizer:
            seen = own_init_and_loss(tables, config, net)
        else:
            seen = {name: of_recipe(t, own_recipe(config, net)) for name, t in tables.items()}
        try:
            fig, shows = spec.draw(seen, config)
        except figures.NoData as error:
            out.append(Skipped(spec.stem, spec.title, str(error)))
            continue
        paths = figures.save(fig, spec.stem, folder)
        out.append(Rendered(spec.stem, spec.title, spec.paper + shows, paths))
    return out


def runs_overview(runs: pd.DataFrame) -> pd.DataFrame:
    """One row per net, variant, recipe and lr: how many seeds, how many diverged, and
    the medians over seeds of the wall time and final numbers (for configs of many seeds)."""
    keys = ["net", "variant", "recipe", "lr"]
    grouped = runs.groupby(keys, sort=False)
    return pd.DataFrame(dict(seeds=grouped["seed"].nunique(), diverged=grouped["diverged"].sum(),
                             wall_time_s=grouped["wall_time_s"].median(),
                             final_train_loss=grouped["final_train_loss"].median(),
                             final_test_accuracy=grouped["final_test_accuracy"].median())).reset_index()


def own_init_and_loss(tables: dict[str, pd.DataFrame], config: dict, net: str) -> dict[str, pd.DataFrame]:
    """The rows of runs with the net's own initialization and loss, any optimizer (the
    optimizer figures compare optimizers, nothing else)."""
    section = config["nets"][net]
    init, loss = group_init(section, {}), group_loss(net, section, {})

    def mine(table):
        if "init" not in table or table.empty:
            return table
        return table[(table["init"] == init) & ((table["net"] != net) | (table["objective"] == loss))]

    return {name: mine(t) for name, t in tables.items()}


def index_table(entries: list[Rendered | Skipped]) -> pd.DataFrame:
    """One row per catalogue entry: rendered (with the PNG/PDF names) or skipped (why)."""
    rows = []
    for e in entries:
        if isinstance(e, Rendered):
            rows.append(dict(stem=e.stem, title=e.title, status="rendered", caption=e.caption, reason="",
                             png=e.paths[0].name, pdf=e.paths[1].name))
        else:
            rows.append(dict(stem=e.stem, title=e.title, status="skipped", caption="", reason=e.reason, png="",
                             pdf=""))
    return pd.DataFrame(rows, columns=["stem", "title", "status", "caption", "reason", "png", "pdf"])
