"""Snakemake adapter: one block of grid rows of a run's loss surface (rule surface),
its line from the initial weights (rule interpolation), or every surface and line of
a stacked net, one after another in one process (rule surface_stack_<net>)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent))  # noqa: F821 (snakemake injects it)

from bnopt.measure.replay import with_run_columns  # noqa: E402
from bnopt.measure.surface import interpolation_line, row_blocks, surface_block  # noqa: E402

sm = snakemake  # noqa: F821


def stacked_net(where):
    """Each surface's blocks and line (a stacked net's runs draw their data from their seed)."""
    grid = sm.params.surface
    for job in sm.params.surfaces:
        spec, step, checkpoints = job["spec"], job["step"], job["checkpoints"]
        for first, path in zip(row_blocks(grid["grid"], grid["rows_per_job"]), job["rows"]):
            with_run_columns(surface_block(spec, grid, None, checkpoints, step, first, **where), spec).to_parquet(
                path, index=False)
        line = interpolation_line(spec, sm.params.line, None, checkpoints, step, **where)
        with_run_columns(line, spec).to_parquet(job["line"], index=False)


def one_job(where):
    step = int(sm.wildcards.step)
    data = sm.input.data if sm.input.data else None
    if sm.rule == "surface":
        table = surface_block(sm.params.spec, sm.params.surface, data, sm.input.checkpoints, step,
                              int(sm.wildcards.row), **where)
    else:
        table = interpolation_line(sm.params.spec, sm.params.surface, data, sm.input.checkpoints, step, **where)
    with_run_columns(table, sm.params.spec).to_parquet(sm.output[0], index=False)


with open(sm.log[0], "w") as log:
    # Where it runs is not a param (it changes no result).
    where = dict(device=sm.config["device"], threads=sm.threads, log=log)
    (stacked_net if sm.rule.startswith("surface_stack_") else one_job)(where)
