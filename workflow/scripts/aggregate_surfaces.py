"""Snakemake adapter: every surface block and line into two tidy tables."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent))  # noqa: F821 (snakemake injects it)

from bnopt.analysis.tables import concat  # noqa: E402

sm = snakemake  # noqa: F821
with open(sm.log[0], "w") as log:
    for name, path in sm.output.items():
        table = concat(sm.input[name])
        table.to_parquet(path, index=False)
        print(f"{name}: {len(table)} rows from {len(sm.input[name])} files", file=log)
