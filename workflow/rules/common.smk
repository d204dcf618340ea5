# Config validation, the set of runs, and helpers shared by every rule.

import json
import sys
from pathlib import Path

from snakemake.utils import validate

# The bnopt package sits beside this folder; importing it from there works whether
# or not it is pip-installed (e.g. inside a rule's conda env on a cluster).
WORKFLOW_DIR = Path(workflow.basedir) / "workflow"
sys.path.insert(0, str(WORKFLOW_DIR))

from bnopt import checks as bnchecks
from bnopt import jobs as bnjobs
from bnopt import runs as bnruns
from bnopt.nets.resnet import FIXUP
from bnopt.norms import VARIANT_MODULES, VARIANTS
from bnopt.tasks import is_classifier
from bnopt.analysis.scorecard import setting_inputs


# A bad config fails here, at parse time, before any job starts, naming the key.
bnchecks.check_numbers_as_text(config)
bnchecks.check_schema(config, bnchecks.load_schema(WORKFLOW_DIR / "schemas" / "config.schema.yaml"))
validate(config, "../schemas/config.schema.yaml")  # the same schema: sets its defaults
bnchecks.check_config(config)

RUNS = bnruns.expand_runs(config)
# Runs of groups with `probe: false` (learning-rate sweeps) train without probe jobs.
PROBED_RUNS = bnruns.probed_runs(config)
# DLN runs train and are probed in stacks (a group's seeds in one job; bnopt.training.stacked),
# each by a rule of its own (train.smk, probe.smk); the others one run per job.
TRAIN_STACKS = bnjobs.train_stacks(config)
PROBE_STACKS = bnjobs.probe_stacks(config)
UNSTACKED_NETS = "|".join(net for net in config["nets"] if net not in bnjobs.STACKED_NETS) or "(?!)"
DATA_ROOT = config["data"]["root"]
RUN_DIR = "results/{net}/{variant}/lr~{lr}/seed~{seed}"


wildcard_constraints:
    net="|".join(config["nets"]),
    # the variant's folder: the variant, + its recipe's token unless it is the default recipe
    variant=rf"({'|'.join((*VARIANTS, FIXUP))})(\+[a-z0-9._-]+)*",
    lr=r"[0-9][0-9.e+-]*",
    seed=r"\d+",
    dataset="cifar10|digits",
    start=r"\d{6}",
    step=r"\d{6}",
    row=r"\d{3}",


RUN_INDEX = {tuple(run.wildcards().values()): run for run in RUNS}


def run_of(wildcards):
    """The configured run behind a job's wildcards (an error if it is not configured)."""
    key = (wildcards.net, wildcards.variant, bnruns.lr_token(float(wildcards.lr)), str(int(wildcards.seed)))
    return RUN_INDEX.get(key) or bnruns.find_run(config, *key)


def expand_runs(pattern):
    """`pattern` (with {net}, {variant}, {lr}, {seed}) filled in for every configured run."""
    return [pattern.format(**run.wildcards()) for run in RUNS]


def dataset_file(dataset):
    return f"{DATA_ROOT}/data/{dataset}.pt"


# ---------------------------------------------------------------- data

def prepare_data_input(wildcards):
    """CIFAR-10 is prepared from its downloaded archive; digits ship with scikit-learn."""
    return f"{DATA_ROOT}/cifar-10-python.tar.gz" if wildcards.dataset == "cifar10" else []


# ---------------------------------------------------------------- training

# A fingerprint of the code a run depends on, per net and variant: editing a shared
# module retrains every run, editing a variant's own layer (bnopt.norms.VARIANT_MODULES:
# the noise, LpNorm) only that variant's runs, editing the stacked DLN only DLN runs.
# Figure and probe code are not here.
TRAIN_MODULES = ("seeding", "training.data", "training.problems", "training.optim", "training.recipe", "norms",
                 "nets.models", "nets.blocks", "training.checkpoints", "training.engine", "training.train")
NET_MODULES = {"dln": ("training.stacked",), "resnet": ("nets.resnet",)}
TRAIN_CODE = {
    (net, variant): bnruns.code_fingerprint(*TRAIN_MODULES, *NET_MODULES.get(net, ()),
                                            *VARIANT_MODULES.get(variant, ()))
    for net in config["nets"]
    for variant in (*VARIANTS, FIXUP)
}


def spec_of(run):
    """Everything the result of `run` depends on, its training code's fingerprint
    included (the params of every job that trains or replays it)."""
    return bnruns.train_spec(config, run, code=TRAIN_CODE[(run.net, run.variant)])


def run_spec(wildcards):
    return spec_of(run_of(wildcards))


def train_outputs(run):
    """A run's training outputs, by name (bnopt.training.train.run_outputs)."""
    folder = f"results/{run.path}/train"
    return dict(metrics=f"{folder}/metrics.parquet", evals=f"{folder}/test.parquet",
                manifest=f"{folder}/manifest.json", checkpoints=f"{folder}/checkpoints")


def train_data_input(wildcards):
    """An image classifier reads its prepared dataset; the DLN draws its data from the run's seed."""
    if is_classifier(wildcards.net):
        return dataset_file(config["nets"][wildcards.net]["dataset"])
    return []


def all_training_outputs():
    return expand_runs(f"{RUN_DIR}/train/manifest.json")


# ---------------------------------------------------------------- probes

from bnopt.measure.replay import TABLES as PROBE_TABLES

PROBE_CODE = bnruns.code_fingerprint("measure.probes", "measure.replay")


def segment_of(run, start):
    """(start, end) of the segment of `run` that a probe job replays."""
    for segment in bnjobs.run_segments(config, run):
        if segment[0] == int(start):
            return segment
    raise ValueError(f"no probe segment of {run.path} starts at step {start}")


def probe_outputs(run, start="{start}"):
    """A run's probe tables of the segment starting at `start` (a step, or the wildcard)."""
    start = start if isinstance(start, str) else f"{start:06d}"
    return {table: f"results/{run.path}/probe/segment~{start}/{table}.parquet" for table in PROBE_TABLES}


def all_probe_outputs():
    return [path for run in PROBED_RUNS for start, _ in bnjobs.run_segments(config, run)
            for path in probe_outputs(run, start).values()]


# ---------------------------------------------------------------- aggregation

AGGREGATE_TABLES = ("runs", "training", "evals", *PROBE_TABLES)


def aggregate_inputs(wildcards):
    """Every run's training outputs and every probe segment's tables, by table."""
    inputs = dict(
        manifests=all_training_outputs(),
        training=expand_runs(f"{RUN_DIR}/train/metrics.parquet"),
        evals=expand_runs(f"{RUN_DIR}/train/test.parquet"),
    )
    probes = all_probe_outputs()
    for table in PROBE_TABLES:
        inputs[table] = [path for path in probes if Path(path).stem == table]
    return inputs


# ---------------------------------------------------------------- surfaces

from bnopt.measure.surface import row_blocks

# The training code a surface evaluates is in its spec (TRAIN_CODE); this is the
# surface's own.
SURFACE_CODE = bnruns.code_fingerprint("measure.surface")
# The settings each job's result depends on (the selection of runs and steps only
# adds or removes jobs).
SURFACE_GRID_KEYS = ("grid", "radius", "samples", "rows_per_job")
SURFACE_LINE_KEYS = ("samples", "interpolation", "interpolation_points")
SURFACES = bnruns.surface_runs(config)


def surface_settings(net, keys):
    chosen = dict(config["nets"][net]["surface"])
    chosen.setdefault("rows_per_job", chosen["grid"])
    return bnruns.canonical({key: chosen[key] for key in keys})


def surface_paths(run, step, kind):
    """A surface's block files ("rows") or its line file ("line")."""
    folder = f"results/{run.path}/surface/step~{step:06d}"
    if kind == "line":
        return [f"{folder}/line.parquet"]
    settings = surface_settings(run.net, SURFACE_GRID_KEYS)
    return [f"{folder}/rows~{first:03d}.parquet" for first in row_blocks(settings["grid"], settings["rows_per_job"])]


def all_surface_outputs(kind):
    """Every surface block ("rows") or line ("line") file the config asks for."""
    return [path for run, step in SURFACES for path in surface_paths(run, step, kind)]


# A stacked net's surfaces (the DLN's: well under a second of arithmetic each, several
# seconds of job start-up) are made by one job per net (surface.smk).
SURFACE_STACKS = {net: [(run, step) for run, step in SURFACES if run.net == net]
                  for net in bnjobs.STACKED_NETS if any(run.net == net for run, _ in SURFACES)}


def every_run_output():
    """Every declared output of every train and probe job (for `rule all`)."""
    train = [
        path
        for name in ("metrics.parquet", "test.parquet", "manifest.json", "checkpoints")
        for path in expand_runs(f"{RUN_DIR}/train/{name}")
    ]
    return train + all_probe_outputs()
