"""What a figure shows and what its caption says about it, shared by every group of
figures: a catalogue entry (:class:`Spec`), the paper's learning rates and layers and
how a config's are matched to them, the runs a figure sees, and the caption's notes
on diverged runs, seeds and the claims' verdicts."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import pandas as pd

from ...defaults import NO_SKIP
from ...runs import group_init, group_loss, group_skip
from ..claims import MODERN_NORMS
from ..measures import lrs_with
from .style import SEED_BAND, VARIANT_ORDER, NoData, at_lrs, variants_in

# The paper's activation layers (VGG-16: #2, #3, #9, #11, #13; DLN: #1, #11, #24). A
# config names its own layers; the paper's figures pick from that list by position.
PAPER_ACTIVATION_LAYERS = {"vgg": (2, 3, 9, 11, 13), "dln": (1, 11, 24)}
# Fig. 3's layers, as a fraction of the depth (VGG-16 #5, #10 of 16; DLN #9, #17 of 25).
# The ResNet (beyond the paper) at the VGG's relative depths.
PAPER_ICS_DEPTHS = {"vgg": (5 / 16, 10 / 16), "dln": (9 / 25, 17 / 25), "resnet": (5 / 16, 10 / 16)}
# The learning rates each figure of the paper shows, in order of preference (the ResNet,
# beyond the paper, trained like the VGG: the VGG's).
PAPER_LRS = {"vgg": (0.1, 0.5, 0.01), "dln": (1e-6, 1e-7), "resnet": (0.1, 0.5, 0.01)}
LP_VARIANTS = ["l1", "l2", "linf"]
# Every normalization but batchnorm's family: the paper's l_p ones and, beyond it, today's (claim 7).
OTHER_NORMS = [*LP_VARIANTS, *MODERN_NORMS]
ALL_VARIANTS = VARIANT_ORDER
TODAYS = (" Beyond the paper: LayerNorm, GroupNorm and weight normalization where the config runs them "
          "(claim 7).")


@dataclass(frozen=True)
class Spec:
    """One figure of the catalogue: its file stem (ending in _vgg or _dln, the net it
    needs), title, what the paper says (the caption's start) and how to draw it."""

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


def own_init_and_loss(tables: dict[str, pd.DataFrame], config: dict, net: str) -> dict[str, pd.DataFrame]:
    """The rows of runs with the net's own initialization, loss and skips, any optimizer
    (the optimizer figures compare optimizers, nothing else)."""
    section = config["nets"][net]
    init, loss = group_init(net, section, {}), group_loss(net, section, {})
    plain = not group_skip(net, section, {})

    def mine(table):
        if "init" not in table or table.empty:
            return table
        keep = (table["init"] == init) & ((table["net"] != net) | (table["objective"] == loss))
        if "recipe" in table:
            without_skips = table["recipe"].astype(str).str.split("+").map(lambda parts: NO_SKIP in parts)
            keep &= without_skips == plain
        return table[keep]

    return {name: mine(t) for name, t in tables.items()}


# --------------------------------------------------------------------------- which layers and lrs


def layers_by_position(configured: list[int], paper_net: str, paper_layers: tuple[int, ...]) -> list[int]:
    """The configured activation layers standing where `paper_layers` stand in the
    paper's list (e.g. the paper's #11 is its 4th layer: take the config's 4th)."""
    positions = [PAPER_ACTIVATION_LAYERS[paper_net].index(layer) for layer in paper_layers]
    chosen = [configured[p] for p in positions if p < len(configured)]
    return sorted(set(chosen)) or list(configured[:1])


def activation_layers(config: dict, net: str) -> list[int]:
    return list(config["nets"][net]["probes"]["activations"]["layers"])


def ics_layers(ics: pd.DataFrame, net: str) -> list[int]:
    """Fig. 3's layers at the paper's relative depths of this net (at least layer 2:
    layer 1 has nothing before it, so its G' = G)."""
    depth = int(ics.loc[ics["net"] == net, "layer"].max())
    return sorted({max(2, round(f * depth)) for f in PAPER_ICS_DEPTHS[net]})


def lrs_for(table: pd.DataFrame, net: str, variants: list[str], preferred: tuple[float, ...] | None,
            count: int | None = None) -> tuple[list[float], str]:
    """The learning rates to show: the paper's (`preferred`, in order) among those
    every variant in `variants` has; else whatever they share, with a note saying so."""
    shared = lrs_with(table, net, variants)
    if not shared:
        raise NoData(f"needs {net} runs of {', '.join(variants)} at one common learning rate; "
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


def need(table: pd.DataFrame, net: str, variants: list[str], what: str) -> None:
    """Raise NoData unless `table` holds rows of `net` for every one of `variants`."""
    have = set(table.loc[table["net"] == net, "variant"].unique())
    missing = [v for v in variants if v not in have]
    if missing:
        raise NoData(f"needs {net} {what} of {', '.join(missing)}; this config has none")


# --------------------------------------------------------------------------- the captions' notes


def diverged_note(runs: pd.DataFrame, net: str, lrs: list[float], variants: list[str] | None) -> str:
    sub = at_lrs(runs[(runs["net"] == net) & runs["diverged"]], lrs)
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


def if_several_seeds(table: pd.DataFrame, net: str, lr: float, text: str) -> str:
    """`text` where some variant of `net` at `lr` has two or more seeds, else nothing."""
    seeds = at_lrs(table[table["net"] == net], [lr]).groupby("variant")["seed"].nunique()
    return text if len(seeds) and seeds.max() >= 2 else ""


def seeds_note(table: pd.DataFrame, net: str, lrs: list[float], variants: list[str] | None) -> str:
    """How many seeds each shown curve pools: " Seeds: standard 3, batchnorm 3 at lr 0.1 ..."."""
    sub = at_lrs(table[table["net"] == net], lrs)
    if variants is not None:
        sub = sub[sub["variant"].isin(variants)]
    counts = sub.groupby(["lr", "variant"])["seed"].nunique()
    if counts.empty or counts.max() < 2:
        return " One seed per run."
    parts = []
    for lr in sorted(set(counts.index.get_level_values(0))):
        per = counts.loc[lr]
        parts.append(f"lr {lr:g}: " + ", ".join(f"{v} {per[v]}" for v in variants_in(per.reset_index(), None)
                                               if v in per.index))
    return (f" Seeds per curve ({'; '.join(parts)}): the line is the {SEED_BAND.replace('shaded', 'the band')}"
            " (a run of one seed draws as a plain line).")


def per_lr(lrs: list[float], variants: list[str], describe) -> str:
    """"lr A: v1 ...; v2 .... lr B: ..." from describe(variant, lr), which returns
    None for a variant with no such run."""
    parts = []
    for lr in lrs:
        items = [text for variant in variants if (text := describe(variant, lr)) is not None]
        parts.append(f"lr {lr:g}: " + "; ".join(items))
    return ". ".join(parts) + "."


def claim_verdicts(claims_table: pd.DataFrame | None, claim: int, net: str | None = None) -> str:
    """" Claim N in the claims table: <net> lr <lr>, <comparison>: <verdict> (k of n); ..."."""
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
