"""Internal covariate shift (the paper's Fig. 3): how much a layer's gradient changes
when the layers before it are updated, standard vs BN."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from .. import measures
from ..measures import fmt
from .choices import PAPER_LRS, Spec, claim_verdicts, diverged_note, ics_layers, lrs_for, need, per_lr, seeds_note
from .style import PALETTE, across_seeds, apply_theme, at_lrs, legend, median_and_band, require, variants_in


def internal_covariate_shift(ics: pd.DataFrame, net: str, layers: list[int]) -> plt.Figure:
    """Fig. 3: ||G - G'|| and cos(G, G') over training, standard vs BN, per lr and layer
    (median over seeds, band: their range)."""
    apply_theme()
    table = require(ics[(ics["net"] == net) & ics["layer"].isin(layers)], f"{net} ICS probes at layers {layers}")
    lrs = sorted(table["lr"].unique())
    fig, axes = plt.subplots(2, max(1, len(lrs) * len(layers)), figsize=(3.6 * max(1, len(lrs) * len(layers)), 6),
                             squeeze=False)
    for k, (lr, layer) in enumerate((lr, layer) for lr in lrs for layer in layers):
        for variant in variants_in(table, ["standard", "batchnorm"]):
            runs = table[np.isclose(table["lr"], lr) & (table["layer"] == layer) & (table["variant"] == variant)]
            median_and_band(axes[0, k], across_seeds(runs, "step", "l2"), PALETTE[variant], variant, marker=".")
            median_and_band(axes[1, k], across_seeds(runs, "step", "cosine"), PALETTE[variant], marker=".")
        axes[0, k].set_title(f"{net.upper()} layer #{layer}, lr = {lr:g}")
        axes[0, k].set_yscale("log")
        axes[0, k].set_ylabel("||G - G'||")
        axes[1, k].set_ylabel("cos(G, G')")
        axes[1, k].set_xlabel("step")
    fig.tight_layout()
    legend(fig)
    return fig


def _ics_summary(t: dict, net: str, lrs: list[float], layers: list[int]) -> str:
    def describe(variant, lr):
        run = measures.runs_at(t["ics"], net, variant, lr)
        run = run[run["layer"].isin(layers)]
        if run.empty:
            return None
        return f"{variant} ||G - G'|| {fmt(run['l2'].median())}, cos {fmt(run['cosine'].median())}"

    return (" This run, medians over probe steps at the shown layers: "
            + per_lr(lrs, ["standard", "batchnorm"], describe))


def _fig3(net, preferred):
    def draw(t, config):
        need(t["ics"], net, ["standard", "batchnorm"], "ICS probes")
        lrs, note = lrs_for(t["ics"], net, ["standard", "batchnorm"], preferred, 2)
        layers = ics_layers(t["ics"], net)
        fig = internal_covariate_shift(at_lrs(t["ics"], lrs), net, layers)
        return fig, (f" Layers {', '.join(map(str, layers))} (the paper's relative depths)." + note
                     + _ics_summary(t, net, lrs, layers) + claim_verdicts(t.get("claims"), 3, net)
                     + seeds_note(t["ics"], net, lrs, ["standard", "batchnorm"])
                     + diverged_note(t["runs"], net, lrs, ["standard", "batchnorm"]))
    return draw


FIG03_ICS_VGG = Spec(
    "fig03_ics_vgg", "Fig. 3: internal covariate shift, VGG",
    "Paper: BN does not reduce ICS: with BN, ||G - G'|| is similar or larger and cos(G, G') similar or "
    "smaller.", _fig3("vgg", PAPER_LRS["vgg"][::2]))
FIG03_ICS_DLN = Spec(
    "fig03_ics_dln", "Fig. 3: internal covariate shift, deep linear network",
    "Paper: in the DLN, BN's ICS is far larger: ||G - G'|| large and cos(G, G') near 0, while the "
    "standard network's G' is almost G.", _fig3("dln", PAPER_LRS["dln"]))
FIG03_ICS_RESNET = Spec(
    "fig03_ics_resnet", "Beyond the paper: internal covariate shift, ResNet",
    "Not in the paper: Fig. 3 asked of a CIFAR ResNet (layers numbered conv by conv, the classifier last).",
    _fig3("resnet", PAPER_LRS["resnet"][::2]))
