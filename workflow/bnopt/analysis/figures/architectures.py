"""Beyond the paper, claim 8: do skip connections smooth the landscape like BatchNorm?
The standard ResNet (no normalization), its BatchNorm and Fixup nets and the plain net
of its depth (no skips) beside the VGG's standard and BatchNorm nets, at one lr: how
they train, and their effective beta and gradient change along the gradient."""

from __future__ import annotations

from dataclasses import dataclass

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from ...defaults import NO_SKIP
from ...runs import own_recipe
from .. import measures
from ..tables import of_recipes, plain_recipe
from ..measures import fmt
from .choices import Spec, claim_verdicts, diverged_note, seeds_note
from .style import PALETTE, NoData, across_seeds, apply_theme, legend, median_and_band, smooth


@dataclass(frozen=True)
class Arm:
    """One network the figure draws: its net, variant and recipe, and how it looks."""
    net: str
    variant: str
    recipe: str
    linestyle: str

    @property
    def label(self) -> str:
        return f"{self.net.upper()} {self.variant}" + (" (no skips)" if NO_SKIP in self.recipe.split("+") else "")


def arms_for(recipe: str) -> list[Arm]:
    """The networks of claim 8 under the ResNet's own recipe: VGG dashed, ResNet solid,
    the plain net dotted."""
    plain = plain_recipe(recipe)
    return [Arm("vgg", "standard", recipe, "--"), Arm("vgg", "batchnorm", recipe, "--"),
            Arm("resnet", "standard", recipe, "-"), Arm("resnet", "batchnorm", recipe, "-"),
            Arm("resnet", "fixup", recipe, "-"), Arm("resnet", "standard", plain, ":"),
            Arm("resnet", "batchnorm", plain, ":")]


def _of_recipes(table: pd.DataFrame, tokens: set[str]) -> pd.DataFrame:
    """The rows of `table` (runs' tables and the claims) of the recipes `tokens`."""
    if not isinstance(table, pd.DataFrame) or "net" not in table:
        return table
    return of_recipes(table, tokens)


def _rows(table: pd.DataFrame, arm: Arm, lr: float) -> pd.DataFrame:
    recipe = table["recipe"].astype(str) if "recipe" in table else pd.Series("", index=table.index)
    return measures.runs_at(table[recipe == arm.recipe], arm.net, arm.variant, lr)


def skips_and_batchnorm(training: pd.DataFrame, steps: pd.DataFrame, lr: float, arms: list[Arm]) -> plt.Figure:
    """Three panels at `lr`: smoothed training accuracy, effective beta and the
    gradient-change range along the gradient over training (log), each arm's median
    over seeds with the seeds' range as a band."""
    apply_theme()
    fig, axes = plt.subplots(1, 3, figsize=(15, 3.8))
    for arm in arms:
        colour = PALETTE[arm.variant]
        runs = _rows(training, arm, lr)
        if len(runs):
            curves = pd.concat([run.sort_values("step").assign(smoothed=smooth(run.sort_values("step"), "accuracy")
                                                               .to_numpy()) for _, run in runs.groupby("seed")])
            median_and_band(axes[0], across_seeds(curves, "step", "smoothed"), colour, arm.label,
                            linestyle=arm.linestyle)
        probed = _rows(steps, arm, lr)
        if len(probed):
            probed = probed.assign(grad_change_range=probed["grad_change_max"] - probed["grad_change_min"],
                                   effective_beta=probed["effective_beta"].replace([np.inf, -np.inf], np.nan))
            for ax, column in zip(axes[1:], ("effective_beta", "grad_change_range")):
                median_and_band(ax, across_seeds(probed, "step", column), colour, arm.label, marker=".",
                                linestyle=arm.linestyle)
    for ax, title, label in zip(axes, ("training", "effective beta-smoothness", "gradient predictiveness"),
                                ("smoothed training accuracy", "max over eta of beta_eta",
                                 "range of ||g - grad L(x - eta g)||")):
        ax.set_title(f"{title} (lr = {lr:g})")
        ax.set_xlabel("step")
        ax.set_ylabel(label)
    for ax in axes[1:]:
        ax.set_yscale("log")
    fig.tight_layout()
    legend(fig)
    return fig


def _summary(t: dict, arms: list[Arm], lr: float) -> str:
    parts = []
    for arm in arms:
        runs = _rows(t["training"], arm, lr)
        if runs.empty:
            continue
        accuracy = measures.final_value(runs, "accuracy")
        text = f"{arm.label} final smoothed accuracy {fmt(accuracy)}"
        probed = _rows(t["landscape_steps"], arm, lr)
        if len(probed):
            s = measures.landscape_summary(probed)
            text += (f", effective beta {fmt(s['effective beta'])}, gradient-change range "
                     f"{fmt(s['gradient-change range'])}")
        parts.append(text)
    return f" This run at lr {lr:g} (medians over seeds and probe steps): " + "; ".join(parts) + "."


def _draw(t, config):
    if "resnet" not in config["nets"]:
        raise NoData("this config has no resnet runs (nets.resnet is absent); config/architectures.yaml adds them")
    recipe = own_recipe(config, "resnet")  # the figure sees every recipe: this one and its plain net's
    arms = arms_for(recipe)
    t = {name: _of_recipes(table, {arm.recipe for arm in arms}) for name, table in t.items()}
    steps = t["landscape_steps"]
    resnet_lrs = set(steps.loc[(steps["net"] == "resnet") & (steps["variant"] == "standard"), "lr"].round(12))
    vgg_lrs = set(steps.loc[(steps["net"] == "vgg") & (steps["variant"] == "standard"), "lr"].round(12))
    shared = sorted(resnet_lrs & vgg_lrs)
    if not shared:
        raise NoData("needs landscape probes of the standard ResNet and the standard VGG at one lr; "
                     "config/architectures.yaml adds them to the quick config")
    # the lr with the most probed seeds of the standard ResNet (the lowest of a tie)
    lr = max(shared, key=lambda x: (_rows(steps, arms[2], x)["seed"].nunique(), -x))
    present = [arm for arm in arms if len(_rows(t["training"], arm, lr))]
    fig = skips_and_batchnorm(t["training"], steps, lr, present)
    plain = [a for a in present if a.linestyle == ":"]
    own = {name: _of_recipes(table, {recipe}) for name, table in t.items()}
    return fig, (_summary(t, present, lr) + claim_verdicts(t.get("claims"), 8)
                 + seeds_note(own["training"], "resnet", [lr], None) + diverged_note(t["runs"], "resnet", [lr], None)
                 + (" Dotted: the same ResNet without its skip connections." if plain else ""))


SKIPS_RESNET = Spec(
    "skips_resnet", "Beyond the paper (claim 8): skip connections against BatchNorm",
    "Not in the paper: it left ResNets out because their skip connections \"provide several similar benefits "
    "to BatchNorm\" (its footnote 4). Here the standard ResNet (no normalization, solid), its BN and Fixup nets, "
    "the same net without skips (dotted) and the VGG's standard and BN nets (dashed) at one lr, each net under "
    "its own defaults (the ResNet He-normal, the VGG the paper's Glorot) and schedule. If skips smooth the "
    "landscape like BN, the standard ResNet's effective beta and gradient change sit near the BN VGG's, below "
    "the standard VGG's and the plain net's.", _draw, every_recipe=True)
