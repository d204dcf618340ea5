"""Claim 1: with BN, VGG trains faster at the same learning rate, and still trains at a
large one (0.5) where the standard network does not (the paper's Fig. 1)."""

from __future__ import annotations

import math

from ..measures import TARGET_ACCURACY, final_value, lrs_with, ratio, runs_at, steps_to_accuracy
from ...tasks import is_classifier
from ..verdicts import Check, Judgement, SeedTables, claim_nets, evaluate, unmeasured

NUMBER = 1
STATEMENT = ("With BN, VGG trains faster at the same learning rate, and still trains at 0.5, where the standard "
             "network does not (beyond the paper: asked of every image classifier the config runs, the ResNet too).")
NEEDS = "VGG runs of standard and batchnorm at one lr"
LARGE_LR = 0.5  # the paper's large learning rate


def rows(split: SeedTables) -> list[dict]:
    """The VGG's rows (the paper's claim), and the same asked of any other image
    classifier the config runs (the ResNet), beyond the paper."""
    nets = [net for net in claim_nets(split.tables["training"], ("vgg",)) if is_classifier(net)]
    return [row for net in nets for row in _rows(split, net)]


def _rows(split: SeedTables, net: str) -> list[dict]:
    training = split.tables["training"]
    lrs = lrs_with(training, net, ["standard", "batchnorm"])
    if not lrs:
        return [unmeasured(NUMBER, net, "batchnorm vs standard", NEEDS)]
    rule = (f"steps until the smoothed minibatch accuracy first reaches {TARGET_ACCURACY:.0%}: "
            "batchnorm reaches it, and sooner than standard (which may never)")

    def speed(lr):
        def judge(t):
            bn_run, std_run = (runs_at(t["training"], net, v, lr) for v in ("batchnorm", "standard"))
            bn, std = steps_to_accuracy(bn_run), steps_to_accuracy(std_run)
            length = float(max(len(bn_run), len(std_run)))
            return Judgement(math.isfinite(bn) and bn < std, {"steps batchnorm": bn, "steps standard": std},
                             ratio(min(bn, length), min(std, length)))
        return judge

    checks = [Check(NUMBER, net, lr, "batchnorm vs standard", ("batchnorm", "standard"), (), rule,
                    "steps to the target, batchnorm / standard (never = the run's length)", speed(lr)) for lr in lrs]
    largest = max(lrs)

    def survives(t):
        bn, std = (final_value(runs_at(t["training"], net, v, largest), "accuracy") for v in ("batchnorm", "standard"))
        ok = bn >= TARGET_ACCURACY > std if largest >= LARGE_LR else None
        return Judgement(ok, {"final accuracy batchnorm": bn, "final accuracy standard": std}, bn - std)

    rule = (f"at the largest lr ({largest:g}): batchnorm's final smoothed accuracy reaches {TARGET_ACCURACY:.0%}, "
            "standard's does not" + ("" if largest >= LARGE_LR else f" (needs an lr of {LARGE_LR:g} or more)"))
    checks.append(Check(NUMBER, net, largest, "batchnorm vs standard, large lr", ("batchnorm", "standard"), (), rule,
                        "final smoothed accuracy, batchnorm - standard", survives))
    return [evaluate(c, split) for c in checks]
