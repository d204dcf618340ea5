"""Learning-rate sensitivity on synthetic grids whose answers are known: usable
learning rates and ranges, the standard network's break points, claim 6 per seed."""

import math

import numpy as np
import pandas as pd
import pytest

from bnopt.analysis import verdicts
from bnopt.analysis.claims import lr_range
from bnopt.analysis.sensitivity import break_points, final_scores, range_table, usable_lrs, usable_range
from bnopt.analysis.verdicts import SeedTables


def claim_6(training):
    return lr_range.rows(SeedTables({"training": training}))

GRID = [1e-7, 2e-7, 4e-7, 8e-7, 1.6e-6, 3.2e-6]


def _dln(final_losses: dict, seeds=(0,), steps=40):
    """{(variant, lr): final loss, or inf to diverge at step 3} -> a DLN training table
    whose runs fall from 1e4 to their final loss (flat over the last half)."""
    rows = []
    for seed in seeds:
        for (variant, lr), final in final_losses.items():
            for t in range(steps):
                if math.isinf(final):
                    loss = 1e4 if t < 3 else math.inf
                else:
                    loss = final if t >= steps // 2 else 1e4
                rows.append(dict(net="dln", variant=variant, lr=lr, seed=seed, step=t, loss=loss, accuracy=math.nan))
    return pd.DataFrame(rows)


# Standard: trains at the three smallest lrs (best 100 at 4e-7), stalls at 8e-7 (no
# progress), diverges from 1.6e-6. Batchnorm: within 2x of the best from 2e-7 to 3.2e-6.
STANDARD = dict(zip(GRID, [400.0, 150.0, 100.0, 1e4, math.inf, math.inf]))
BATCHNORM = dict(zip(GRID, [500.0, 180.0, 120.0, 110.0, 150.0, 190.0]))


def _table(seeds=(0,), standard=STANDARD, batchnorm=BATCHNORM):
    runs = {("standard", lr): v for lr, v in standard.items()} | {("batchnorm", lr): v for lr, v in batchnorm.items()}
    return _dln(runs, seeds)


def test_usable_learning_rates_and_ranges():
    scores = final_scores(_table(), "dln")
    usable = usable_lrs(scores, "dln")  # best: 100; usable: <= 200
    assert usable == {"batchnorm": [2e-7, 4e-7, 8e-7, 1.6e-6, 3.2e-6], "standard": [2e-7, 4e-7]}
    assert usable_range(usable["batchnorm"]) == pytest.approx(16.0)
    assert usable_range(usable["standard"]) == pytest.approx(2.0) and usable_range([]) == 0.0
    table = range_table(scores, "dln").set_index("variant")
    assert table.loc["batchnorm", "usable_range"] == pytest.approx(16.0)
    assert table.loc["standard", "usable_lrs"] == "2e-07, 4e-07"
    # Within 2x of its own best: standard's best is 100 too (<= 200 at 2e-7, 4e-7); batchnorm's
    # own best 110 (<= 220 from 2e-7 to 3.2e-6).
    assert table.loc["standard", "own_best_range"] == pytest.approx(2.0)
    assert table.loc["batchnorm", "own_best_range"] == pytest.approx(16.0)
    # Trains at all: standard up to 4e-7 (stalls at 8e-7, diverges after); batchnorm everywhere.
    assert table.loc["standard", "training_lrs"] == "1e-07, 2e-07, 4e-07"
    assert table.loc["batchnorm", "training_range"] == pytest.approx(32.0)


def test_own_best_range_is_the_flatness_of_each_variants_own_curve():
    """A variant that trains everywhere to a worse plateau has no usable lr against the
    grid's best, yet a wide range against its own."""
    worse = dict(zip(GRID, [900.0, 800.0, 800.0, 850.0, 1e4, math.inf]))
    table = range_table(final_scores(_table(standard=worse), "dln"), "dln").set_index("variant")
    assert table.loc["standard", "usable_range"] == 0.0
    assert table.loc["standard", "own_best_range"] == pytest.approx(8.0)  # 1e-7 .. 8e-7, all <= 1,600


def test_break_points_of_the_standard_network():
    points = break_points(final_scores(_table(), "dln"))
    assert points == {"diverges": 1.6e-6, "stops_training": 8e-7}
    assert all(math.isnan(v) for v in break_points(final_scores(_table(), "dln"), "l2").values())


def test_vgg_usable_level_is_relative_accuracy():
    rows = []
    for variant, accs in (("standard", [0.95, 0.5, 0.1]), ("batchnorm", [0.97, 0.99, 0.9])):
        for lr, acc in zip([0.01, 0.1, 1.0], accs):
            for t in range(20):
                rows.append(dict(net="vgg", variant=variant, lr=lr, seed=0, step=t, loss=1 - acc, accuracy=acc))
    usable = usable_lrs(final_scores(pd.DataFrame(rows), "vgg"), "vgg")  # best 0.99: usable >= 0.891
    assert usable == {"batchnorm": [0.01, 0.1, 1.0], "standard": [0.01]}


def test_claim_6_seed_by_seed():
    # Seeds 0 and 1 as above (16 / 2 = 8 >= 4: holds); in seed 2 standard trains as widely as batchnorm.
    wide = dict(zip(GRID, [500.0, 180.0, 120.0, 110.0, 150.0, 190.0]))
    table = pd.concat([_table(seeds=(0, 1)), _table(seeds=(2,), standard=wide)], ignore_index=True)
    row = {r["net"]: r for r in claim_6(table)}["dln"]
    assert row["seed_verdicts"] == f"{verdicts.HOLDS}, {verdicts.HOLDS}, {verdicts.FAILS}"
    assert (row["verdict"], row["k"], row["n"]) == (verdicts.HOLDS_MOST, 2, 3)
    assert row["effect_median"] == pytest.approx(8.0)
    assert "usable range batchnorm = 16" in row["numbers"]
    assert {r["net"]: r for r in claim_6(table)}["vgg"]["verdict"] == verdicts.NOT_MEASURED
    # Fewer than three shared learning rates: not measured, and the row says how many there are.
    few = table[table["lr"].isin(GRID[:2])]
    row = {r["net"]: r for r in claim_6(few)}["dln"]
    assert row["verdict"] == verdicts.NOT_MEASURED and "has 2 lrs with both" in row["rule"]


def test_a_standard_network_with_no_usable_lr_loses_claim_6_by_an_infinite_factor():
    never = dict(zip(GRID, [9e3, 9e3, math.inf, math.inf, math.inf, math.inf]))
    row = {r["net"]: r for r in claim_6(_table(standard=never))}["dln"]
    assert row["verdict"] == verdicts.HOLDS and np.isinf(row["effect_median"])
