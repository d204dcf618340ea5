"""Claim 6: BN trains over a broader range of learning rates (the paper's section 3.1
and the blog post). A variant's usable learning rates and their range are
bnopt.analysis.sensitivity's; this claim compares batchnorm's with standard's, seed by
seed (each seed's grid on its own)."""

from __future__ import annotations

import math

from ...tasks import is_classifier
from ..sensitivity import MIN_GRID, USABLE_ACCURACY, USABLE_LOSS, final_scores, shared_lrs, usable_lrs, usable_range
from ..verdicts import AGGREGATE_RULE, FAILS, HOLDS, NOT_MEASURED, SeedTables, claim_nets, over_seeds

NUMBER = 6
STATEMENT = "BN trains over a broader range of learning rates (the paper's section 3.1 and the blog post)."
NEEDS = f"standard and batchnorm runs at >= {MIN_GRID} shared lrs"
RANGE_FACTOR = 4.0  # batchnorm's usable range is at least this many times standard's


def rows(split: SeedTables) -> list[dict]:
    """Per net: batchnorm's usable range >= RANGE_FACTOR x standard's, seed by seed (a
    seed with fewer than MIN_GRID learning rates shared by both is not measured) and
    aggregated as the other claims."""
    training = split.tables["training"]
    found = []
    rule = (f"usable lrs: where the final smoothed {{metric}} comes within {{level}} of the best run on the grid "
            f"(any variant); usable range = largest / smallest usable lr; batchnorm's range >= {RANGE_FACTOR:g}x "
            f"standard's (needs >= {MIN_GRID} shared lrs)")
    for net in claim_nets(training):
        metric, level = (("accuracy", f"{USABLE_ACCURACY:.0%}") if is_classifier(net)
                         else ("loss", f"{USABLE_LOSS:g}x"))
        scores = final_scores(training, net)
        scores = scores[scores["variant"].isin(["standard", "batchnorm"])]
        shared = shared_lrs(scores)
        row = dict(claim=NUMBER, net=net, lr=math.nan, comparison="batchnorm vs standard, lr grid",
                   effect="usable range, batchnorm / standard", rule=rule.format(metric=metric, level=level),
                   aggregate_rule=AGGREGATE_RULE, moot_because="")
        seeds = sorted(set(scores["seed"]))
        verdicts, effects, numbers = [], [], []
        for seed in seeds:
            mine = scores[scores["seed"] == seed]
            grid = shared_lrs(mine)
            if len(grid) < MIN_GRID:  # this seed's grid is too short to tell (e.g. a seed run at two lrs only)
                verdicts.append(NOT_MEASURED)
                continue
            ranges = {v: usable_range(lrs) for v, lrs in usable_lrs(mine[mine["lr"].isin(grid)], net).items()}
            bn, std = ranges.get("batchnorm", 0.0), ranges.get("standard", 0.0)
            verdicts.append(HOLDS if bn >= RANGE_FACTOR * std and bn > 0 else FAILS)
            effects.append(bn / std if std > 0 else math.inf)
            numbers.append({"usable range batchnorm": bn, "usable range standard": std})
        row.update(over_seeds(seeds, verdicts, effects, numbers, extra=f"grid: {len(shared)} shared lrs"))
        if not row["n"]:
            row["rule"] += f" (this config has {len(shared)} lrs with both)"
        found.append(row)
    return found
