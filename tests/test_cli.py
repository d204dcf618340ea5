"""A newcomer's command-line mistakes: each fails with one line that says what to do."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def bnopt(*args, cwd):
    env = {**os.environ, "PYTHONPATH": str(REPO / "workflow")}
    return subprocess.run([sys.executable, "-m", "bnopt", *args], capture_output=True, text=True, cwd=cwd, env=env,
                          timeout=120)


@pytest.mark.parametrize("args, line", [
    (["typical"], "bnopt typical: no such file: results/tables/scorecard.csv; run this in the folder the workflow "
                  "ran in, after it finished"),
    (["bench-probes"], "no training benchmarks under logs/benchmarks/train: run the workflow first"),
    (["train", "--spec", "nope.json", "--out", "out"], "bnopt train: no such file: nope.json; --spec takes a run spec"),
    (["digitize", "paper.pdf"], "bnopt digitize: no such file: paper.pdf; give the paper's PDF"),
])
def test_a_subcommand_without_its_files_says_so_in_one_line(tmp_path, args, line):
    done = bnopt(*args, cwd=tmp_path)
    assert done.returncode != 0
    assert line in done.stderr + done.stdout and "Traceback" not in done.stderr, done.stderr


def test_an_unknown_subcommand_lists_the_known_ones(tmp_path):
    done = bnopt("tpyical", cwd=tmp_path)
    assert done.returncode == 2 and "invalid choice: 'tpyical' (choose from 'train', " in done.stderr


def test_a_config_file_that_is_not_there_is_one_line_before_snakemake_starts():
    venv = Path(sys.executable).parents[1]
    done = subprocess.run(["bash", str(REPO / "envs" / "venv.sh"), "snakemake", "-n", "--configfile",
                           "config/quick.yaml", "config/quik.yaml"], capture_output=True, text=True, timeout=600,
                          env={**os.environ, "BNOPT_VENV": str(venv)})
    assert done.returncode == 2 and "Traceback" not in done.stderr
    said = done.stderr.strip().splitlines()[-1]
    assert said.startswith(f"no config file 'config/quik.yaml' here ({REPO}); the shipped ones: config/")
    assert {"config/config.yaml", "config/quick.yaml"} <= set(said.split(": ")[-1].split())
