"""Snakemake adapter: replay one checkpoint segment of a run and measure along it."""

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent))  # noqa: F821 (snakemake injects it)

from bnopt.measure.replay import probe_segment, write_tables  # noqa: E402

sm = snakemake  # noqa: F821
start, end = sm.params.segment
trained_on = json.loads(Path(sm.input.manifest).read_text())["device"]
with open(sm.log[0], "w") as log:
    # Where and how strictly, not what: none of these is a param (none changes a result).
    tables = probe_segment(sm.params.spec, sm.params.probe, sm.input.data if sm.input.data else None,
                           sm.input.checkpoints, sm.input.metrics, start, end, device=sm.config["device"],
                           threads=sm.threads, replay_rtol=sm.config["replay_rtol"], trained_on=trained_on, log=log)
    write_tables(tables, sm.params.spec, dict(sm.output.items()))
