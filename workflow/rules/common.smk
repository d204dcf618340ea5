# Config validation, the set of runs, and helpers shared by every rule.

import json
import sys
from pathlib import Path

from snakemake.utils import validate

# The bnopt package sits beside this folder; importing it from there works whether
# or not it is pip-installed (e.g. inside a rule's conda env on a cluster).
WORKFLOW_DIR = Path(workflow.basedir) / "workflow"
sys.path.insert(0, str(WORKFLOW_DIR))

from bnopt import runs as bnruns
from bnopt.norms import VARIANT_MODULES, VARIANTS
from bnopt.analysis.scorecard import setting_inputs


# A bad config fails here, at parse time, before any job starts, naming the key.
bnruns.check_numbers_as_text(config)
validate(config, "../schemas/config.schema.yaml")
bnruns.check_config(config)

RUNS = bnruns.expand_runs(config)
# Runs of groups with `probe: false` (learning-rate sweeps) train without probe jobs.
PROBED_RUNS = bnruns.probed_runs(config)
DATA_ROOT = config["data"]["root"]
RUN_DIR = "results/{net}/{variant}/lr~{lr}/seed~{seed}"


wildcard_constraints:
    net="|".join(config["nets"]),
    # the variant's folder: the variant, + its optimizer's token unless it is the paper's SGD
    variant=rf"({'|'.join(VARIANTS)})(\+[a-z0-9.-]+)?",
    lr=r"[0-9][0-9.e+-]*",
    seed=r"\d+",
    dataset="cifar10|digits",
    start=r"\d{6}",
    step=r"\d{6}",
    row=r"\d{3}",


def run_of(wildcards):
    """The configured run behind a job's wildcards (an error if it is not configured)."""
    return bnruns.find_run(config, wildcards.net, wildcards.variant, wildcards.lr, wildcards.seed)


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

# A fingerprint of the code a run depends on, per variant: editing a shared module
# retrains every run, editing a variant's own layer (bnopt.norms.VARIANT_MODULES:
# the noise, LpNorm) only that variant's runs. Figure and probe code are not here.
TRAIN_MODULES = ("seeding", "training.data", "training.problems", "training.optim", "norms", "nets.models",
                 "training.train")
TRAIN_CODE = {
    variant: bnruns.code_fingerprint(*TRAIN_MODULES, *VARIANT_MODULES[variant])
    for variant in VARIANTS
}


def run_spec(wildcards):
    """Everything the result of the run behind `wildcards` depends on, its training
    code's fingerprint included (the params of every job that trains or replays it)."""
    run = run_of(wildcards)
    return bnruns.train_spec(config, run, code=TRAIN_CODE[run.variant])


def train_data_input(wildcards):
    """VGG reads its prepared dataset; the DLN draws its data from the run's seed."""
    if wildcards.net == "vgg":
        return dataset_file(config["nets"]["vgg"]["dataset"])
    return []


def all_training_outputs():
    return expand_runs(f"{RUN_DIR}/train/manifest.json")


# ---------------------------------------------------------------- probes

from bnopt.measure.replay import TABLES as PROBE_TABLES, segment_steps

PROBE_CODE = bnruns.code_fingerprint("measure.probes", "measure.replay")


def segments(net):
    """The (start, end) step spans of a net's probe jobs."""
    section = config["nets"][net]
    per_job = section["probes"].get("steps_per_job", section["checkpoint_every"])
    return segment_steps(section["steps"], per_job)


def segment_of(wildcards):
    """(start, end) of the segment a probe job replays."""
    start = int(wildcards.start)
    for segment in segments(wildcards.net):
        if segment[0] == start:
            return segment
    raise ValueError(f"no segment of nets.{wildcards.net} starts at step {start}")


def all_probe_outputs():
    return [
        f"results/{run.path}/probe/segment~{start:06d}/{table}.parquet"
        for run in PROBED_RUNS
        for start, _ in segments(run.net)
        for table in PROBE_TABLES
    ]


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


def all_surface_outputs(kind):
    """Every surface block ("rows") or line ("line") file the config asks for."""
    paths = []
    for run, step in SURFACES:
        folder = f"results/{run.path}/surface/step~{step:06d}"
        if kind == "line":
            paths.append(f"{folder}/line.parquet")
            continue
        settings = surface_settings(run.net, SURFACE_GRID_KEYS)
        for first in row_blocks(settings["grid"], settings["rows_per_job"]):
            paths.append(f"{folder}/rows~{first:03d}.parquet")
    return paths


def every_run_output():
    """Every declared output of every train and probe job (for `rule all`)."""
    train = [
        path
        for name in ("metrics.parquet", "test.parquet", "manifest.json", "checkpoints")
        for path in expand_runs(f"{RUN_DIR}/train/{name}")
    ]
    return train + all_probe_outputs()
