"""A slice of the smoke DAG on a real (one-node) SLURM through the project's test
profile: jobs run as SLURM jobs and give the local smoke run's results; a training job cancelled
with scancel is resubmitted by Snakemake's retry and resumes from its checkpoint."""

import os
import shutil
import subprocess
import time
from pathlib import Path

import pandas as pd
import pytest
import yaml
from snakemake.utils import validate

from workflow_helpers import REPO, SMOKE, slice_config, snakemake, the_same_runs

pytestmark = pytest.mark.slow
PROFILE = REPO / "tests" / "slurm" / "profile"
TABLES = ("training", "evals", "landscape", "landscape_steps", "ics", "activations", "moments", "curvature")


def _cluster_answers() -> bool:
    try:
        done = subprocess.run(["sinfo", "-h", "-o", "%t"], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return done.returncode == 0 and any(s in done.stdout for s in ("idle", "mix", "alloc"))


@pytest.fixture(scope="session")
def slurm_cluster(tmp_path_factory):
    """A one-node SLURM for this session: tests/slurm/start.sh starts it (and
    stop.sh stops it) unless one already answers."""
    if _cluster_answers():
        yield None
        return
    missing = [tool for tool in ("slurmctld", "slurmd", "munged", "sbatch") if shutil.which(tool) is None]
    if missing or os.geteuid() != 0:
        message = (f"a local SLURM needs root and Debian's slurm-wlm + munge (missing: {', '.join(missing) or '-'}; "
                   f"root: {os.geteuid() == 0}); .ci/run installs and starts them")
        if os.environ.get("BNOPT_REQUIRE_SLURM"):
            pytest.fail(message)
        pytest.skip(message)
    state = tmp_path_factory.mktemp("slurm")
    started = subprocess.run(["bash", str(REPO / "tests/slurm/start.sh"), str(state)], capture_output=True, text=True,
                             timeout=120)
    assert started.returncode == 0, started.stdout + started.stderr
    try:
        yield state
    finally:
        subprocess.run(["bash", str(REPO / "tests/slurm/stop.sh"), str(state)], timeout=60)


def on_slurm(snakemake_bin, workdir, *args, configfile=SMOKE, check=True):
    return snakemake(snakemake_bin, workdir, "--workflow-profile", str(PROFILE), *args, configfile=configfile,
                     check=check, timeout=1200)


def slurm_job_logs(workdir: Path, rule: str) -> list[Path]:
    """The SLURM logs of a rule's jobs (``train`` and ``probe`` include the DLN stacks'
    rules, train_stack_N and probe_stack_N)."""
    folders = (workdir / ".snakemake" / "slurm_logs").glob(f"rule_{rule}*")  # a stack's rule has no wildcards:
    return sorted(log for folder in folders for log in folder.rglob("*.log"))  # its logs lie one folder higher


def test_the_dag_on_slurm_equals_the_local_run(slurm_cluster, smoke_run, snakemake_bin, tmp_path):
    local, _ = smoke_run
    configfile, config = slice_config(tmp_path)
    validate(config, str(REPO / "workflow" / "schemas" / "config.schema.yaml"))
    workdir = tmp_path / "work"
    t0 = time.monotonic()
    done = on_slurm(snakemake_bin, workdir, configfile=configfile)
    seconds = time.monotonic() - t0
    output = done.stdout + done.stderr
    # Every train, probe and surface job ran as a SLURM job: a job id in snakemake's log and a SLURM log per job.
    from bnopt.jobs import probe_stacks, train_stacks
    from bnopt.runs import expand_runs, probed_runs

    # A job per VGG run and per DLN stack; two segments per probed VGG run and DLN stack.
    runs = len([r for r in expand_runs(config) if r.net == "vgg"]) + len(train_stacks(config))
    probed = len([r for r in probed_runs(config) if r.net == "vgg"]) + len(probe_stacks(config))
    assert (runs, probed) == (5, 5)  # VGG 2; DLN stacks: standard, batchnorm, and standard's two seeds
    assert len(slurm_job_logs(workdir, "train")) == runs
    assert len(slurm_job_logs(workdir, "probe")) == 2 * probed
    assert slurm_job_logs(workdir, "surface") and slurm_job_logs(workdir, "interpolation")
    for log in slurm_job_logs(workdir, "train"):
        assert log.stem.isdigit() and "rule train" in log.read_text()  # <SLURM job id>.log
    assert output.count("SLURM jobid") >= runs + 2 * probed
    # ... and the local rules did not.
    assert not slurm_job_logs(workdir, "aggregate") and not slurm_job_logs(workdir, "report")
    cost = ["wall_time_s", "device"]
    slurm_runs = pd.read_parquet(workdir / "results/tables/runs.parquet")
    assert len(slurm_runs) == 6
    pd.testing.assert_frame_equal(the_same_runs(slurm_runs, slurm_runs).drop(columns=cost),
                                  the_same_runs(pd.read_parquet(local / "results/tables/runs.parquet"),
                                                slurm_runs).drop(columns=cost))
    for table in (*TABLES, "surface", "interpolation"):
        slurm, here = (the_same_runs(pd.read_parquet(w / "results/tables" / f"{table}.parquet"), slurm_runs)
                       for w in (workdir, local))
        assert len(slurm), table
        timing = [c for c in ("seconds",) if c in here]  # how long a probe point took, not what it measured
        pd.testing.assert_frame_equal(slurm.drop(columns=timing), here.drop(columns=timing), obj=table)
    assert (workdir / "results/tables/claims.csv").exists() and (workdir / "reports/report.html").exists()
    print(f"{len(slurm_runs)} runs' DAG on SLURM: {seconds:.0f} s")


def test_a_cancelled_training_job_is_retried_and_resumes(slurm_cluster, snakemake_bin, tmp_path):
    config = yaml.safe_load(SMOKE.read_text())
    config["nets"] = {"vgg": dict(config["nets"]["vgg"], steps=400, batch_size=32, eval_every=50,
                                  checkpoint_every=20,
                                  runs=[{"variants": ["noisy_batchnorm"], "lrs": [0.1], "seeds": [0]}])}
    config["nets"]["vgg"].pop("surface")  # its selection names runs this config drops
    configfile = tmp_path / "config.yaml"
    configfile.write_text(yaml.safe_dump(config))
    target = "results/vgg/noisy_batchnorm/lr~0.1/seed~0/train/manifest.json"
    workdir = tmp_path / "work"
    workdir.mkdir()
    cmd = [snakemake_bin, "-s", str(REPO / "Snakefile"), "-d", str(workdir), "--workflow-profile", str(PROFILE),
           target, "--configfile", str(configfile)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    resume = workdir / "results/.resume/vgg/noisy_batchnorm/lr~0.1/seed~0"
    deadline = time.monotonic() + 600
    while len(list(resume.glob("*/step~*.pt"))) < 3:
        assert time.monotonic() < deadline and proc.poll() is None, "the SLURM training job wrote no checkpoints"
        time.sleep(0.1)
    running = subprocess.run(["squeue", "-h", "-t", "RUNNING", "-o", "%i"], capture_output=True, text=True,
                             check=True).stdout.split()
    assert len(running) == 1, running
    subprocess.run(["scancel", running[0]], check=True)
    cancelled_at = max(int(p.stem.split("~")[1]) for p in resume.glob("*/step~*.pt"))
    output, _ = proc.communicate(timeout=900)
    assert proc.returncode == 0, output[-4000:]
    assert f"SLURM-job '{running[0]}' failed" in output and "CANCELLED" in output
    logs = slurm_job_logs(workdir, "train")
    assert len(logs) == 2  # the cancelled attempt and the retry, each its own SLURM job
    assert "runtime=20" in logs[-1].read_text()  # the retry asked for more time ("10 * attempt")
    run_dir = workdir / "results/vgg/noisy_batchnorm/lr~0.1/seed~0/train"
    manifest = yaml.safe_load((run_dir / "manifest.json").read_text())
    assert 0 < cancelled_at <= manifest["resumed_from_step"] < 400
    # The same run, unbroken and local: identical metrics, value for value.
    fresh = tmp_path / "fresh"
    snakemake(snakemake_bin, fresh, target, configfile=configfile)
    for table in ("metrics.parquet", "test.parquet"):
        pd.testing.assert_frame_equal(pd.read_parquet(run_dir / table),
                                      pd.read_parquet(fresh / "results/vgg/noisy_batchnorm/lr~0.1/seed~0/train" / table))
    print(f"cancelled at step {cancelled_at}, resumed from step {manifest['resumed_from_step']}")
