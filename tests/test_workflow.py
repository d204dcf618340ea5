"""Integration: the real Snakemake DAG on the smoke config, a killed job resumed
through Snakemake, CIFAR-10 through the data rules from a local server, and lint."""

import json
import os
import re
import signal
import subprocess
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from cifar_fixture import make_cifar_archive, serve_folder

from workflow_helpers import SMOKE, job_counts, slice_config, snakemake, the_same_runs

REPO = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow


def test_smoke_dag_trains_every_run(smoke_run):
    workdir, seconds = smoke_run
    config = yaml.safe_load(SMOKE.read_text())
    manifests = sorted(workdir.glob("results/*/*/lr~*/seed~*/train/manifest.json"))
    from bnopt.jobs import train_stacks
    from bnopt.runs import expand_runs

    assert len(manifests) == len(expand_runs(config)) == 28
    # Every DLN run trained in a stack (a run group's seeds and lrs of one variant and recipe; here of one or
    # two runs: two seeds of one lr, or the lr sweep's two new lrs of one seed).
    stacks = {run.path: stack for stack in train_stacks(config) for run in stack.runs}
    assert sorted(len(s.runs) for s in train_stacks(config)) == [1] * 8 + [2] * 4
    assert {s.name for s in train_stacks(config) if "lrs~" in s.name} == {
        "dln/standard/lrs~2.5e-05-0.0004x2/seeds~0", "dln/batchnorm/lrs~2.5e-05-0.0004x2/seeds~0"}
    for path in manifests:
        manifest = json.loads(path.read_text())
        folder = path.parent
        metrics = pd.read_parquet(folder / "metrics.parquet")
        steps = config["nets"][manifest["run"]["net"]]["steps"]
        if manifest["diverged"]:
            continue
        assert len(metrics) == steps and metrics["step"].tolist() == list(range(steps))
        assert manifest["checkpoint_steps"][-1] == steps
        assert (folder / "checkpoints" / f"step~{steps:06d}.pt").exists()
        from bnopt.training.train import run_name

        name = run_name(manifest["spec"])
        log = stacks[name].name if name in stacks else name  # a stack's job logs for all its runs
        assert (workdir / "logs" / "train" / f"{log}.log").exists()
        assert manifest["stack"]["runs"] == (len(stacks[name].runs) if name in stacks else 1)
    assert not any((workdir / "results" / ".resume").glob("**/*.pt"))  # resume state cleaned up
    print(f"smoke DAG: {len(manifests)} runs in {seconds:.1f} s")


def test_smoke_dag_probes_every_segment(smoke_run):
    from bnopt.runs import probed_runs

    workdir, _ = smoke_run
    config = yaml.safe_load(SMOKE.read_text())
    probed = {run.path for run in probed_runs(config)}
    unprobed = [d for d in workdir.glob("results/*/*/lr~*/seed~*") if d.relative_to(workdir / "results").as_posix()
                not in probed]
    # The sweep's runs (probe: false) have no probe folder at all.
    assert len(unprobed) == 4 and not any((d / "probe").exists() for d in unprobed)
    for net, section in config["nets"].items():
        for segment in range(0, section["steps"], section["checkpoint_every"]):
            for run_dir in workdir.glob(f"results/{net}/*/lr~*/seed~0"):
                if run_dir in unprobed:
                    continue
                folder = run_dir / "probe" / f"segment~{segment:06d}"
                tables = {name: pd.read_parquet(folder / f"{name}.parquet") for name in
                          ("landscape", "landscape_steps", "ics", "activations", "moments", "curvature")}
                manifest = json.loads((run_dir / "train" / "manifest.json").read_text())
                if manifest["diverged"] and manifest["diverged_step"] < segment:
                    assert all(t.empty for t in tables.values())
                    continue
                steps = sorted(tables["landscape_steps"]["step"])
                expected = [t for t in range(segment, segment + section["checkpoint_every"])
                            if t % section["probes"]["probe_every"] == 0
                            and (not manifest["diverged"] or t <= manifest["diverged_step"])]
                assert steps == expected, (run_dir, segment)
                assert len(tables["landscape"]) == len(steps) * 8
                # ICS at every conv/linear layer: VGG-11's 8 convs and classifier, every DLN layer.
                assert tables["ics"]["layer"].nunique() == (9 if net == "vgg" else section["model"]["depth"])
                assert set(tables["activations"]["layer"]) == set(section["probes"]["activations"]["layers"])


def test_smoke_dag_aggregates_tidy_tables_and_checks_the_claims(smoke_run):
    workdir, _ = smoke_run
    tables = workdir / "results" / "tables"
    runs = pd.read_parquet(tables / "runs.parquet")
    # The run at lr 1 diverges on purpose; the sweep's standard network diverges at its largest lr, 4e-4.
    assert len(runs) == 28 and runs["diverged"].sum() == 2
    assert set(runs.loc[runs["diverged"], "lr"]) == {1.0, 4e-4}
    for name in ("training", "evals", "landscape", "landscape_steps", "ics", "activations", "moments",
                 "curvature"):
        table = pd.read_parquet(tables / f"{name}.parquet")
        assert {"net", "variant", "lr", "seed", "step"} <= set(table.columns), name
        # Every run, even the diverged one; the probe tables lack the sweep's four unprobed runs.
        expected = 28 if name in ("training", "evals") else 24
        assert len(table.groupby(["net", "variant", "lr", "seed", "recipe"])) == expected, name
    from bnopt.analysis.tables import read_csv

    claims = read_csv(tables / "claims.csv")
    assert set(claims["claim"]) == {1, 2, 3, 4, 5, 6, 7, 8}
    # The ResNet pair gets the claims the VGG gets (claim 2's noisy BN aside) and claim 8 (against the VGG).
    assert set(claims.loc[claims["net"] == "resnet", "claim"]) == {1, 3, 4, 5, 6, 7, 8}
    assert {"standard ResNet vs VGG standard", "standard ResNet vs VGG batchnorm"} <= set(
        claims.loc[claims["claim"] == 8, "comparison"])
    # The Adam pair too, in rows of its own.
    adam = claims[claims["optimizer"] == "adam"]
    assert {1, 4} <= set(adam["claim"]) and adam["comparison"].str.endswith("[adam]").all()
    # Claim 7 for each of today's normalizations run beside standard and batchnorm.
    assert set(claims.loc[(claims["claim"] == 7) & claims["net"].isin(["vgg", "dln"]), "comparison"]) == {
        f"{v} vs batchnorm and standard" for v in ("groupnorm", "weightnorm", "layernorm")}
    # The momentum runs are compared among themselves, in rows of their own.
    momentum = claims[claims["optimizer"] == "sgd-m0.9"]
    assert set(momentum["claim"]) == {3, 4} and momentum["comparison"].str.endswith("[sgd-m0.9]").all()
    # So are the runs of another reading of the paper's choices (Glorot normal, half the loss): two seeds each.
    recipe = claims[claims["recipe"] == "glorot_normal+half_sum"]
    assert set(recipe["claim"]) == {3, 4} and recipe["comparison"].str.endswith("[glorot_normal+half_sum]").all()
    assert (recipe["n"] + recipe["seed_verdicts"].str.count("moot")).max() == 2
    card = read_csv(tables / "scorecard.csv")
    assert set(card["recipe"]) == {""}  # the smoke DLN is not the paper's setting's lr: no other recipe's rows
    steps = pd.read_parquet(tables / "landscape_steps.parquet")
    measured = steps.groupby("optimizer")["update_effective_beta"].apply(lambda b: np.isfinite(b).all())
    # along the update: the momentum runs only (the smoke config's Adam pair does not ask for it)
    assert measured.to_dict() == {"adam": False, "sgd": False, "sgd-m0.9": True}
    assert (steps.loc[steps["optimizer"] == "sgd-m0.9", "update_cosine"].abs() <= 1 + 1e-9).all()
    # The DLN sweep (2.5e-5, 1e-4, 4e-4) measures claim 6.
    claim_6 = claims[(claims["claim"] == 6) & (claims["net"] == "dln")].iloc[0]
    assert claim_6["n"] == 1 and "grid: 3 shared lrs" in claim_6["numbers"]
    from bnopt.analysis.verdicts import VERDICTS

    assert set(claims["verdict"]) <= set(VERDICTS)
    assert (claims["n"] <= claims["seeds"].fillna("").astype(str).str.count(",") + 1).all()
    # The smoke config has no VGG standard run at 0.5: that comparison is not measured.
    assert (claims["verdict"] == "not measured by this config").any()


def test_smoke_dag_measures_the_loss_surfaces(smoke_run):
    """Every configured surface, each block of rows once; the diverged run's surface
    and line recorded as empty files, not failed jobs."""
    workdir, _ = smoke_run
    surface = pd.read_parquet(workdir / "results/tables/surface.parquet")
    line = pd.read_parquet(workdir / "results/tables/interpolation.parquet")
    runs = {("vgg", "standard", 0.1), ("vgg", "batchnorm", 0.1), ("dln", "standard", 1e-4), ("dln", "batchnorm", 1e-4),
            ("dln", "l2", 1e-4)}
    assert set(surface.groupby(["net", "variant", "lr"]).size().index) == runs
    assert (surface.groupby(["net", "variant", "lr"]).size() == 25).all()
    assert (line.groupby(["net", "variant", "lr"]).size() == 9).all() and len(line) == 9 * 5
    assert set(surface["step"]) == {40, 60} and np.isfinite(surface["loss"]).all()
    diverged = workdir / "results/dln/standard/lr~1.0/seed~0/surface/step~000060"
    assert pd.read_parquet(diverged / "rows~000.parquet").empty and pd.read_parquet(diverged / "line.parquet").empty
    blocks = sorted(p.name for p in (workdir / "results/vgg/batchnorm/lr~0.1/seed~0/surface/step~000040").iterdir())
    assert blocks == ["line.parquet", "rows~000.parquet", "rows~003.parquet"]


def test_figures_render_from_the_smoke_tables(smoke_run, tmp_path):
    from bnopt.analysis.figures import NoData, distributions, ics, landscape, save, training

    workdir, _ = smoke_run
    t = {n: pd.read_parquet(workdir / "results" / "tables" / f"{n}.parquet")
         for n in ("training", "evals", "landscape_steps", "landscape", "ics", "curvature", "moments", "activations")}
    made = [
        *save(training.training_curves(t["training"], t["evals"], "vgg"), "training_vgg", tmp_path),
        *save(training.training_curves(t["training"], t["evals"], "dln"), "training_dln", tmp_path),
        *save(landscape.landscape(t["landscape_steps"], "vgg", 0.1), "landscape_vgg", tmp_path),
        *save(ics.internal_covariate_shift(t["ics"], "dln", [2, 5]), "ics_dln", tmp_path),
        *save(landscape.curvature(t["curvature"], "vgg"), "curvature_vgg", tmp_path),
        *save(distributions.moment_drift(t["moments"], "vgg", 0.1, [2, 3, 8]), "drift_vgg", tmp_path),
        *save(landscape.gradient_change_vs_eta(t["landscape"], "dln", 1e-4), "eta_dln", tmp_path),
        *save(distributions.activation_histograms(t["activations"], "vgg", 0.1, [2, 8]), "hist_vgg", tmp_path),
    ]
    assert all(path.stat().st_size > 5000 for path in made)
    with pytest.raises(NoData, match="no vgg landscape probes at lr 0.3"):
        landscape.landscape(t["landscape_steps"], "vgg", 0.3)


def test_a_diverging_run_is_recorded_and_the_dag_goes_on(smoke_run):
    workdir, _ = smoke_run
    manifest = json.loads((workdir / "results/dln/standard/lr~1.0/seed~0/train/manifest.json").read_text())
    assert manifest["diverged"] is True and manifest["diverged_step"] is not None
    metrics = pd.read_parquet(workdir / "results/dln/standard/lr~1.0/seed~0/train/metrics.parquet")
    assert len(metrics) == manifest["diverged_step"] + 1


def test_second_run_has_nothing_to_do(smoke_run, snakemake_bin):
    workdir, _ = smoke_run
    done = snakemake(snakemake_bin, workdir, "-n")
    assert "Nothing to be done" in done.stdout + done.stderr


def test_changing_a_probe_setting_reruns_only_probes(smoke_run, snakemake_bin, tmp_path):
    workdir, _ = smoke_run
    config = yaml.safe_load(SMOKE.read_text())
    config["nets"]["vgg"]["probes"]["landscape"] = {"low": 0.25, "high": 4.0, "points": 8}
    configfile = tmp_path / "changed.yaml"
    configfile.write_text(yaml.safe_dump(config))
    done = snakemake(snakemake_bin, workdir, "-n", configfile=configfile)
    counts = job_counts(done.stdout + done.stderr)
    vgg_runs = sum(len(g["variants"]) * len(g["lrs"]) * len(g["seeds"]) for g in config["nets"]["vgg"]["runs"])
    assert counts.get("probe") == vgg_runs * 2 and "train" not in counts and "prepare_data" not in counts, counts


def test_snakemake_lint_is_clean(snakemake_bin):
    for configfile in (REPO / "config" / "config.yaml", REPO / "config" / "quick.yaml", SMOKE):
        done = subprocess.run([snakemake_bin, "-s", str(REPO / "Snakefile"), "--lint", "--configfile",
                               str(configfile)], capture_output=True, text=True, cwd=REPO, timeout=120)
        assert "Congratulations, your workflow is in a good condition!" in done.stdout + done.stderr, \
            done.stdout + done.stderr


def _one_run_config(tmp_path, **vgg):
    config = yaml.safe_load(SMOKE.read_text())
    config["nets"] = {"vgg": dict(config["nets"]["vgg"], **vgg)}
    config["nets"]["vgg"].pop("surface")  # its selection would name runs these configs drop
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    return path, config


def test_killed_snakemake_job_resumes_from_its_checkpoint(tmp_path, snakemake_bin):
    configfile, config = _one_run_config(tmp_path, steps=300, batch_size=32, eval_every=50, checkpoint_every=20,
                                         runs=[{"variants": ["noisy_batchnorm"], "lrs": [0.1], "seeds": [0]}])
    workdir = tmp_path / "work"
    workdir.mkdir()
    target = "results/vgg/noisy_batchnorm/lr~0.1/seed~0/train/manifest.json"  # training only: no probes
    cmd = [snakemake_bin, "-s", str(REPO / "Snakefile"), "-d", str(workdir), "--cores", "1", target,
           "--configfile", str(configfile)]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    resume = workdir / "results" / ".resume" / "vgg" / "noisy_batchnorm" / "lr~0.1" / "seed~0"
    deadline = time.monotonic() + 300
    while len(list(resume.glob("*/step~*.pt"))) < 4:
        assert time.monotonic() < deadline and proc.poll() is None, "no checkpoints appeared"
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)  # snakemake and the job, without warning
    proc.wait()
    run_dir = workdir / "results/vgg/noisy_batchnorm/lr~0.1/seed~0/train"
    assert not (run_dir / "manifest.json").exists()
    killed_at = max(int(p.stem.split("~")[1]) for p in resume.glob("*/step~*.pt"))
    assert 0 < killed_at < 300
    # A hard kill leaves Snakemake's lock behind: what a user does is unlock, then rerun.
    snakemake(snakemake_bin, workdir, "--unlock", configfile=configfile)
    snakemake(snakemake_bin, workdir, "--rerun-incomplete", target, configfile=configfile)
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert manifest["resumed_from_step"] >= killed_at
    log = (workdir / "logs/train/vgg/noisy_batchnorm/lr~0.1/seed~0.log").read_text()
    assert f"from its checkpoint at step {manifest['resumed_from_step']}" in log
    # The same run, unbroken, in a fresh directory: identical metrics, value for value.
    fresh = tmp_path / "fresh"
    fresh.mkdir()
    snakemake(snakemake_bin, fresh, target, configfile=configfile)
    for table in ("metrics.parquet", "test.parquet"):
        pd.testing.assert_frame_equal(pd.read_parquet(run_dir / table),
                                      pd.read_parquet(fresh / "results/vgg/noisy_batchnorm/lr~0.1/seed~0/train" / table))


def test_ctrl_c_then_the_same_command_finishes_like_an_unbroken_run(smoke_run, snakemake_bin, tmp_path):
    """Ctrl-C (SIGINT to Snakemake's process group, as a terminal sends it) once while
    a training job runs and once while a probe job runs, each time followed by the same
    command: it carries on (profiles/default: rerun-incomplete) and its tables equal the
    unbroken smoke run's, run by run (a slice of the smoke config: every kind of job)."""
    workdir = tmp_path / "work"
    workdir.mkdir()
    configfile, _ = slice_config(tmp_path)
    cmd = [snakemake_bin, "-s", str(REPO / "Snakefile"), "-d", str(workdir), "--cores", "2",
           "--configfile", str(configfile)]

    def interrupt_when(ready, what):
        # SIGINT as a terminal's foreground job has it: a shell without job control (CI's,
        # a `cmd &`) starts its background commands with SIGINT ignored, and that is
        # inherited; Python then installs no KeyboardInterrupt, and no Ctrl-C would land.
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                start_new_session=True, preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
        deadline = time.monotonic() + 300
        while not ready():
            if proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"no {what} to interrupt:\n{proc.stdout.read()[-3000:]}")
            time.sleep(0.05)
        # A Ctrl-C can still pass: Snakemake's log handler swallows a KeyboardInterrupt that
        # arrives while it writes, and a job that is just ending finishes. Press it again
        # every 20 s, as a user would.
        output = ""
        for _ in range(8):
            os.killpg(proc.pid, signal.SIGINT)
            try:
                output = proc.communicate(timeout=20)[0]  # everything it wrote, the first try's too
                break
            except subprocess.TimeoutExpired as pending:
                so_far = pending.output or b""
                output = so_far.decode(errors="replace") if isinstance(so_far, bytes) else so_far
        else:
            os.killpg(proc.pid, signal.SIGKILL)
            raise AssertionError(f"Snakemake went on after 8 Ctrl-C, 20 s apart:\n{output[-6000:]}")
        assert proc.returncode != 0, f"Snakemake finished before the Ctrl-C:\n{output[-3000:]}"
        return output

    resume = workdir / "results" / ".resume"
    interrupt_when(lambda: any(resume.rglob("step~*.pt")), "training job")
    output = interrupt_when(lambda: any((workdir / "logs" / "probe").rglob("*.log")), "probe job")
    assert "Incomplete" not in output and "--rerun-incomplete" not in output, output[-3000:]
    snakemake(snakemake_bin, workdir, configfile=configfile)  # the same command, once more: to the end
    unbroken = smoke_run[0] / "results" / "tables"
    tables = workdir / "results" / "tables"
    runs = pd.read_parquet(tables / "runs.parquet")
    assert len(runs) == 6
    for name in ("training", "evals", "landscape", "ics", "surface"):
        pd.testing.assert_frame_equal(the_same_runs(pd.read_parquet(tables / f"{name}.parquet"), runs),
                                      the_same_runs(pd.read_parquet(unbroken / f"{name}.parquet"), runs), obj=name)
    timings = ["wall_time_s", "device"]
    pd.testing.assert_frame_equal(the_same_runs(runs, runs).drop(columns=timings),
                                  the_same_runs(pd.read_parquet(unbroken / "runs.parquet"), runs).drop(columns=timings))
    assert (tables / "claims.csv").exists() and (workdir / "reports" / "report.html").exists()


def test_cifar10_rules_download_verify_and_prepare(tmp_path, snakemake_bin):
    site = tmp_path / "site"
    site.mkdir()
    md5 = make_cifar_archive(site / "cifar-10-python.tar.gz", per_batch=30)
    workdir = tmp_path / "work"
    with serve_folder(site) as url:
        configfile, config = _one_run_config(tmp_path, dataset="cifar10")
        config["data"] = {"root": "resources", "cifar10": {"url": f"{url}/cifar-10-python.tar.gz", "md5": md5}}
        configfile.write_text(yaml.safe_dump(config))
        snakemake(snakemake_bin, workdir, "resources/data/cifar10.pt", configfile=configfile)
    import torch
    data = torch.load(workdir / "resources/data/cifar10.pt", weights_only=True)
    assert data["train_x"].shape == (150, 3, 32, 32) and data["test_x"].shape == (30, 3, 32, 32)


def test_cifar10_offline_fails_first_with_instructions(tmp_path, snakemake_bin):
    """The download runs before any training job (its priority), so offline the first
    command reports the problem within seconds, not after the DLN's training jobs."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    config = yaml.safe_load(SMOKE.read_text())  # the DLN runs stay: they must wait
    config["nets"]["vgg"]["dataset"] = "cifar10"
    config["data"] = {"root": "resources", "cifar10": {"url": f"http://127.0.0.1:{port}/cifar-10-python.tar.gz"}}
    configfile = tmp_path / "config.yaml"
    configfile.write_text(yaml.safe_dump(config))
    t0 = time.monotonic()
    done = snakemake(snakemake_bin, tmp_path / "work", configfile=configfile, check=False, cores="1")
    seconds = time.monotonic() - t0
    output = done.stdout + done.stderr
    assert done.returncode != 0
    assert "place the archive by hand at resources/cifar-10-python.tar.gz" in output
    assert "config/quick.yaml" in output
    assert not (tmp_path / "work" / "resources" / "cifar-10-python.tar.gz").exists()
    started = re.findall(r"^(?:local)?rule (\w+):", output, re.M)
    assert started == ["download_cifar10"], started  # the first job, and with one core the only one
    assert not (tmp_path / "work" / "logs" / "train").exists()
    assert seconds < 60


def test_probe_costs_are_reported_per_point(smoke_run):
    """bench-probes reads a finished workflow: passes and seconds per probe point, in
    training steps of the same run."""
    import sys

    workdir, _ = smoke_run
    done = subprocess.run([sys.executable, "-m", "bnopt", "bench-probes", "--results", str(workdir / "results"),
                           "--logs", str(workdir / "logs")], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    summary = {line.split(":")[0]: line for line in done.stdout.splitlines() if " a probe point costs " in line}
    assert set(summary) == {"vgg", "dln", "resnet"}
    steps = float(re.search(r"costs ([\d.]+) training steps", summary["vgg"]).group(1))
    assert steps > 0
    assert "Hessian-vector products" in summary["dln"]
