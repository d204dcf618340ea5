"""Claim 4: with BN the loss varies less along the gradient, the gradient changes less,
and the effective beta-smoothness is lower and steadier (the paper's Fig. 4 and 5)."""

from __future__ import annotations

from ..measures import landscape_summary, lrs_with, ratio, runs_at
from ..verdicts import Check, Judgement, SeedTables, claim_nets, evaluate, unmeasured

NUMBER = 4
STATEMENT = ("With BN the loss varies less along the gradient, the gradient changes less, and the effective beta is "
             "lower and steadier.")
NEEDS = "landscape probes of standard and batchnorm"


def rows(split: SeedTables) -> list[dict]:
    found = []
    rule = ("medians over probe steps: batchnorm's loss range, gradient-change range and effective beta are "
            "lower than standard's, and so is the interquartile range of its effective beta")
    steps = split.tables["landscape_steps"]
    for net in claim_nets(split.tables["training"]):
        lrs = lrs_with(steps, net, ["standard", "batchnorm"]) if len(steps) else []
        if not lrs:
            found.append(unmeasured(NUMBER, net, "batchnorm vs standard", NEEDS))

        def judge_at(net, lr):
            def judge(t):
                bn, std = (landscape_summary(runs_at(t["landscape_steps"], net, v, lr))
                           for v in ("batchnorm", "standard"))
                numbers = {f"{k} {v}": s[k] for k in bn for v, s in (("batchnorm", bn), ("standard", std))}
                return Judgement(all(bn[k] < std[k] for k in bn), numbers,
                                 ratio(bn["effective beta"], std["effective beta"]))
            return judge

        found += [evaluate(Check(NUMBER, net, lr, "batchnorm vs standard", ("batchnorm", "standard"),
                                 ("batchnorm", "standard"), rule, "effective beta, batchnorm / standard",
                                 judge_at(net, lr), source="landscape_steps"), split) for lr in lrs]
    return found
