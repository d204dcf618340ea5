"""Activation distributions (the paper's Fig. 1c, 2, 6 and 8): how the inputs to each
layer move over training, with BN, noisy BN and the other normalizations, and that
their stability does not explain BN's gain."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from .. import measures
from ..measures import fmt
from .choices import (HISTOGRAM_SEEDS, OTHER_NORMS, PAPER_LRS, TODAYS, Spec, activation_layers, claim_verdicts,
                      if_several_seeds, layers_by_position, lrs_for, need, seeds_note)
from .style import PALETTE, NoData, across_seeds, apply_theme, legend, median_and_band, require, variants_in

HISTOGRAMS_PER_ROW = 4


def activation_histograms(activations: pd.DataFrame, net: str, lr: float, layers: list[int],
                          variants: list[str] | None = ("standard", "batchnorm", "noisy_batchnorm"),
                          bins: int = 60) -> plt.Figure:
    """Fig. 1c / 2 / 6 / 9: the distribution of one recorded unit's values (after
    normalization and noise, before the ReLU) at each probe step, stacked as a
    ridgeline with training going down; the lowest seed of each variant."""
    apply_theme()
    table = require(activations[(activations["net"] == net) & np.isclose(activations["lr"], lr)
                                & activations["layer"].isin(layers)], f"{net} activations at lr {lr:g}")
    # One seed's distributions (the lowest seed each variant has): histograms of
    # several seeds would blur the shapes the figure is about.
    table = table[table["seed"] == table.groupby("variant")["seed"].transform("min")]
    shown = variants_in(table, list(variants) if variants else None)
    present = sorted(set(table["layer"]))
    # One row per variant and one column per layer; a single layer puts the variants side by
    # side, HISTOGRAMS_PER_ROW to a row (every normalization would make one row too wide to read).
    side_by_side = len(present) == 1
    if side_by_side:
        columns = min(len(shown), HISTOGRAMS_PER_ROW)
        rows = -(-len(shown) // columns)
    else:
        rows, columns = len(shown), len(present)
    fig, axes = plt.subplots(rows, columns, figsize=(3.4 * columns, 3.0 * rows), squeeze=False)
    for ax in axes.flat[len(shown):] if side_by_side else []:
        ax.set_axis_off()
    for i, variant in enumerate(shown):
        for j, layer in enumerate(present):
            ax = axes[i // columns, i % columns] if side_by_side else axes[i, j]
            sub = table[(table["variant"] == variant) & (table["layer"] == layer)]
            if sub.empty:
                ax.set_axis_off()
                continue
            unit = sorted(sub["unit"].unique())[0]
            sub = sub[sub["unit"] == unit]
            steps = sorted(sub["step"].unique())
            low, high = np.nanpercentile(sub["value"], [0.5, 99.5])
            edges = np.linspace(low, high, bins + 1)
            for k, step in enumerate(steps):
                counts, _ = np.histogram(sub.loc[sub["step"] == step, "value"], bins=edges, density=True)
                counts = counts / counts.max() if counts.max() > 0 else counts
                offset = (len(steps) - 1 - k) * 0.6
                ax.fill_between(edges[:-1], offset, offset + counts, step="post", color=PALETTE[variant], alpha=0.6,
                                lw=0.5, edgecolor="black")
            ax.set_yticks([(len(steps) - 1 - k) * 0.6 for k in range(len(steps))], [str(s) for s in steps],
                          fontsize=7)
            ax.set_title(f"{variant}, layer #{layer}, unit {unit}", fontsize=9)
            if ax in axes[:, 0]:
                ax.set_ylabel("step")
            ax.grid(False)
    fig.suptitle(f"{net.upper()} activations before the non-linearity, lr = {lr:g}", y=1.0)
    fig.tight_layout()
    return fig


def moment_drift(moments: pd.DataFrame, net: str, lr: float, layers: list[int],
                 variants: list[str] | None = ("standard", "batchnorm", "noisy_batchnorm")) -> plt.Figure:
    """Fig. 8: how the per-unit mean and variance move. Rows 1-2: between two
    successive steps, |mu_t+1 - mu_t| and |var_t+1 - var_t| (step t+1 after step t's
    update, on its own minibatch and noise); rows 3-4: since the start, |mu_t - mu_0|
    and |var_t - var_0|. Each point is the median over the layer's units (then the
    median over seeds, band: their range)."""
    apply_theme()
    table = require(moments[(moments["net"] == net) & np.isclose(moments["lr"], lr) & moments["layer"].isin(layers)],
                    f"{net} activation moments at lr {lr:g}")
    present = sorted(set(table["layer"]))
    rows = [("|mu_t+1 - mu_t|", "dmean"), ("|var_t+1 - var_t|", "dvar"), ("|mu_t - mu_0|", "mean0"),
            ("|var_t - var_0|", "var0")]
    fig, axes = plt.subplots(len(rows), len(present), figsize=(3.8 * len(present), 2.7 * len(rows)), squeeze=False)
    for j, layer in enumerate(present):
        for variant in variants_in(table, list(variants) if variants else None):
            unit = table[(table["layer"] == layer) & (table["variant"] == variant)]
            unit = unit.sort_values(["seed", "unit", "step"])
            first = unit.groupby(["seed", "unit"])[["mean", "var"]].transform("first")
            drift = unit.assign(dmean=(unit["mean_next"] - unit["mean"]).abs(),
                                dvar=(unit["var_next"] - unit["var"]).abs(),
                                mean0=(unit["mean"] - first["mean"]).abs(), var0=(unit["var"] - first["var"]).abs())
            # Per seed, the median over the layer's units; then across seeds.
            per_step = drift.groupby(["seed", "step"])[[column for _, column in rows]].median().reset_index()
            since_start = per_step["step"] > per_step["step"].min()  # |x_0 - x_0| = 0 has no place on a log axis
            for i, (_, column) in enumerate(rows):
                shown = per_step if i < 2 else per_step[since_start]
                median_and_band(axes[i, j], across_seeds(shown, "step", column), PALETTE[variant],
                                variant if i == 0 else None, marker=".")
        axes[0, j].set_title(f"{net.upper()} layer #{layer}, lr = {lr:g}")
        for i, (label, _) in enumerate(rows):
            axes[i, j].set_ylabel(label)
            axes[i, j].set_yscale("log")
        axes[-1, j].set_xlabel("step")
    fig.tight_layout()
    legend(fig)
    return fig


def _distribution_summary(t: dict, net: str, lr: float, layers: list[int], variants: list[str]) -> str:
    items = []
    for variant in variants:
        acts = measures.runs_at(t["activations"], net, variant, lr)
        moms = measures.runs_at(t["moments"], net, variant, lr)
        acts, moms = acts[acts["layer"].isin(layers)], moms[moms["layer"].isin(layers)]
        if acts.empty and moms.empty:
            continue
        distance, kurtosis = measures.activation_shape(acts)
        items.append(f"{variant} median distance from a Gaussian {fmt(distance)} (|excess kurtosis| {fmt(kurtosis)}), "
                     f"median |mu_t+1 - mu_t| {fmt(measures.moment_drift(moms))}")
    return f" This run (lr {lr:g}, layers {', '.join(map(str, layers))}): " + "; ".join(items) + "."


def _histograms(variants: list[str], paper_layers: tuple[int, ...]):
    """Fig. 1c / 2: the histograms of `variants` at the config's layers standing where
    the paper's `paper_layers` stand."""
    def draw(t, config):
        need(t["activations"], "vgg", variants, "activation probes")
        (lr,), note = lrs_for(t["activations"], "vgg", variants, PAPER_LRS["vgg"], 1)
        layers = layers_by_position(activation_layers(config, "vgg"), "vgg", paper_layers)
        fig = activation_histograms(t["activations"], "vgg", lr, layers, variants)
        return fig, (note + _distribution_summary(t, "vgg", lr, layers, variants)
                     + if_several_seeds(t["activations"], "vgg", lr, HISTOGRAM_SEEDS))
    return draw


def _fig6(t, config):
    variants = ["standard", "batchnorm", *OTHER_NORMS]
    present = variants_in(t["activations"][t["activations"]["net"] == "vgg"], variants)
    if not set(OTHER_NORMS) & set(present):
        raise NoData(f"needs vgg activation probes of another normalization ({', '.join(OTHER_NORMS)}); "
                     "this config has none")
    (lr,), note = lrs_for(t["activations"], "vgg", present, PAPER_LRS["vgg"], 1)
    layers = layers_by_position(activation_layers(config, "vgg"), "vgg", (11,))
    fig = activation_histograms(t["activations"], "vgg", lr, layers, present)
    return fig, (note + _distribution_summary(t, "vgg", lr, layers, present)
                 + if_several_seeds(t["activations"], "vgg", lr, HISTOGRAM_SEEDS))


def _fig8(t, config):
    variants = ["standard", "batchnorm", "noisy_batchnorm"]
    need(t["moments"], "vgg", variants, "activation probes")
    (lr,), note = lrs_for(t["moments"], "vgg", variants, PAPER_LRS["vgg"], 1)
    layers = layers_by_position(activation_layers(config, "vgg"), "vgg", (2, 9, 13))
    fig = moment_drift(t["moments"], "vgg", lr, layers, variants)
    return fig, (note + _distribution_summary(t, "vgg", lr, layers, variants) + claim_verdicts(t.get("claims"), 2)
                 + seeds_note(t["moments"], "vgg", [lr], variants))


FIG01C_ACTIVATIONS_VGG = Spec(
    "fig01c_activations_vgg", "Fig. 1c: VGG activation distributions over training, standard vs BN",
    "Paper: the distributions of the standard network's activations are not visibly less stable than "
    "BN's, so stability alone does not explain BN's gain.", _histograms(["standard", "batchnorm"], (3, 11)))
FIG02_ACTIVATIONS_NOISY_VGG = Spec(
    "fig02_activations_noisy_vgg", "Fig. 2: activation distributions with noisy BN",
    "Paper: noisy BN's distributions move far more than the standard network's, yet it trains like BN.",
    _histograms(["standard", "batchnorm", "noisy_batchnorm"], (2, 9, 13)))
FIG06_ACTIVATIONS_LP_VGG = Spec(
    "fig06_activations_lp_vgg", "Fig. 6: activation distributions under every normalization",
    "Paper: the l_p normalizations' activations are not Gaussian-like and do not stabilize the "
    "distributions, yet those networks train as well as BN." + TODAYS, _fig6)
FIG08_MOMENT_DRIFT_VGG = Spec(
    "fig08_moment_drift_vgg", "Fig. 8: moment drift, standard vs BN vs noisy BN",
    "Paper: noisy BN's per-unit mean and variance change far more between steps than the standard "
    "network's; BN's change least.", _fig8)
