"""Claim 5: l_p normalizations (l1, l2, l_inf) train at least as well as BN and smooth
the landscape too, while their activations are not Gaussian-like and move more (the
paper's section 3.3, Fig. 6 and 14)."""

from __future__ import annotations

import math

from ...tasks import metric_of
from ..measures import activation_shape, final_value, landscape_summary, moment_drift, ratio, runs_at
from ..verdicts import Judgement, SeedTables
from .against_batchnorm import against_batchnorm_and_standard, trains_like_batchnorm, trains_rule

NUMBER = 5
STATEMENT = ("l_p normalizations train at least as well as BN and smooth the landscape too, while their activation "
             "distributions are not Gaussian-like and move more.")
NEEDS = "l1/l2/linf, batchnorm and standard runs at one lr"
NORMS = ("l1", "l2", "linf")


def rows(split: SeedTables) -> list[dict]:
    def rule(net):
        return (f"{trains_rule(net)}; median effective beta below standard's; its activations' median distance "
                "from a Gaussian (KS to the fitted normal) and its median |mu_t+1 - mu_t| (successive steps) above "
                "batchnorm's")

    # Each seed's batchnorm activations are compared with each of the three norms': their
    # shape measured once, keyed by the seed's table (kept in the cache, so its id stays its own).
    shapes = {}

    def shape_of(activations, net, variant, lr):
        key = (id(activations), net, variant, lr)
        if key not in shapes:
            shapes[key] = (activations, activation_shape(runs_at(activations, net, variant, lr)))
        return shapes[key][1]

    def judge_at(net, lr, p):
        def judge(t):
            metric = metric_of(net)
            mine, bn = (final_value(runs_at(t["training"], net, v, lr), metric) for v in (p, "batchnorm"))
            beta, beta_std = (landscape_summary(runs_at(t["landscape_steps"], net, v, lr))["effective beta"]
                              for v in (p, "standard"))
            (shape, kurt), (shape_bn, kurt_bn) = (shape_of(t["activations"], net, v, lr) for v in (p, "batchnorm"))
            drift, drift_bn = (moment_drift(runs_at(t["moments"], net, v, lr)) for v in (p, "batchnorm"))
            numbers = {f"final {metric} {p}": mine, f"final {metric} batchnorm": bn,
                       f"effective beta {p}": beta, "effective beta standard": beta_std,
                       f"distance from Gaussian {p}": shape, "distance from Gaussian batchnorm": shape_bn,
                       f"|excess kurtosis| {p}": kurt, "|excess kurtosis| batchnorm": kurt_bn,
                       f"|dmu| {p}": drift, "|dmu| batchnorm": drift_bn}
            if any(math.isnan(v) for v in (beta, beta_std, shape, shape_bn, drift, drift_bn)):
                return Judgement(None, numbers)
            ok = (trains_like_batchnorm(mine, bn, net) and beta < beta_std and shape > shape_bn
                  and drift > drift_bn)
            return Judgement(ok, numbers, ratio(beta, beta_std))
        return judge

    return against_batchnorm_and_standard(split, NUMBER, NORMS, rule, judge_at, ("l_p vs batchnorm and standard", NEEDS))
