"""Running the real Snakemake DAG from the tests."""

import re
import subprocess
from pathlib import Path

import pandas as pd
import yaml

REPO = Path(__file__).resolve().parents[1]
SMOKE = REPO / "tests" / "configs" / "smoke.yaml"


def snakemake(snakemake_bin, workdir, *args, configfile=SMOKE, timeout=900, check=True, cores="2", repo=REPO):
    """Run snakemake on `repo`'s Snakefile (this repo's by default) in `workdir`.
    Targets and flags go before --configfile, which takes every word after it."""
    cmd = [snakemake_bin, "-s", str(Path(repo) / "Snakefile"), "-d", str(workdir), "--cores", cores, *args,
           "--configfile", str(configfile)]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    if check and done.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)} failed:\n{done.stdout[-4000:]}\n{done.stderr[-4000:]}")
    return done


def job_counts(output: str) -> dict[str, int]:
    """Snakemake's "Job stats" table, as {rule: count} ({} when nothing is to be done).
    The rules of DLN stacks (train_stack_3, probe_stack_0, ...: one rule per stack) count
    together, as "train_stack" and "probe_stack"."""
    table = output.split("Job stats:", 1)[1] if "Job stats:" in output else ""
    table = table.split("\n\n", 1)[0]
    counts: dict[str, int] = {}
    for m in re.finditer(r"^(\w+)\s+(\d+)$", table, re.M):
        if m.group(1) != "total":
            rule = re.sub(r"^(train_stack|probe_stack)_\d+$|^(surface_stack)_\w+$", r"\1\2", m.group(1))
            counts[rule] = counts.get(rule, 0) + int(m.group(2))
    return counts


def slice_config(tmp_path) -> tuple[Path, dict]:
    """A slice of the smoke config, for tests that run a whole DAG beside the smoke run
    (on SLURM, interrupted by Ctrl-C): every kind of job (a VGG run's training and probe
    segments, DLN stacks of one run and of two seeds, surface rows, interpolation lines,
    the aggregate, claims and report) at a third of the smoke DAG's jobs. Its runs are
    the smoke config's, so their results must equal the smoke run's (the_same_runs)."""
    config = yaml.safe_load(SMOKE.read_text())
    vgg, dln = config["nets"]["vgg"], config["nets"]["dln"]
    config["nets"].pop("resnet", None)  # a ResNet job is a VGG job's kind
    vgg["runs"] = [{"variants": ["standard", "batchnorm"], "lrs": [0.1], "seeds": [0]}]
    dln["runs"] = [{"variants": ["standard", "batchnorm"], "lrs": [1.0e-4], "seeds": [0]},
                   {"variants": ["standard"], "lrs": [1.0e-4], "seeds": [0, 1], "init": "glorot_normal",
                    "loss": "half_sum"}]
    dln["surface"] = dict(dln["surface"], variants=["standard", "batchnorm"], lrs=[1.0e-4])
    path = tmp_path / "slice.yaml"
    path.write_text(yaml.safe_dump(config))
    return path, config


def the_same_runs(table: pd.DataFrame, runs: pd.DataFrame) -> pd.DataFrame:
    """`table`'s rows of the runs in `runs` (net, variant, lr, seed, recipe), in a stable order."""
    keys = [k for k in ("net", "variant", "lr", "seed", "recipe") if k in table and k in runs]
    mine = table.merge(runs[keys].drop_duplicates(), on=keys)
    return mine.sort_values(list(mine.columns), kind="mergesort").reset_index(drop=True)
