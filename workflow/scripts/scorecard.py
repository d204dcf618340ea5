"""Snakemake adapter: the paper's stated numbers beside this config's."""

import json
import sys
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(snakemake.scriptdir).parent))  # noqa: F821 (snakemake injects it)

from bnopt.analysis.scorecard import TABLES, load_paper_numbers, scorecard  # noqa: E402

sm = snakemake  # noqa: F821
tables = {name: pd.read_parquet(getattr(sm.input, name)) for name in TABLES}
card = scorecard(tables, json.loads(sm.params.config), load_paper_numbers(sm.input.numbers))
card.to_csv(sm.output[0], index=False)
with open(sm.log[0], "w") as log:
    print(card[["id", "net", "variant", "lr", "paper", "this_median", "seeds", "agreement"]].to_string(index=False),
          file=log)
