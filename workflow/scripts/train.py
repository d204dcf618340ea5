"""Snakemake adapter: train one run (resuming if an earlier attempt left a checkpoint)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent))  # noqa: F821 (snakemake injects it)

from bnopt.training.train import run_training  # noqa: E402

sm = snakemake  # noqa: F821
with open(sm.log[0], "a") as log:
    run_training(
        sm.params.spec,
        sm.input.data if sm.input.data else None,
        out=dict(metrics=sm.output.metrics, evals=sm.output.evals, checkpoints=sm.output.checkpoints,
                 manifest=sm.output.manifest),
        # Where and how fast, not what: neither changes a result, so neither is a param.
        state_root=sm.config["state_dir"],
        device=sm.config["device"],
        threads=sm.threads,
        log=log,
    )
