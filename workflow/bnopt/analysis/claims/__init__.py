"""The paper's claims (five, and the learning-rate range its section 3.1 and the blog
post state) and, beyond the paper, claims 7 (today's normalizations) and 8 (skip
connections and Fixup against BatchNorm), each checked on the
measured tables by an explicit rule, seed by seed and across seeds
(bnopt.analysis.verdicts: the engine they share).

One module per claim, each declaring its NUMBER, STATEMENT, the runs it NEEDS and
`rows(split)`, the claims table's rows it measures (its rule and numbers inside). Adding
a claim is one module and one line in REGISTRY.
"""

from __future__ import annotations

from types import ModuleType

import pandas as pd

from ...defaults import DEFAULT_RECIPE, PAPER_TOKEN
from ..tables import of_recipe, recipes
from ..verdicts import COLUMNS, NOT_MEASURED, SeedTables
from . import (covariate_shift, faster_training, lp_norms, lr_range, noisy_batchnorm, skip_connections, smoothness,
               todays_norms)

# The claims, in the report's order.
REGISTRY: tuple[ModuleType, ...] = (faster_training, noisy_batchnorm, covariate_shift, smoothness, lp_norms, lr_range,
                                    todays_norms, skip_connections)
CLAIMS = {claim.NUMBER: claim.STATEMENT for claim in REGISTRY}
MODERN_NORMS = todays_norms.MODERN_NORMS


def claim(number: int) -> ModuleType:
    """The module of claim `number`."""
    return next(c for c in REGISTRY if c.NUMBER == number)


def check_claims(training: pd.DataFrame, landscape_steps: pd.DataFrame, ics: pd.DataFrame,
                 moments: pd.DataFrame, activations: pd.DataFrame) -> pd.DataFrame:
    """The claims table: one row per (claim, net, lr, recipe, comparison), seed by
    seed and aggregated (bnopt.analysis.verdicts). Each recipe's runs (one optimizer,
    initialization and loss: bnopt.training.recipe) are compared among themselves; the
    default recipe gets every claim's row, another recipe the rows it has runs for, its
    token in the comparison."""
    tables = dict(training=training, landscape_steps=landscape_steps, ics=ics, moments=moments,
                  activations=activations)
    rows, splits = [], {}
    for recipe in recipes(training):  # each recipe's tables, each able to read its siblings' (claim 8)
        splits[recipe] = SeedTables({name: of_recipe(table, recipe) for name, table in tables.items()}, recipe,
                                    splits)
    for recipe, split in splits.items():
        found = [dict(row, statement=c.STATEMENT) for c in REGISTRY for row in c.rows(split)]
        if recipe != DEFAULT_RECIPE:
            found = [dict(row, comparison=f"{row['comparison']} [{recipe}]") for row in found
                     if row["verdict"] != NOT_MEASURED]  # only what its runs measure
        optimizer = split.tables["training"]["optimizer"].iloc[0] if len(split.tables["training"]) else PAPER_TOKEN
        rows += [dict(row, optimizer=optimizer, recipe=recipe) for row in found]
    return pd.DataFrame(rows, columns=COLUMNS)
