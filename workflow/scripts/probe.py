"""Snakemake adapter: replay one segment of a run, or of a DLN stack's runs together, and
measure along it. Each run's inputs and outputs are named by its path (bnopt.runs.Run.path)."""

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent))  # noqa: F821 (snakemake injects it)

from bnopt.measure.replay import TABLES, probe_stack, write_tables  # noqa: E402
from bnopt.training.train import run_name  # noqa: E402

sm = snakemake  # noqa: F821
start, end = sm.params.segment
specs = sm.params.specs if hasattr(sm.params, "specs") else [sm.params.spec]  # a stack, or one run
runs = [Path("results") / run_name(spec) for spec in specs]
outs = [{table: str(run / "probe" / f"segment~{start:06d}" / f"{table}.parquet") for table in TABLES} for run in runs]
declared = {str(Path(path)) for path in sm.output}
if not all(set(out.values()) <= declared for out in outs):
    raise RuntimeError("the rule does not declare every run's probe outputs: its runs and specs disagree")
with open(sm.log[0], "w") as log:
    # Where and how strictly, not what: none of these is a param (none changes a result).
    tables = probe_stack(specs, sm.params.probe, sm.input.get("data") or None, [run / "train" / "checkpoints" for run in runs],
                         [run / "train" / "metrics.parquet" for run in runs], start, end, device=sm.config["device"],
                         threads=sm.threads, replay_rtol=sm.config["replay_rtol"],
                         trained_on=[json.loads((run / "train" / "manifest.json").read_text())["device"] for run in runs],
                         log=log)
    for spec, run_tables, out in zip(specs, tables, outs):
        write_tables(run_tables, spec, out)
