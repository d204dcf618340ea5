"""Snakemake adapter: the paper's stated numbers beside this config's, and every seed's value."""

import json
import sys
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(snakemake.scriptdir).parent))  # noqa: F821 (snakemake injects it)

from bnopt.analysis.scorecard import TABLES, load_paper_numbers, scorecard_and_values  # noqa: E402

sm = snakemake  # noqa: F821
tables = {name: pd.read_parquet(getattr(sm.input, name)) for name in TABLES}
card, values = scorecard_and_values(tables, json.loads(sm.params.config), load_paper_numbers(sm.input.numbers))
card.to_csv(sm.output.card, index=False)
values.to_parquet(sm.output.values, index=False)
with open(sm.log[0], "w") as log:
    print(card[["id", "net", "variant", "lr", "recipe", "paper", "this_median", "seeds", "paper_percentile",
                "agreement"]].to_string(index=False), file=log)
