"""Incremental reruns on a finished smoke run: what each kind of change schedules
(dry-run plans) and what a real rerun rebuilds, plus the lock that refuses a second
snakemake on the same directory.

The workflow runs from a copy of the sources, so these tests can edit code and the
notebook the way a user would, without touching the repository.
"""

import os
import shutil
import subprocess
import time
from contextlib import contextmanager
from pathlib import Path

import pandas as pd
import pytest
import yaml

from workflow_helpers import REPO, SMOKE, job_counts, snakemake

pytestmark = pytest.mark.slow
DOWNSTREAM = {"aggregate": 1, "claims": 1, "scorecard": 1, "report": 1, "all": 1}
# The smoke config's surfaces: VGG standard and batchnorm at 0.1 (two blocks of rows
# each, and a line each: a job each), DLN standard, batchnorm and l2 at 1e-4 and standard
# at 1 (every DLN surface and line in one job).
SURFACE_JOBS = {"surface": 4, "interpolation": 2, "surface_stack": 1, "surfaces": 1}
DLN_SURFACES = {"surface_stack": 1, "surfaces": 1}
# Its runs: 10 VGG runs (an Adam pair among them) and 2 ResNet runs, a job each, probed in 2
# segments each; 16 DLN runs in 14 stacks (a stack of two seeds of each variant of the Glorot
# normal + half_sum recipe, the others one run), 10 of them probed, in 2 segments each.
EVERY_JOB = {"train": 12, "train_stack": 12, "probe": 24, "probe_stack": 20, **SURFACE_JOBS, **DOWNSTREAM}


@pytest.fixture(scope="module")
def project(tmp_path_factory, snakemake_bin, smoke_run):
    """(sources, workdir): a copy of the workflow's sources and a finished smoke run made
    from them: the session's smoke run, copied, then `--touch`ed from the copied sources
    (the same files at another path: Snakemake keys a script rule's code by its path, and
    --touch records the copy's as current without running a job). Equal to a fresh run
    of the copy, at a tenth of its cost."""
    root = tmp_path_factory.mktemp("incremental")
    sources = root / "repo"
    sources.mkdir()
    for name in ("Snakefile", "workflow", "config", "envs", "profiles"):
        copy = shutil.copytree if (REPO / name).is_dir() else shutil.copy2
        copy(REPO / name, sources / name, **({"ignore": shutil.ignore_patterns("__pycache__")}
                                              if (REPO / name).is_dir() else {}))
    workdir = root / "work"
    shutil.copytree(smoke_run[0], workdir, symlinks=True)
    snakemake(snakemake_bin, workdir, "--touch", repo=sources)
    return sources, workdir


def plan(snakemake_bin, project, configfile=SMOKE) -> dict[str, int]:
    sources, workdir = project
    done = snakemake(snakemake_bin, workdir, "-n", configfile=configfile, repo=sources)
    return job_counts(done.stdout + done.stderr)


@contextmanager
def edited(path: Path, addition: str):
    """Append `addition` to a file, then put back its bytes and its mtime."""
    original, stat = path.read_bytes(), path.stat()
    path.write_bytes(original + addition.encode())
    try:
        yield
    finally:
        path.write_bytes(original)
        os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))


def changed_config(tmp_path, change) -> Path:
    config = yaml.safe_load(SMOKE.read_text())
    change(config)
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def test_nothing_changed_schedules_nothing(snakemake_bin, project):
    assert plan(snakemake_bin, project) == {}


def test_a_probe_setting_reruns_only_probes_and_what_follows(snakemake_bin, project, tmp_path):
    configfile = changed_config(tmp_path, lambda c: c["nets"]["dln"]["probes"].update(
        landscape={"low": 0.01, "high": 30.0, "points": 6}))
    assert plan(snakemake_bin, project, configfile) == {"probe_stack": 20, **DOWNSTREAM}  # 10 DLN stacks x 2 segments


def test_the_update_direction_flag_reruns_only_the_momentum_runs_probes(snakemake_bin, project, tmp_path):
    """Under plain SGD the update is -lr grad: only the two momentum runs read the flag."""
    configfile = changed_config(tmp_path, lambda c: c["nets"]["dln"]["probes"]["landscape"].update(
        along_update=False))
    assert plan(snakemake_bin, project, configfile) == {"probe_stack": 4, **DOWNSTREAM}


def test_an_optimizer_setting_retrains_only_its_groups_runs(snakemake_bin, project, tmp_path):
    configfile = changed_config(tmp_path, lambda c: c["nets"]["dln"]["runs"][1]["optimizer"].update(momentum=0.5))
    assert plan(snakemake_bin, project, configfile) == {"train_stack": 2, "probe_stack": 4, **DOWNSTREAM}


def test_a_recipe_setting_retrains_only_its_groups_runs(snakemake_bin, project, tmp_path):
    """The default loss for the Glorot normal group: its two stacks (four runs) retrain, into
    new folders (standard+glorot_normal); nothing else moves."""
    configfile = changed_config(tmp_path, lambda c: c["nets"]["dln"]["runs"][3].pop("loss"))
    assert plan(snakemake_bin, project, configfile) == {"train_stack": 2, "probe_stack": 4, **DOWNSTREAM}


def test_editing_the_notebook_or_figure_code_reruns_only_the_report(snakemake_bin, project):
    sources, _ = project
    notebook = sources / "workflow/notebooks/report.ipynb"
    with edited(notebook, "\n"):
        assert plan(snakemake_bin, project) == {"report": 1, "all": 1}
    for module in ("analysis/figures/landscape.py", "analysis/report.py"):
        with edited(sources / "workflow/bnopt" / module, "\n# restyled\n"):
            assert plan(snakemake_bin, project) == {"report": 1, "all": 1}, module
    assert plan(snakemake_bin, project) == {}


@pytest.mark.parametrize("module", ["norms/__init__.py", "nets/models.py", "nets/blocks.py", "training/train.py",
                                    "training/optim.py"])
def test_editing_training_code_retrains(snakemake_bin, project, module):
    sources, _ = project
    with edited(sources / "workflow/bnopt" / module, "\n# edited\n"):
        assert plan(snakemake_bin, project) == EVERY_JOB


def test_editing_the_stacked_dln_retrains_only_the_dln(snakemake_bin, project):
    sources, _ = project
    with edited(sources / "workflow/bnopt/training/stacked.py", "\n# edited\n"):
        assert plan(snakemake_bin, project) == {"train_stack": 12, "probe_stack": 20, **DLN_SURFACES, **DOWNSTREAM}


def test_editing_one_normalization_retrains_only_its_runs(snakemake_bin, project):
    sources, _ = project
    # The smoke config's one l_p run is DLN l2; its one noisy run is VGG noisy_batchnorm.
    with edited(sources / "workflow/bnopt/norms/noise.py", "\n# edited\n"):
        assert plan(snakemake_bin, project) == {"train": 1, "probe": 2, **DOWNSTREAM}
    with edited(sources / "workflow/bnopt/norms/lp.py", "\n# edited\n"):  # DLN l2 also has a surface
        assert plan(snakemake_bin, project) == {"train_stack": 1, "probe_stack": 2, **DLN_SURFACES, **DOWNSTREAM}
    # Today's: the group family is VGG groupnorm and DLN layernorm; weight norm one run of each net.
    for family in ("group", "weight"):
        with edited(sources / f"workflow/bnopt/norms/{family}.py", "\n# edited\n"):
            assert plan(snakemake_bin, project) == {"train": 1, "train_stack": 1, "probe": 2, "probe_stack": 2,
                                                    **DOWNSTREAM}, family
    # BatchNorm's: every batchnorm and noisy_batchnorm run (VGG 5, Adam's among them; the ResNet's 1; DLN 4
    # stacks: 1e-4, the sweep's two lrs in one, momentum, and the Glorot normal + half_sum recipe's two seeds).
    with edited(sources / "workflow/bnopt/norms/batch.py", "\n# edited\n"):
        counts = plan(snakemake_bin, project)
        assert counts["train"] == 6 and counts["train_stack"] == 4


def test_editing_probe_or_claims_code_does_not_retrain(snakemake_bin, project):
    sources, _ = project
    with edited(sources / "workflow/bnopt/measure/probes.py", "\n# edited\n"):
        assert plan(snakemake_bin, project) == {"probe": 24, "probe_stack": 20, **DOWNSTREAM}
    # What the claims and the scorecard measure on a run is shared; a claim's own rule is its own.
    with edited(sources / "workflow/bnopt/analysis/measures.py", "\n# edited\n"):
        assert plan(snakemake_bin, project) == {"claims": 1, "scorecard": 1, "report": 1, "all": 1}
    with edited(sources / "workflow/bnopt/analysis/claims/smoothness.py", "\n# edited\n"):
        assert plan(snakemake_bin, project) == {"claims": 1, "report": 1, "all": 1}


SURFACE_REPORT = {"surfaces": 1, "report": 1, "all": 1}


def test_a_surface_setting_reruns_only_surface_jobs_and_the_report(snakemake_bin, project, tmp_path):
    radius = changed_config(tmp_path, lambda c: c["nets"]["dln"]["surface"].update(radius=0.5))
    assert plan(snakemake_bin, project, radius) == {"surface_stack": 1, **SURFACE_REPORT}
    line = changed_config(tmp_path, lambda c: c["nets"]["vgg"]["surface"].update(interpolation=[-1.0, 2.0]))
    assert plan(snakemake_bin, project, line) == {"interpolation": 2, **SURFACE_REPORT}
    more = changed_config(tmp_path, lambda c: c["nets"]["vgg"]["surface"].update(
        variants=["standard", "batchnorm", "noisy_batchnorm"]))
    assert plan(snakemake_bin, project, more) == {"surface": 2, "interpolation": 1, **SURFACE_REPORT}
    sources, _ = project
    with edited(sources / "workflow/bnopt/measure/surface.py", "\n# edited\n"):
        assert plan(snakemake_bin, project) == {"surface": 4, "interpolation": 2, "surface_stack": 1, **SURFACE_REPORT}


def _copy(project, tmp_path) -> tuple[Path, Path]:
    sources, workdir = project
    copy = tmp_path / "work"
    shutil.copytree(workdir, copy, symlinks=True)
    return sources, copy


def test_adding_a_learning_rate_runs_only_that_run(snakemake_bin, project, tmp_path):
    sources, workdir = _copy(project, tmp_path)

    def add_lr(config):
        config["nets"]["vgg"]["runs"][1]["lrs"].append(0.2)  # batchnorm at 0.5, now also 0.2

    configfile = changed_config(tmp_path, add_lr)
    assert plan(snakemake_bin, (sources, workdir), configfile) == {"train": 1, "probe": 2, **DOWNSTREAM}
    before = {p: p.stat().st_mtime_ns for p in workdir.glob("results/*/*/lr~*/seed~*/**/*.parquet")}
    snakemake(snakemake_bin, workdir, configfile=configfile, repo=sources)
    assert (workdir / "results/vgg/batchnorm/lr~0.2/seed~0/train/manifest.json").exists()
    assert {p: p.stat().st_mtime_ns for p in before} == before  # no other run was touched
    assert 0.2 in set(pd.read_parquet(workdir / "results/tables/runs.parquet")["lr"])
    assert plan(snakemake_bin, (sources, workdir), configfile) == {}


def test_a_sweep_without_probes_adds_only_training_jobs(snakemake_bin, project, tmp_path):
    def add_sweep(config):
        # l2 at 1e-4 is already a probed run of the smoke config; 2e-4 and 4e-4 are new.
        config["nets"]["dln"]["runs"].append({"variants": ["l2"], "lrs": {"geometric": [1.0e-4, 4.0e-4],
                                                                          "points": 3}, "probe": False})

    configfile = changed_config(tmp_path, add_sweep)
    assert plan(snakemake_bin, project, configfile) == {"train_stack": 1, **DOWNSTREAM}  # both new lrs in one stack


def test_a_killed_surface_job_redoes_only_its_block(snakemake_bin, project, tmp_path):
    """Snakemake deletes a failed job's output: that block alone is redone, equal to
    the one it replaces."""
    sources, workdir = _copy(project, tmp_path)
    block = workdir / "results/vgg/batchnorm/lr~0.1/seed~0/surface/step~000040/rows~003.parquet"
    kept = pd.read_parquet(block)
    assert len(kept) == 2 * 5  # rows 3 and 4 of the 5 x 5 grid
    block.unlink()
    assert plan(snakemake_bin, (sources, workdir)) == {"surface": 1, **SURFACE_REPORT}
    snakemake(snakemake_bin, workdir, repo=sources)
    pd.testing.assert_frame_equal(pd.read_parquet(block), kept)


def test_deleted_outputs_are_the_only_ones_rebuilt(snakemake_bin, project, tmp_path):
    sources, workdir = _copy(project, tmp_path)
    segment = workdir / "results/vgg/batchnorm/lr~0.1/seed~0/probe/segment~000020/ics.parquet"
    metrics = workdir / "results/dln/l2/lr~0.0001/seed~0/train/metrics.parquet"
    table = workdir / "results/tables/curvature.parquet"
    kept = {p: pd.read_parquet(p) for p in (segment, metrics, table)}
    table.unlink()
    assert plan(snakemake_bin, (sources, workdir)) == DOWNSTREAM
    segment.unlink()
    assert plan(snakemake_bin, (sources, workdir)) == {"probe": 1, **DOWNSTREAM}
    metrics.unlink()
    # A training output gone: that run (a stack of one) retrains, and its probes (which read it) rerun.
    assert plan(snakemake_bin, (sources, workdir)) == {"train_stack": 1, "probe": 1, "probe_stack": 2, **DLN_SURFACES,
                                                       **DOWNSTREAM}
    snakemake(snakemake_bin, workdir, repo=sources)
    for path, frame in kept.items():
        pd.testing.assert_frame_equal(pd.read_parquet(path), frame)  # rebuilt, value for value
    assert plan(snakemake_bin, (sources, workdir)) == {}


def test_a_second_snakemake_on_the_same_directory_is_refused(snakemake_bin, project, tmp_path):
    sources, workdir = _copy(project, tmp_path)
    cmd = [snakemake_bin, "-s", str(sources / "Snakefile"), "-d", str(workdir), "--cores", "1", "--forcerun",
           "report", "--configfile", str(SMOKE)]
    first = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    locks = workdir / ".snakemake" / "locks"
    deadline = time.monotonic() + 120
    while not any(locks.glob("*")):
        assert time.monotonic() < deadline and first.poll() is None, "the first snakemake never took its lock"
        time.sleep(0.05)
    # (A target apart from the running report job: Snakemake would refuse one whose
    # outputs the first run has marked incomplete, with a message of its own.)
    second = snakemake(snakemake_bin, workdir, "results/tables/claims.csv", "--forcerun", "claims", repo=sources,
                       check=False)
    output, _ = first.communicate(timeout=600)
    assert first.returncode == 0, output[-3000:]
    assert second.returncode != 0
    message = second.stdout + second.stderr
    assert "Directory cannot be locked" in message and "--unlock" in message
    assert "claims" not in job_counts(message)  # refused before scheduling anything
    # The first run's outputs are whole and the directory is consistent afterwards.
    assert (workdir / "reports/report.html").stat().st_size > 100_000
    assert plan(snakemake_bin, (sources, workdir)) == {}


def test_a_cosmetic_edit_is_forgiven_with_touch(snakemake_bin, project, tmp_path):
    sources, workdir = _copy(project, tmp_path)
    with edited(sources / "workflow/bnopt/norms/__init__.py", "\n# a comment only\n"):
        assert plan(snakemake_bin, (sources, workdir)) == EVERY_JOB
        # --touch marks the outputs up to date and records the new code fingerprint.
        snakemake(snakemake_bin, workdir, "--touch", repo=sources)
        assert plan(snakemake_bin, (sources, workdir)) == {}
    # The next edit (here: putting the file back) is seen again.
    assert plan(snakemake_bin, (sources, workdir)) == EVERY_JOB
