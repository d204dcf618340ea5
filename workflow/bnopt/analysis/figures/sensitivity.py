"""Learning-rate sensitivity (the paper's section 3.1 and the blog post): over how broad
a range of learning rates each variant trains. The measures are bnopt.analysis.sensitivity's
(imported here as `sensitivity`); this module draws them and says what they show."""

from __future__ import annotations

import math

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from .. import sensitivity
from ..measures import fmt
from .choices import PAPER_LRS, Spec, claim_verdicts, seeds_note
from .style import PALETTE, NoData, across_seeds, apply_theme, legend, median_and_band, require, variants_in

# Appendix A.2.2: the largest probe step, "slightly smaller than the learning rate at
# which the standard network diverges", as a multiple of the paper's base lr.
PAPER_BREAK = {"vgg": (4, 0.1), "dln": (30, 1e-6)}


def lr_sensitivity(scores: pd.DataFrame, steps: pd.DataFrame, net: str, paper_lrs: list[float], level: float,
                   variants: list[str] | None = None) -> plt.Figure:
    """The learning-rate sensitivity of each variant: its final score (VGG: smoothed
    training accuracy, and test accuracy dashed; DLN: smoothed training loss, log
    axis) against the learning rate (log axis), median over seeds with their range as
    a band, a diverged seed marked x at the panel's edge; beside it, the steps until
    the run is trained, i.e. reaches `level` (see bnopt.sensitivity.steps_to_level).
    Dotted lines: the paper's learning rates."""
    apply_theme()
    table = require(scores, f"{net} runs at several learning rates")
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.8), squeeze=False)
    score_ax, steps_ax = axes[0]
    for variant in variants_in(table, variants):
        colour = PALETTE[variant]
        runs = table[table["variant"] == variant]
        median_and_band(score_ax, across_seeds(runs, "lr", "score"), colour, variant, marker="o")
        if net == "vgg" and runs["test"].notna().any():
            test = across_seeds(runs.dropna(subset=["test"]), "lr", "test")
            score_ax.plot(test.index, test["median"], color=colour, ls="--", lw=1.1, marker=".")
        diverged = runs[runs["diverged"]]
        if len(diverged):
            edge = 0.0 if net == "vgg" else None
            y = edge if edge is not None else np.nanmax(np.where(np.isfinite(table["score"]), table["score"], np.nan))
            score_ax.plot(diverged["lr"], [y] * len(diverged), "x", color=colour, ms=9, mew=2)
        reached = steps[steps["variant"] == variant]
        median_and_band(steps_ax, across_seeds(reached, "lr", "steps"), colour, marker="o")
    for ax in (score_ax, steps_ax):
        ax.set_xscale("log")
        ax.set_xlabel("learning rate")
        for lr in paper_lrs:
            ax.axvline(lr, color="grey", ls=":", lw=1)
    if net == "vgg":
        score_ax.set_ylabel("final accuracy (train solid, test dashed)")
        reached_at = f"smoothed accuracy >= {level:g}"
    else:
        score_ax.set_ylabel("final training loss")
        score_ax.set_yscale("log")
        reached_at = f"smoothed loss <= {level:,.0f}"
    steps_ax.set_ylabel("steps until trained")
    score_ax.set_title(f"{net.upper()}: final score against the learning rate")
    steps_ax.set_title(f"{net.upper()}: steps until {reached_at}\n(never: not drawn)", fontsize="medium")
    fig.tight_layout()
    legend(fig)
    return fig


def _lr_sensitivity(net):
    def draw(t, config):
        scores = sensitivity.final_scores(t["training"], net, t["evals"])
        shared = sensitivity.shared_lrs(scores)
        if len(shared) < sensitivity.MIN_GRID:
            raise NoData(f"needs {net} runs of standard and batchnorm at {sensitivity.MIN_GRID} or more "
                         f"learning rates; this config has {len(shared)}")
        # Variants run at one or two learning rates have no range to show.
        counts = scores.groupby("variant")["lr"].nunique()
        scores = scores[scores["variant"].isin(counts.index[counts >= sensitivity.MIN_GRID])]
        setting = config["nets"][net].get("sensitivity", {}).get("trained_accuracy" if net == "vgg" else "trained_loss")
        level = sensitivity.trained_level(net, scores, setting)
        steps = sensitivity.steps_to_level(t["training"], net, level)
        steps = steps[steps["variant"].isin(set(scores["variant"]))]
        fig = lr_sensitivity(scores, steps, net, list(PAPER_LRS[net]), level)
        ranges = sensitivity.range_table(scores, net)
        listed = "; ".join(f"{r.variant} {fmt(r.usable_range)}x ({r.usable_lrs or 'none'})"
                           for r in ranges.itertuples())
        own = "; ".join(f"{r.variant} {fmt(r.own_best_range)}x" for r in ranges.itertuples())
        trains = "; ".join(f"{r.variant} {fmt(r.training_range)}x ({r.training_lrs or 'none'})"
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
                     f"{trains}." + said + claim_verdicts(t.get("claims"), 6, net)
                     + seeds_note(t["training"], net, sorted(shared), ["standard", "batchnorm"]))
    return draw


PAPER_SAYS = ("Paper (section 3.1) and the blog post: BN trains over a broader range of (and thus larger) learning "
              "rates.")
LR_SENSITIVITY_VGG = Spec("lr_sensitivity_vgg", "Learning-rate sensitivity, VGG", PAPER_SAYS, _lr_sensitivity("vgg"))
LR_SENSITIVITY_DLN = Spec("lr_sensitivity_dln", "Learning-rate sensitivity, DLN", PAPER_SAYS, _lr_sensitivity("dln"))
