"""The optimization landscape along the gradient (the paper's Fig. 4, 10, 11, 12 and
13): how much the loss and the gradient change over a step, and the effective
beta-smoothness; beyond the paper, the top Hessian eigenvalue against 2/lr."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns

from .. import measures
from ..measures import fmt
from .choices import (ALL_VARIANTS, ETA_SEEDS, PAPER_LRS, TODAYS, Spec, claim_verdicts, diverged_note, diverged_runs,
                      if_several_seeds, lrs_for, need, per_lr, seeds_note)
from .style import (PALETTE, across_seeds, apply_theme, at_lrs, clip_to_trained, is_diverged, legend, mark_cut_off,
                    median_and_band, require, variants_in)


def landscape(steps: pd.DataFrame, net: str, lrs: float | list[float],
              variants: list[str] | None = None, diverged: set = frozenset()) -> plt.Figure:
    """Fig. 4 / 10 / 12 / 13: along the gradient, per probe step, the range of the loss
    and of the gradient change over the step lengths (shaded bands; with several seeds
    the median over seeds of each seed's band), and the effective beta-smoothness
    (median over seeds, band: their range), log scales as in the paper; one row per lr.
    `diverged` holds (variant, lr, seed) of runs that diverged: the axes are fitted to
    the others and the diverged runs' values are cut off at the axis."""
    apply_theme()
    lrs = [lrs] if np.isscalar(lrs) else list(lrs)
    wanted = at_lrs(steps[steps["net"] == net], lrs)
    table = require(wanted, f"{net} landscape probes at lr {', '.join(f'{lr:g}' for lr in lrs)}")
    present = [lr for lr in lrs if np.isclose(table["lr"], lr).any()]
    fig, axes = plt.subplots(len(present), 3, figsize=(13, 3.6 * len(present)), squeeze=False)
    titles = ["loss landscape", "gradient predictiveness", "effective beta-smoothness"]
    labels = ["loss along the gradient", "||g - grad L(x - eta g)||", "max over eta of beta_eta"]
    bands = [("loss_min", "loss_max"), ("grad_change_min", "grad_change_max")]
    for i, lr in enumerate(present):
        sub = table[np.isclose(table["lr"], lr)]
        kept, cut = [[], [], []], False
        for variant in variants_in(sub, variants):
            runs = sub[sub["variant"] == variant]
            colour = PALETTE[variant]
            for k, (low, high) in enumerate(bands):
                band = runs.groupby("step")[[low, high]].median()
                axes[i, k].fill_between(band.index, band[low], band[high], color=colour, alpha=0.35,
                                        label=variant if k == 0 else None)
            median_and_band(axes[i, 2], across_seeds(runs, "step", "effective_beta"), colour, marker=".")
            for seed, run in runs.groupby("seed"):
                if is_diverged(diverged, variant, lr, seed):
                    cut = True
                    continue
                for k, columns in enumerate([*bands, ("effective_beta",)]):
                    kept[k].append(run[list(columns)].to_numpy())
        for k, (ax, title, label) in enumerate(zip(axes[i], titles, labels)):
            ax.set_title(f"{title} ({net.upper()}, lr = {lr:g})")
            ax.set_yscale("log")
            ax.set_xlabel("step")
            ax.set_ylabel(label)
            if cut and clip_to_trained(ax, kept[k]):
                mark_cut_off(ax, "black")
    fig.tight_layout()
    legend(fig)
    return fig


def gradient_change_vs_eta(landscape_table: pd.DataFrame, net: str, lr: float,
                           variants: list[str] | None = ("standard", "batchnorm")) -> plt.Figure:
    """Fig. 11: ||g - grad L(x - eta g)|| against the step length eta, one curve per
    probed training step (darker = later), per variant; with several seeds, the
    median over seeds (bands would hide the steps)."""
    apply_theme()
    table = require(landscape_table[(landscape_table["net"] == net) & np.isclose(landscape_table["lr"], lr)],
                    f"{net} landscape probes at lr {lr:g}")
    shown = variants_in(table, list(variants) if variants else None)
    fig, axes = plt.subplots(1, len(shown), figsize=(4.4 * len(shown), 3.6), squeeze=False, sharey=True)
    steps = sorted(table["step"].unique())
    colours = sns.color_palette("viridis_r", len(steps))
    for j, variant in enumerate(shown):
        ax = axes[0, j]
        for colour, step in zip(colours, steps):
            run = table[(table["variant"] == variant) & (table["step"] == step)]
            curve = run.groupby("eta")["grad_change"].median()
            ax.plot(curve.index, curve.to_numpy(), color=colour, marker=".", lw=1)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_title(f"{variant} ({net.upper()}, lr = {lr:g})")
        ax.set_xlabel("step length eta")
        ax.set_ylabel("||g - grad L(x - eta g)||")
    mappable = plt.cm.ScalarMappable(cmap="viridis_r", norm=plt.Normalize(min(steps), max(steps)))
    fig.colorbar(mappable, ax=axes[0, :].tolist(), label="training step")
    return fig


def curvature(curv: pd.DataFrame, net: str) -> plt.Figure:
    """Beyond the paper: the top Hessian eigenvalue over training with 2/lr (the
    stability threshold of gradient descent) as a dashed line, per lr (median over
    seeds, band: their range), on a log axis (symmetric log where a value is negative, so it shows below zero)."""
    apply_theme()
    table = require(curv[curv["net"] == net], f"{net} curvature probes")
    lrs = sorted(table["lr"].unique())
    fig, axes = plt.subplots(1, max(1, len(lrs)), figsize=(4.2 * max(1, len(lrs)), 3.4), squeeze=False)
    for j, lr in enumerate(lrs):
        ax = axes[0, j]
        sub = table[np.isclose(table["lr"], lr)]
        for variant in variants_in(sub, None):
            median_and_band(ax, across_seeds(sub[sub["variant"] == variant], "step", "top_eigenvalue"),
                            PALETTE[variant], variant, marker=".")
        ax.axhline(2.0 / lr, color="black", ls="--", lw=1, label="2 / lr")
        if (sub["top_eigenvalue"] > 0).all():
            ax.set_yscale("log")
        else:
            # The top eigenvalue can be negative (e.g. at initialization): a symmetric
            # log axis shows it below zero instead of dropping it.
            magnitudes = sub["top_eigenvalue"].abs()
            smallest = magnitudes[magnitudes > 0].min() if (magnitudes > 0).any() else 1.0
            ax.set_yscale("symlog", linthresh=10 ** np.floor(np.log10(min(smallest, 2.0 / lr))))
        ax.set_title(f"{net.upper()}, lr = {lr:g}")
        ax.set_xlabel("step")
        ax.set_ylabel("top Hessian eigenvalue")
    fig.tight_layout()
    legend(fig)
    return fig


def _landscape_summary(t: dict, net: str, lrs: list[float], variants: list[str]) -> str:
    def describe(variant, lr):
        run = measures.runs_at(t["landscape_steps"], net, variant, lr)
        if run.empty:
            return None
        s = measures.landscape_summary(run)
        return (f"{variant} effective beta {fmt(s['effective beta'])} (IQR {fmt(s['effective beta IQR'])}), "
                f"gradient-change range {fmt(s['gradient-change range'])}")

    return " This run, medians over probe steps: " + per_lr(lrs, variants, describe)


def _eta_summary(t: dict, net: str, lr: float, variants: list[str]) -> str:
    items = []
    for variant in variants:
        run = measures.runs_at(t["landscape"], net, variant, lr)
        if run.empty:
            continue
        small, large = run["eta"].min(), run["eta"].max()
        at = lambda eta: run.loc[np.isclose(run["eta"], eta), "grad_change"].median()  # noqa: E731
        items.append(f"{variant} median gradient change {fmt(at(small))} at eta = {small:.3g}, "
                     f"{fmt(at(large))} at eta = {large:.3g}")
    return f" This run (lr {lr:g}): " + "; ".join(items) + "."


def _curvature_summary(t: dict, net: str, lrs: list[float]) -> str:
    parts = []
    for lr in lrs:
        sub = t["curvature"][(t["curvature"]["net"] == net) & np.isclose(t["curvature"]["lr"], lr)]
        items = [f"{v} {fmt(sub.loc[sub['variant'] == v, 'top_eigenvalue'].median())}"
                 for v in variants_in(sub, None)]
        parts.append(f"lr {lr:g} (2/lr = {2 / lr:.3g}): " + ", ".join(items))
    return " This run, median top eigenvalue over probe steps: " + ". ".join(parts) + "."


def _landscape(net, variants, *claim_numbers):
    def draw(t, config):
        need(t["landscape_steps"], net, variants[:2], "landscape probes")
        present = variants_in(t["landscape_steps"][t["landscape_steps"]["net"] == net], variants)
        lrs, _ = lrs_for(t["landscape_steps"], net, ["standard", "batchnorm"], None)
        fig = landscape(t["landscape_steps"], net, lrs, present, diverged_runs(t["runs"], net))
        return fig, (_landscape_summary(t, net, lrs, present)
                     + "".join(claim_verdicts(t.get("claims"), claim, net) for claim in claim_numbers)
                     + seeds_note(t["landscape_steps"], net, lrs, present)
                     + diverged_note(t["runs"], net, lrs, present))
    return draw


def _fig11(net):
    def draw(t, config):
        variants = ["standard", "batchnorm"]
        need(t["landscape"], net, variants, "landscape probes")
        (lr,), note = lrs_for(t["landscape"], net, variants, PAPER_LRS[net], 1)
        fig = gradient_change_vs_eta(t["landscape"], net, lr, variants)
        return fig, note + _eta_summary(t, net, lr, variants) + if_several_seeds(t["landscape"], net, lr, ETA_SEEDS)
    return draw


def _curvature(net):
    def draw(t, config):
        fig = curvature(t["curvature"], net)
        lrs = sorted(t["curvature"].loc[t["curvature"]["net"] == net, "lr"].unique())
        return fig, (_curvature_summary(t, net, lrs) + seeds_note(t["curvature"], net, lrs, None)
                     + diverged_note(t["runs"], net, lrs, None))
    return draw


FIG04_LANDSCAPE_VGG = Spec(
    "fig04_landscape_vgg", "Fig. 4: VGG loss landscape, gradient predictiveness, effective beta",
    "Paper: with BN the loss varies less along the gradient, the gradient changes less, and the "
    "effective beta-smoothness is lower and steadier.", _landscape("vgg", ["standard", "batchnorm"], 4))
FIG10_LANDSCAPE_DLN = Spec(
    "fig10_landscape_dln", "Fig. 10: DLN loss landscape, gradient predictiveness, effective beta",
    "Paper: in the DLN too, BN makes the loss and the gradient change less along the gradient, with a "
    "lower effective beta.", _landscape("dln", ["standard", "batchnorm"], 4))
FIG11_GRAD_CHANGE_VS_ETA_VGG = Spec(
    "fig11_grad_change_vs_eta_vgg", "Fig. 11: VGG gradient change against step length",
    "Paper: for every step length eta and throughout training, the gradient changes less with BN.", _fig11("vgg"))
FIG11_GRAD_CHANGE_VS_ETA_DLN = Spec(
    "fig11_grad_change_vs_eta_dln", "Fig. 11: DLN gradient change against step length",
    "Paper: for every step length eta and throughout training, the gradient changes less with BN.", _fig11("dln"))
FIG12_LANDSCAPE_ALL_VGG = Spec(
    "fig12_landscape_all_vgg", "Fig. 12: VGG landscape under every normalization",
    "Paper: every normalization smooths the landscape like BN: lower loss and gradient-change ranges "
    "and a lower effective beta than the standard network." + TODAYS, _landscape("vgg", ALL_VARIANTS, 5, 7))
FIG13_LANDSCAPE_ALL_DLN = Spec(
    "fig13_landscape_all_dln", "Fig. 13: DLN landscape under every normalization",
    "Paper: in the DLN too, every normalization smooths the landscape like BN." + TODAYS,
    _landscape("dln", ALL_VARIANTS, 5, 7))
CURVATURE_VGG = Spec(
    "curvature_vgg", "Beyond the paper: VGG top Hessian eigenvalue",
    "Not in the paper: the top eigenvalue of the minibatch loss's Hessian (power iteration), with 2/lr "
    "dashed. Gradient descent is stable where it stays below 2/lr; an eigenvalue sitting at 2/lr marks "
    "training at the edge of stability.", _curvature("vgg"))
CURVATURE_DLN = Spec(
    "curvature_dln", "Beyond the paper: DLN top Hessian eigenvalue",
    "Not in the paper: the top Hessian eigenvalue with 2/lr dashed, as for VGG.", _curvature("dln"))
FIG04_LANDSCAPE_RESNET = Spec(
    "fig04_landscape_resnet", "Beyond the paper: ResNet loss landscape, standard vs BN vs Fixup",
    "Not in the paper: Fig. 4 asked of a CIFAR ResNet, with Fixup (no normalization) beside BN: do skip "
    "connections alone give the smoothness the paper credits to BN (claim 8)?",
    _landscape("resnet", ["standard", "batchnorm", "fixup"], 4, 8))
CURVATURE_RESNET = Spec(
    "curvature_resnet", "Beyond the paper: ResNet top Hessian eigenvalue",
    "Not in the paper: the top Hessian eigenvalue with 2/lr dashed, as for VGG.", _curvature("resnet"))
