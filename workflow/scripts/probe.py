"""Snakemake adapter: replay one checkpoint segment of a run and measure along it."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent))  # noqa: F821 (snakemake injects it)

from bnopt.replay import probe_segment, write_tables  # noqa: E402

sm = snakemake  # noqa: F821
start, end = sm.params.segment
with open(sm.log[0], "w") as log:
    tables = probe_segment(sm.params.spec, sm.params.probe, sm.input.data if sm.input.data else None,
                           sm.input.checkpoints, sm.input.metrics, start, end,
                           device=sm.config["device"], threads=sm.threads, log=log)
    write_tables(tables, sm.params.spec, dict(sm.output.items()))
