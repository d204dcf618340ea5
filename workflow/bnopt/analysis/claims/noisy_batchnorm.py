"""Claim 2: BN with noise injected after it (non-zero mean, non-unit variance, changing
every step) trains about as well as BN, although its activations' distributions move
far more than the standard network's (the paper's Fig. 2)."""

from __future__ import annotations

import math

from ..measures import final_value, lrs_with, moment_drift, ratio, runs_at
from ..verdicts import Check, Judgement, SeedTables, evaluate, unmeasured
from .against_batchnorm import ACCURACY_SLACK

NUMBER = 2
STATEMENT = ("Noisy BN trains about as well as BN although its activation distributions move far more than the "
             "standard network's.")
NEEDS = "VGG runs of standard, batchnorm and noisy_batchnorm at one lr"
VARIANTS = ("batchnorm", "noisy_batchnorm", "standard")


def rows(split: SeedTables) -> list[dict]:
    lrs = lrs_with(split.tables["training"], "vgg", list(VARIANTS))
    if not lrs:
        return [unmeasured(NUMBER, "vgg", "noisy_batchnorm vs batchnorm and standard", NEEDS)]
    rule = (f"noisy_batchnorm's final smoothed accuracy is within {ACCURACY_SLACK:.0%} of batchnorm's, and its "
            "median |mu_t+1 - mu_t| (from each probed step to the next step) at the probed layers exceeds "
            "standard's")

    def judge_at(lr):
        def judge(t):
            acc_bn, acc_noisy = (final_value(runs_at(t["training"], "vgg", v, lr), "accuracy")
                                 for v in ("batchnorm", "noisy_batchnorm"))
            drift_noisy, drift_std = (moment_drift(runs_at(t["moments"], "vgg", v, lr))
                                      for v in ("noisy_batchnorm", "standard"))
            numbers = {"final accuracy noisy_batchnorm": acc_noisy, "final accuracy batchnorm": acc_bn,
                       "|dmu| noisy_batchnorm": drift_noisy, "|dmu| standard": drift_std}
            if math.isnan(drift_noisy) or math.isnan(drift_std):
                return Judgement(None, numbers)
            return Judgement(acc_noisy >= acc_bn - ACCURACY_SLACK and drift_noisy > drift_std, numbers,
                             ratio(drift_noisy, drift_std))
        return judge

    return [evaluate(Check(NUMBER, "vgg", lr, "noisy_batchnorm vs batchnorm and standard", VARIANTS,
                           ("batchnorm", "standard"), rule, "|dmu|, noisy_batchnorm / standard", judge_at(lr)), split)
            for lr in lrs]
