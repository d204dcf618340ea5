"""Claim 7, beyond the paper: LayerNorm, GroupNorm and weight normalization train about
as well as BN and smooth the landscape like it (the paper's section 3.3 question, asked
of today's normalizations): claim 5's form, smoother than standard by both landscape
measures that claim 4 compares."""

from __future__ import annotations

import math

from ...tasks import metric_of
from ..measures import final_value, landscape_summary, ratio, runs_at
from ..verdicts import Judgement, SeedTables
from .against_batchnorm import against_batchnorm_and_standard, trains_like_batchnorm, trains_rule

NUMBER = 7
STATEMENT = ("Beyond the paper: LayerNorm, GroupNorm and weight normalization train about as well as BN and smooth "
             "the landscape like it (the paper's section 3.3 question, asked of today's normalizations).")
NEEDS = "layernorm, groupnorm or weightnorm runs beside batchnorm and standard at one lr"
# The normalizations in use today that the paper did not test.
MODERN_NORMS = ("layernorm", "groupnorm", "weightnorm")


def rows(split: SeedTables) -> list[dict]:
    def rule(net):
        return (f"{trains_rule(net)}; medians over probe steps: effective beta and gradient-change range below "
                "standard's")

    def judge_at(net, lr, norm):
        def judge(t):
            metric = metric_of(net)
            mine, bn, std = (final_value(runs_at(t["training"], net, v, lr), metric)
                             for v in (norm, "batchnorm", "standard"))
            numbers = {f"final {metric} {norm}": mine, f"final {metric} batchnorm": bn,
                       f"final {metric} standard": std}
            probed = [runs_at(t["landscape_steps"], net, v, lr) for v in (norm, "standard")]
            if any(p.empty for p in probed):  # trained without probes (a run group's probe: false)
                return Judgement(None, numbers)
            smooth, smooth_std = (landscape_summary(p) for p in probed)
            numbers |= {f"effective beta {norm}": smooth["effective beta"],
                        "effective beta standard": smooth_std["effective beta"],
                        f"gradient-change range {norm}": smooth["gradient-change range"],
                        "gradient-change range standard": smooth_std["gradient-change range"]}
            if any(math.isnan(v) for v in (mine, bn, *smooth.values(), *smooth_std.values())):
                return Judgement(None, numbers)
            smoother = all(smooth[k] < smooth_std[k] for k in ("effective beta", "gradient-change range"))
            return Judgement(trains_like_batchnorm(mine, bn, net) and smoother, numbers,
                             ratio(smooth["effective beta"], smooth_std["effective beta"]))
        return judge

    return against_batchnorm_and_standard(split, NUMBER, MODERN_NORMS, rule, judge_at,
                                          ("layernorm/groupnorm/weightnorm vs batchnorm and standard", NEEDS))
