"""Snakemake adapter: check the paper's claims on the aggregated tables."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent))  # noqa: F821 (snakemake injects it)

from bnopt.analysis.claims import check_claims  # noqa: E402
from bnopt.analysis.tables import read_table  # noqa: E402

sm = snakemake  # noqa: F821
# Text columns as categoricals: the same claims (checked on the quick config's tables),
# in about half the time, most of it selecting runs from the activations table.
tables = {name: read_table(path) for name, path in sm.input.items()}
claims = check_claims(**tables)
claims.to_csv(sm.output[0], index=False)
with open(sm.log[0], "w") as log:
    print(claims[["claim", "net", "lr", "comparison", "verdict", "holds_in", "seed_verdicts"]].to_string(index=False), file=log)
