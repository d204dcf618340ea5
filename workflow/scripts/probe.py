"""Snakemake adapter: replay one segment of a run (or of each run of a DLN stack, one
after another in this process) and measure along it. Each run's inputs and outputs
are named by its path (bnopt.runs.Run.path)."""

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent))  # noqa: F821 (snakemake injects it)

from bnopt.measure.replay import TABLES, probe_segment, write_tables  # noqa: E402
from bnopt.training.train import run_name  # noqa: E402

sm = snakemake  # noqa: F821
start, end = sm.params.segment
specs = sm.params.specs if hasattr(sm.params, "specs") else [sm.params.spec]  # a stack, or one run
data = sm.input.get("data") or None
declared = {str(Path(path)) for path in sm.output}
with open(sm.log[0], "w") as log:
    for spec in specs:
        run = Path("results") / run_name(spec)
        out = {table: str(run / "probe" / f"segment~{start:06d}" / f"{table}.parquet") for table in TABLES}
        if not set(out.values()) <= declared:
            raise RuntimeError(f"the rule does not declare {run}'s probe outputs: its runs and specs disagree")
        trained_on = json.loads((run / "train" / "manifest.json").read_text())["device"]
        # Where and how strictly, not what: none of these is a param (none changes a result).
        tables = probe_segment(spec, sm.params.probe, data, run / "train" / "checkpoints",
                               run / "train" / "metrics.parquet", start, end, device=sm.config["device"],
                               threads=sm.threads, replay_rtol=sm.config["replay_rtol"], trained_on=trained_on,
                               log=log)
        write_tables(tables, spec, out)
