"""Training curves (the paper's Fig. 1a-b, 2 and 5): does a network train, and how fast,
with BN, noisy BN and the other normalizations."""

from __future__ import annotations

import math

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from ...tasks import is_classifier, metric_of
from .. import measures
from ..measures import fmt
from .choices import (OTHER_NORMS, PAPER_LRS, TODAYS, Spec, claim_verdicts, diverged_note, lrs_for, need, per_lr,
                      seeds_note)
from .style import (PALETTE, NoData, across_seeds, apply_theme, at_lrs, clip_to_trained, legend, mark_cut_off,
                    median_and_band, require, smooth, variants_in)


def training_curves(training: pd.DataFrame, evals: pd.DataFrame, net: str = "vgg",
                    variants: list[str] | None = None, lrs: list[float] | None = None) -> plt.Figure:
    """Fig. 1 / 5: training accuracy (VGG; loss for the DLN) and test accuracy per lr,
    one colour per variant. Each seed's curve is smoothed over 2% of the run; with
    several seeds the line is their median and the band their range. A diverged
    seed's curve ends at the step it diverged, marked with an x; the loss axis is
    fitted to the seeds that did not diverge."""
    apply_theme()
    train = training[training["net"] == net]
    if lrs is not None:
        train = at_lrs(train, lrs)
    train = require(train[train["variant"].isin(variants_in(train, variants))], f"{net} training runs")
    test = evals[evals["net"] == net]
    lrs = sorted(train["lr"].unique())
    classifier = is_classifier(net)
    metric = metric_of(net)
    columns = 2 if classifier else 1
    fig, axes = plt.subplots(columns, len(lrs), figsize=(4.2 * len(lrs), 3.4 * columns), squeeze=False)
    for j, lr in enumerate(lrs):
        ax, kept, cut = axes[0, j], [], False
        for variant in variants_in(train[train["lr"] == lr], variants):
            runs = train[(train["lr"] == lr) & (train["variant"] == variant)].sort_values(["seed", "step"])
            smoothed = []
            for seed, run in runs.groupby("seed"):
                run = run.assign(smoothed=smooth(run, metric).to_numpy())
                smoothed.append(run)
                finite = np.isfinite(run["loss"].to_numpy(dtype=float)) & np.isfinite(run["smoothed"].to_numpy())
                if not finite.all():
                    last = run[finite].iloc[-1] if finite.any() else run.iloc[0]
                    ax.plot(last["step"], last["smoothed"] if metric == "loss" else 0, "x", color=PALETTE[variant],
                            ms=9, mew=2)
                    cut = True
                else:
                    kept.append(run["smoothed"].to_numpy())
            median_and_band(ax, across_seeds(pd.concat(smoothed), "step", "smoothed"), PALETTE[variant], variant)
            if classifier:
                t = test[(test["lr"] == lr) & (test["variant"] == variant)]
                median_and_band(axes[1, j], across_seeds(t, "step", "test_accuracy"), PALETTE[variant], marker=".")
        ax.set_title(f"{net.upper()}, lr = {lr:g}")
        ax.set_ylabel(f"training {metric}")
        if not classifier:
            ax.set_yscale("log")
            if cut and clip_to_trained(ax, kept):
                mark_cut_off(ax, "black")
        else:
            axes[1, j].set_ylabel("test accuracy")
            axes[1, j].set_xlabel("step")
        axes[-1, j].set_xlabel("step")
    fig.tight_layout()
    legend(fig)
    return fig


def _training_summary(t: dict, net: str, lrs: list[float], variants: list[str]) -> str:
    """What this run shows: per lr and variant, when an image classifier reaches the
    target accuracy and its final test accuracy; the DLN's final loss."""
    def describe(variant, lr):
        run = measures.runs_at(t["training"], net, variant, lr)
        if run.empty:
            return None
        if not is_classifier(net):
            return f"{variant} final loss {fmt(measures.final_value(run, 'loss'))}"
        test = measures.runs_at(t["evals"], net, variant, lr).sort_values("step")
        accuracy = float(test.groupby("seed")["test_accuracy"].last().median()) if len(test) else math.nan
        steps, target = measures.steps_to_accuracy(run), f"{measures.TARGET_ACCURACY:.0%} train accuracy"
        reached = f"reaches {target} at step {fmt(steps)}" if math.isfinite(steps) else f"never reaches {target}"
        return f"{variant} {reached}, final test accuracy {fmt(accuracy)}"

    return " This run: " + per_lr(lrs, variants, describe)


def _curves(variants: list[str], preferred: tuple[float, ...] | None, count: int | None = None, net: str = "vgg",
            optional: tuple[str, ...] = (), claim: int | None = None):
    """Fig. 1 / 2: an image net's training curves of `variants` (and of `optional` ones
    where the config runs them) at the paper's lrs (`preferred`; None: every lr they share)."""
    def draw(t, config):
        need(t["training"], net, variants, "runs")
        lrs, note = lrs_for(t["training"], net, variants, preferred, count)
        shown = variants_in(t["training"][t["training"]["net"] == net], [*variants, *optional])
        fig = training_curves(t["training"], t["evals"], net, shown, lrs)
        return fig, (note + _training_summary(t, net, lrs, shown) + (claim_verdicts(t.get("claims"), claim, net) if claim else "")
                     + seeds_note(t["training"], net, lrs, shown) + diverged_note(t["runs"], net, lrs, shown))
    return draw


def _fig5(net):
    def draw(t, config):
        variants = ["standard", "batchnorm", *OTHER_NORMS]
        need(t["training"], net, ["standard", "batchnorm"], "runs")
        present = variants_in(t["training"][t["training"]["net"] == net], variants)
        if not set(OTHER_NORMS) & set(present):
            raise NoData(f"needs {net} runs of another normalization ({', '.join(OTHER_NORMS)}); "
                         "this config has none")
        lrs, _ = lrs_for(t["training"], net, ["standard", "batchnorm"], None)
        fig = training_curves(t["training"], t["evals"], net, present, lrs)
        return fig, (_training_summary(t, net, lrs, present) + claim_verdicts(t.get("claims"), 5, net)
                     + claim_verdicts(t.get("claims"), 7, net)
                     + seeds_note(t["training"], net, lrs, present) + diverged_note(t["runs"], net, lrs, present))
    return draw


FIG01_TRAINING_VGG = Spec(
    "fig01_training_vgg", "Fig. 1a-b: VGG training and test accuracy, standard vs BN",
    "Paper: with BN, VGG trains faster, and at lr 0.5 the standard network does not train at all.",
    _curves(["standard", "batchnorm"], (0.1, 0.5)))
FIG02_TRAINING_NOISY_VGG = Spec(
    "fig02_training_noisy_vgg", "Fig. 2: VGG training with noisy BN",
    "Paper: BN with a random shift and scale injected after it at every step (noisy BN) trains about as "
    "well as BN, and far better than the standard network.",
    _curves(["standard", "batchnorm", "noisy_batchnorm"], PAPER_LRS["vgg"], 1))
FIG05_TRAINING_LP_VGG = Spec(
    "fig05_training_lp_vgg", "Fig. 5: VGG training with l_p (and today's) normalizations",
    "Paper: l1, l2 and l_inf normalization train about as well as BN (and better than the standard "
    "network)." + TODAYS, _fig5("vgg"))
FIG05_TRAINING_LP_DLN = Spec(
    "fig05_training_lp_dln", "Fig. 5: DLN training with l_p (and today's) normalizations",
    "Paper: in the DLN too, the l_p normalizations train about as well as BN." + TODAYS, _fig5("dln"))
FIG01_TRAINING_RESNET = Spec(
    "fig01_training_resnet", "Beyond the paper: ResNet training, standard vs BN vs Fixup",
    "Not in the paper: it left ResNets out (its footnote 4). Fig. 1 asked of a CIFAR ResNet, with Fixup (no "
    "normalization, its residual branches starting at zero) beside BN.",
    _curves(["standard", "batchnorm"], None, net="resnet", optional=("fixup",), claim=1))
