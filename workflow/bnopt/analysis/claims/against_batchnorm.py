"""What claims 2, 5 and 7 share: "trains about as well as batchnorm", and a row per net,
learning rate and normalization run beside batchnorm and standard."""

from __future__ import annotations

from typing import Callable

from ...tasks import is_classifier
from ..measures import lrs_with
from ..verdicts import Check, SeedTables, claim_nets, evaluate, unmeasured

ACCURACY_SLACK = 0.05  # VGG: "trains about / at least as well" = final accuracy within this
LOSS_SLACK = 1.10  # DLN: final loss within this factor of BN's


def trains_rule(net: str) -> str:
    """The words of "trains about as well as batchnorm"."""
    return (f"final accuracy within {ACCURACY_SLACK:.0%} of batchnorm's" if is_classifier(net)
            else f"final loss within {LOSS_SLACK}x batchnorm's")


def trains_like_batchnorm(mine: float, batchnorm: float, net: str) -> bool:
    return mine >= batchnorm - ACCURACY_SLACK if is_classifier(net) else mine <= LOSS_SLACK * batchnorm


def against_batchnorm_and_standard(split: SeedTables, claim: int, norms: tuple[str, ...], rule: Callable,
                                   judge_at: Callable, missing: tuple[str, str]) -> list[dict]:
    """A row per net, lr and normalization in `norms` run beside batchnorm and
    standard; `rule(net)` is its rule's words, `judge_at(net, lr, norm)` its judge; a
    net with none gets the `missing` (comparison, needs) row."""
    rows = []
    training = split.tables["training"]
    for net in claim_nets(training):
        found = False
        for norm in norms:
            for lr in lrs_with(training, net, [norm, "batchnorm", "standard"]):
                found = True
                rows.append(evaluate(Check(claim, net, lr, f"{norm} vs batchnorm and standard",
                                           (norm, "batchnorm", "standard"), ("batchnorm", "standard"), rule(net),
                                           f"effective beta, {norm} / standard", judge_at(net, lr, norm)), split))
        if not found:
            rows.append(unmeasured(claim, net, *missing))
    return rows
