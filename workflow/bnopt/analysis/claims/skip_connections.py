"""Claim 8, beyond the paper: skip connections smooth the landscape like BatchNorm. The
paper left ResNets out because their skips "provide several similar benefits to
BatchNorm" (its footnote 4); Li et al. (2018) saw skips flatten the loss surface, and
Fixup (Zhang et al. 2019) trains deep ResNets with no normalization. So, at one lr and
seed by seed: is the standard ResNet (no normalization) smoother than the standard
VGG, and as smooth as the BatchNorm VGG? Is it rougher without its skips (the plain
net of the same depth, the recipe "noskip")? And does Fixup train like the BatchNorm
ResNet?

The landscape numbers are claim 4's (medians over probe steps along the gradient), read
across two architectures: their scale depends on the net, which is why the with- and
without-skips row, one architecture, is the sharper test.
"""

from __future__ import annotations

import math

from ...defaults import NO_SKIP
from ..measures import did_not_train, final_value, landscape_summary, lrs_with, ratio
from ..tables import plain_recipe
from ..verdicts import Arm, Check, Judgement, SeedTables, evaluate, unmeasured
from .against_batchnorm import ACCURACY_SLACK, trains_like_batchnorm

NUMBER = 8
STATEMENT = ("Beyond the paper: skip connections smooth the landscape like BatchNorm: the standard ResNet's effective "
             "beta and gradient change are below the standard VGG's, its effective beta as low as the BatchNorm "
             "VGG's, its skips make it smoother than the plain net of its depth, and Fixup (no normalization) "
             "trains like the BatchNorm ResNet (the paper's footnote 4, tested).")
NEEDS = "nets.resnet runs of standard beside VGG standard and batchnorm at one lr, probed (config/architectures.yaml)"
SMOOTHNESS = ("effective beta", "gradient-change range")
RESNET, VGG = "resnet", "vgg"


def rows(split: SeedTables) -> list[dict]:
    if NO_SKIP in split.recipe.split("+"):
        return []  # the plain net is compared from its ResNet's recipe
    training, steps = split.tables["training"], split.tables["landscape_steps"]
    found = []
    plain = plain_recipe(split.recipe)
    resnet_std = Arm(RESNET, "standard")
    landscape_lrs = sorted(set(steps.loc[steps["net"] == RESNET, "lr"].round(12))) if len(steps) else []
    for lr in landscape_lrs:
        for variant in ("standard", "batchnorm"):
            vgg = Arm(VGG, variant)
            if split.seeds("landscape_steps", RESNET, lr, arms=(resnet_std, vgg)):
                found.append(_smoother(lr, resnet_std, vgg, below=variant == "standard", split=split))
        without = Arm(RESNET, "standard", plain)
        if split.seeds("landscape_steps", RESNET, lr, arms=(resnet_std, without)):
            found.append(_smoother(lr, resnet_std, without, below=True, split=split))
    for lr in lrs_with(training, RESNET, ["fixup", "batchnorm"]):
        found.append(evaluate(_fixup_trains(lr), split))
    return found or [unmeasured(NUMBER, RESNET, "standard ResNet vs VGG standard and batchnorm", NEEDS)]


def _smoother(lr: float, mine: Arm, other: Arm, below: bool, split: SeedTables) -> dict:
    """Is `mine` smoother than `other` (both SMOOTHNESS medians strictly below), or, when
    `below` is False, at least as smooth (effective beta at most `other`'s)?"""
    if below:
        rule = (f"medians over probe steps: the {mine.label}'s effective beta and gradient-change range are below "
                f"the {other.label}'s")
    else:
        rule = f"medians over probe steps: the {mine.label}'s effective beta is at most the {other.label}'s"
    if other.net != mine.net:  # what differs beside the architecture
        rule += (" (each net under its own config: its init, He-normal for the ResNet and the paper's Glorot for "
                 "the VGG, its schedule and its probe steps)")

    def judge(t):
        a, b = (t.runs(arm, "landscape_steps", lr) for arm in (mine, other))
        if a.empty or b.empty:
            return Judgement(None, {})
        mine_s, other_s = landscape_summary(a), landscape_summary(b)
        numbers = {f"{k} {arm.label}": s[k] for k in SMOOTHNESS for arm, s in ((mine, mine_s), (other, other_s))}
        if any(math.isnan(v) for v in numbers.values()):
            return Judgement(None, numbers)
        ok = (all(mine_s[k] < other_s[k] for k in SMOOTHNESS) if below
              else mine_s["effective beta"] <= other_s["effective beta"])
        return Judgement(ok, numbers, ratio(mine_s["effective beta"], other_s["effective beta"]))

    other_name = (f"VGG {other.variant}" if other.net == VGG else "no skips")
    return evaluate(Check(NUMBER, RESNET, lr, f"standard ResNet vs {other_name}", (), (), rule,
                          f"effective beta, {mine.label} / {other.label}", judge, source="landscape_steps",
                          arms=(mine, other), reference_arms=(mine, other)), split)


def _fixup_trains(lr: float) -> Check:
    rule = (f"the Fixup ResNet's final smoothed accuracy is within {ACCURACY_SLACK:.0%} of the BatchNorm ResNet's "
            "(no normalization, trained like it)")

    def judge(t):
        fixup_run = t.runs(Arm(RESNET, "fixup"), "training", lr)
        fixup, bn = (final_value(t.runs(Arm(RESNET, v), "training", lr), "accuracy") for v in ("fixup", "batchnorm"))
        numbers = {"final accuracy fixup": fixup, "final accuracy batchnorm": bn}
        if did_not_train(fixup_run, RESNET):  # diverged or stayed at chance: it does not train like BN
            return Judgement(False, numbers, fixup - bn if math.isfinite(fixup) else math.nan)
        if math.isnan(fixup) or math.isnan(bn):
            return Judgement(None, numbers)
        return Judgement(trains_like_batchnorm(fixup, bn, RESNET), numbers, fixup - bn)

    return Check(NUMBER, RESNET, lr, "fixup vs batchnorm", ("fixup", "batchnorm"), ("batchnorm",), rule,
                 "final smoothed accuracy, fixup - batchnorm", judge)
