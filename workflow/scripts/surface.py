"""Snakemake adapter: one block of grid rows of a run's loss surface (rule surface),
or its line from the initial weights (rule interpolation)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent))  # noqa: F821 (snakemake injects it)

from bnopt.measure.replay import with_run_columns  # noqa: E402
from bnopt.measure.surface import interpolation_line, surface_block  # noqa: E402

sm = snakemake  # noqa: F821
step = int(sm.wildcards.step)
data = sm.input.data if sm.input.data else None
with open(sm.log[0], "w") as log:
    # Where it runs is not a param (it changes no result).
    where = dict(device=sm.config["device"], threads=sm.threads, log=log)
    if sm.rule == "surface":
        table = surface_block(sm.params.spec, sm.params.surface, data, sm.input.checkpoints, step,
                              int(sm.wildcards.row), **where)
    else:
        table = interpolation_line(sm.params.spec, sm.params.surface, data, sm.input.checkpoints, step, **where)
    with_run_columns(table, sm.params.spec).to_parquet(sm.output[0], index=False)
