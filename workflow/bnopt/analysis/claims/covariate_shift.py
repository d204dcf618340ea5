"""Claim 3: BN does not reduce internal covariate shift in the paper's optimization
sense: ||G - G'|| is similar or larger, and cos(G, G') similar or smaller, with BN
(the paper's Fig. 3 and its DLN counterpart)."""

from __future__ import annotations

from ..measures import lrs_with, ratio, runs_at
from ..verdicts import Check, Judgement, SeedTables, claim_nets, evaluate, unmeasured

NUMBER = 3
STATEMENT = "BN does not reduce ICS: ||G - G'|| is similar or larger, and cos(G, G') similar or smaller, with BN."
NEEDS = "ICS probes of standard and batchnorm"
SIMILAR = 1.25  # "similar" = within this factor
COSINE_SLACK = 0.05  # cos(G, G') "similar" = within this


def rows(split: SeedTables) -> list[dict]:
    found = []
    rule = (f"medians over probe steps and layers >= 2: ||G - G'|| with batchnorm >= standard's / {SIMILAR}, "
            f"and cos(G, G') with batchnorm <= standard's + {COSINE_SLACK}")
    ics = split.tables["ics"]
    for net in claim_nets(split.tables["training"]):
        lrs = lrs_with(ics[ics["layer"] >= 2], net, ["standard", "batchnorm"]) if len(ics) else []
        if not lrs:
            found.append(unmeasured(NUMBER, net, "batchnorm vs standard", NEEDS))

        def judge_at(net, lr):
            def judge(t):
                deep = t["ics"][t["ics"]["layer"] >= 2]
                bn, std = (runs_at(deep, net, v, lr) for v in ("batchnorm", "standard"))
                l2_bn, l2_std = bn["l2"].median(), std["l2"].median()
                cos_bn, cos_std = bn["cosine"].median(), std["cosine"].median()
                numbers = {"l2 batchnorm": l2_bn, "l2 standard": l2_std, "cos batchnorm": cos_bn,
                           "cos standard": cos_std}
                return Judgement(l2_bn >= l2_std / SIMILAR and cos_bn <= cos_std + COSINE_SLACK, numbers,
                                 ratio(l2_bn, l2_std))
            return judge

        found += [evaluate(Check(NUMBER, net, lr, "batchnorm vs standard", ("batchnorm", "standard"),
                                 ("batchnorm", "standard"), rule, "||G - G'||, batchnorm / standard",
                                 judge_at(net, lr), source="ics"), split) for lr in lrs]
    return found
