"""Snakemake adapter: train one run, or a stack of DLN runs, resuming from any checkpoint
an earlier attempt left. Each run's outputs are named by its path (bnopt.runs.Run.path)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent))  # noqa: F821 (snakemake injects it)

from bnopt.training.train import run_batch, run_name, run_outputs  # noqa: E402

sm = snakemake  # noqa: F821
data = sm.input.get("data") or None
specs = sm.params.specs if hasattr(sm.params, "specs") else [sm.params.spec]  # a stack, or one run
outs = [run_outputs(Path("results") / run_name(spec) / "train") for spec in specs]
declared = {str(Path(path)) for path in sm.output}
missing = [str(path) for out in outs for path in out.values() if str(path) not in declared]
if missing:
    raise RuntimeError(f"the rule does not declare the outputs {missing}: its runs and specs disagree")
with open(sm.log[0], "a") as log:
    run_batch(
        specs, data, outs,
        # Where and how fast, not what: neither changes a result, so neither is a param.
        state_root=sm.config["state_dir"],
        device=sm.config["device"],
        threads=sm.threads,
        log=log,
    )
