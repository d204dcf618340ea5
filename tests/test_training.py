"""Training: a pure function of its spec; killed runs resume exactly; divergence is recorded."""

import json
import os
import signal
import subprocess
import sys
import time

import pandas as pd
import pytest
import torch

from bnopt.training.data import prepare_digits
from bnopt.training.problems import BatchSampler, make_dln_data
from bnopt.training.checkpoints import CHECKPOINT_NAME, checkpoint_steps, load_checkpoint
from bnopt.training.train import run_training

VGG_SPEC = dict(net="vgg", variant="noisy_batchnorm", lr=0.1, seed=0, steps=12, batch_size=32, eval_every=5,
                checkpoint_every=4, model=dict(arch="vgg11", width=0.0625), dataset="digits")
DLN_SPEC = dict(net="dln", variant="batchnorm", lr=1e-4, seed=0, steps=30, batch_size=100, eval_every=10,
                checkpoint_every=10, model=dict(depth=6, width=5, normalized_layers=5),
                data=dict(n_train=100, n_test=50))


@pytest.fixture(scope="module")
def digits(tmp_path_factory):
    path = tmp_path_factory.mktemp("data") / "digits.pt"
    prepare_digits(path)
    return str(path)


def _outputs(folder):
    return dict(metrics=folder / "metrics.parquet", evals=folder / "test.parquet",
                manifest=folder / "manifest.json", checkpoints=folder / "checkpoints")


def _train(spec, data, folder, state=None):
    out = _outputs(folder)
    manifest = run_training(spec, data, out, state or folder / "state", device="cpu", threads=1,
                            log=open(os.devnull, "w"))
    return manifest, pd.read_parquet(out["metrics"]), pd.read_parquet(out["evals"])


def test_batches_are_a_pure_function_of_seed_and_step():
    a, b = BatchSampler(3, 100, 32, torch.device("cpu")), BatchSampler(3, 100, 32, torch.device("cpu"))
    assert torch.equal(a.indices(7), b.indices(7))
    assert torch.equal(a.indices(1), BatchSampler(3, 100, 32, torch.device("cpu")).indices(1))  # any order
    epoch = torch.cat([a.indices(s) for s in range(3)])  # 3 full batches per epoch, remainder dropped
    assert len(set(epoch.tolist())) == 96
    assert not torch.equal(a.indices(0), a.indices(3))  # the next epoch is a new permutation
    assert not torch.equal(a.indices(0), BatchSampler(4, 100, 32, torch.device("cpu")).indices(0))
    full = BatchSampler(0, 10, 10, torch.device("cpu"))
    assert full.indices(5).tolist() == list(range(10))


def test_dln_data_follows_the_paper():
    d = make_dln_data(0, n_train=1000, n_test=10, dim=10)
    torch.testing.assert_close(d["train_y"], d["train_x"] @ d["A"].T)
    assert abs(d["A"].std().item() - 1) < 0.15 and abs(d["train_x"].std().item() - 1) < 0.05
    assert torch.equal(make_dln_data(0)["A"], d["A"]) and not torch.equal(make_dln_data(1)["A"], d["A"])


@pytest.mark.parametrize("spec", [VGG_SPEC, DLN_SPEC], ids=["vgg-noisy-bn", "dln-bn"])
def test_same_seed_same_trajectory(spec, digits, tmp_path):
    data = digits if spec["net"] == "vgg" else None
    m1, metrics1, evals1 = _train(spec, data, tmp_path / "a")
    m2, metrics2, evals2 = _train(spec, data, tmp_path / "b")
    assert len(metrics1) == spec["steps"] and evals1["step"].tolist() == list(range(0, spec["steps"], 5 if spec["net"] == "vgg" else 10)) + [spec["steps"]]
    pd.testing.assert_frame_equal(metrics1, metrics2)
    pd.testing.assert_frame_equal(evals1, evals2)
    _, metrics3, _ = _train(dict(spec, seed=1), data, tmp_path / "c")
    assert not metrics1["loss"].equals(metrics3["loss"])
    assert m1["checkpoint_steps"] == sorted({*range(0, spec["steps"], spec["checkpoint_every"]), spec["steps"]})
    assert m1["diverged"] is False and m1["resumed_from_step"] is None


def _wait_for(predicate, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


MOMENTUM = dict(name="sgd", momentum=0.9, nesterov=True, weight_decay=5e-4)
ADAM = dict(name="adam")
STATE_KEYS = {"sgd": {"momentum_buffer"}, "adam": {"step", "exp_avg", "exp_avg_sq"}}


@pytest.mark.parametrize("optimizer", [None, MOMENTUM, ADAM], ids=["sgd", "nesterov-momentum", "adam"])
def test_sigkill_then_restart_resumes_and_matches_an_unbroken_run(digits, tmp_path, optimizer):
    spec = dict(VGG_SPEC, steps=400, checkpoint_every=25, eval_every=50)
    if optimizer:  # the momentum buffer / Adam's moments must come back from the checkpoint for the runs to agree
        spec["optimizer"] = optimizer
    if optimizer is ADAM:
        spec["lr"] = 1e-3  # Adam's usual scale
    spec_file = tmp_path / "spec.json"
    spec_file.write_text(json.dumps(spec))
    out, state = tmp_path / "killed", tmp_path / "state"
    cmd = [sys.executable, "-m", "bnopt", "train", "--spec", str(spec_file), "--data", digits, "--out", str(out),
           "--state", str(state), "--device", "cpu", "--threads", "1"]
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    from bnopt.training.train import run_name, spec_key
    run_state = state / run_name(spec) / spec_key(spec)
    _wait_for(lambda: len(checkpoint_steps(run_state)) >= 3, 120, "three checkpoints")
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    killed_at = checkpoint_steps(run_state)[-1]
    assert 50 <= killed_at < 400 and not (out / "manifest.json").exists()
    state_of = load_checkpoint(run_state / CHECKPOINT_NAME.format(step=killed_at))["optimizer"]["state"]
    assert bool(state_of) == bool(optimizer)  # plain SGD keeps no state; momentum its buffers, Adam its moments
    if optimizer:
        assert all(set(v) == STATE_KEYS[optimizer["name"]] and all(x is not None for x in v.values())
                   for v in state_of.values())
    # What Snakemake does to a failed job: its declared outputs are deleted.
    for f in _outputs(out).values():
        if f.exists():
            subprocess.run(["rm", "-rf", str(f)], check=True)
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert f"resuming {run_name(spec)} from its checkpoint at step {killed_at}" in done.stderr
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["resumed_from_step"] == killed_at
    _, unbroken, unbroken_evals = _train(spec, digits, tmp_path / "unbroken")
    pd.testing.assert_frame_equal(pd.read_parquet(out / "metrics.parquet"), unbroken)  # value for value
    pd.testing.assert_frame_equal(pd.read_parquet(out / "test.parquet"), unbroken_evals)
    assert not (state / run_name(spec)).exists()


def test_the_optimizer_settings_change_the_trajectory_and_name_the_run(digits, tmp_path):
    from bnopt.training.train import run_name

    spec = dict(VGG_SPEC, steps=6)
    _, plain, _ = _train(spec, digits, tmp_path / "plain")
    _, explicit, _ = _train(dict(spec, optimizer=dict(name="sgd", momentum=0.0, nesterov=False, weight_decay=0.0)),
                            digits, tmp_path / "explicit")
    manifest, momentum, _ = _train(dict(spec, optimizer=MOMENTUM), digits, tmp_path / "momentum")
    pd.testing.assert_frame_equal(plain, explicit)  # the paper's settings written out are the paper's SGD
    assert plain["loss"].iloc[0] == momentum["loss"].iloc[0]  # the same start
    assert not plain["loss"].iloc[2:].equals(momentum["loss"].iloc[2:])
    assert manifest["run"]["optimizer"] == "sgd-m0.9-nesterov-wd0.0005"
    assert run_name(dict(spec, optimizer=MOMENTUM)) == "vgg/noisy_batchnorm+sgd-m0.9-nesterov-wd0.0005/lr~0.1/seed~0"
    assert run_name(spec) == "vgg/noisy_batchnorm/lr~0.1/seed~0"


def test_divergence_is_recorded_not_crashed(tmp_path):
    spec = dict(DLN_SPEC, variant="standard", lr=5.0, steps=200)
    manifest, metrics, evals = _train(spec, None, tmp_path / "run")
    assert manifest["diverged"] is True
    step = manifest["diverged_step"]
    assert 0 < step < 200 and manifest["steps_completed"] == step
    assert len(metrics) == step + 1 and not pd.Series(metrics["loss"]).iloc[-1] < float("inf")
    assert metrics["loss"].iloc[:-1].map(lambda v: abs(v) < float("inf")).all()
    assert evals["step"].max() <= step
    assert (tmp_path / "run" / "checkpoints").is_dir() and manifest["checkpoint_steps"][-1] <= step


def test_checkpoints_load_with_weights_only(digits, tmp_path):
    manifest, _, _ = _train(VGG_SPEC, digits, tmp_path / "run")
    folder = tmp_path / "run" / "checkpoints"
    for step in manifest["checkpoint_steps"]:
        ckpt = load_checkpoint(folder / CHECKPOINT_NAME.format(step=step))  # weights_only=True inside
        assert ckpt["step"] == step and len(ckpt["history"]["losses"]) == step
        torch.load(folder / CHECKPOINT_NAME.format(step=step), weights_only=True)


def test_the_sum_loss_is_twice_the_half_sum_and_takes_twice_the_step():
    """On a one-layer linear net (f(x) = W x), closed form: L = c sum_n ||W x_n - A x_n||^2
    with c = 1/2 (half_sum) or 1 (sum), its gradient 2c (W - A) X'X; so one SGD step of
    lr moves W by -2c lr (W - A) X'X: the sum takes twice half_sum's step."""
    from bnopt.training.engine import make_engine
    from bnopt.training.problems import make_dln_data

    spec = dict(net="dln", variant="standard", lr=1e-3, seed=4, steps=1, batch_size=50, eval_every=1,
                checkpoint_every=1, model=dict(depth=1, width=3, normalized_layers=0), data=dict(n_train=50, n_test=5))
    data = make_dln_data(4, n_train=50, n_test=5, dim=3)
    x, a = data["train_x"].double(), data["A"].double()
    for loss, c in (("half_sum", 0.5), ("sum", 1.0)):
        engine = make_engine([dict(spec, loss=loss)], None, torch.device("cpu"))
        w = engine.run_state(0)["model"]["blocks.0.linear.weight"].double()
        expected_loss = c * ((x @ w.T - x @ a.T) ** 2).sum()
        losses, _ = engine.step(0)
        assert float(losses[0]) == pytest.approx(float(expected_loss), rel=1e-5)
        moved = engine.run_state(0)["model"]["blocks.0.linear.weight"].double()
        expected = w - spec["lr"] * 2 * c * (w - a) @ (x.T @ x)
        torch.testing.assert_close(moved, expected, rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="unknown DLN loss 'mean'; choose one of half_sum, sum"):
        make_engine([dict(spec, loss="mean")], None, torch.device("cpu"))


def test_full_batch_is_the_training_set_itself_in_order():
    from bnopt.training.problems import dln_problem

    problem = dln_problem(0, 50, torch.device("cpu"), n_train=50, n_test=10, dim=3)
    x, y = problem.batch(7)
    assert x is problem.train_x and y is problem.train_y  # no copy per step
    idx = problem.sampler.indices(7)
    assert torch.equal(problem.train_x[idx], x)


@pytest.fixture
def restore_numerics():
    """use_exact_numerics sets process-wide switches: put them back after a test."""
    import os as _os

    saved = (torch.are_deterministic_algorithms_enabled(), torch.is_deterministic_algorithms_warn_only_enabled(),
             torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark,
             torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32,
             _os.environ.get("CUBLAS_WORKSPACE_CONFIG"))
    yield
    torch.use_deterministic_algorithms(saved[0], warn_only=saved[1])
    (torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark, torch.backends.cuda.matmul.allow_tf32,
     torch.backends.cudnn.allow_tf32) = saved[2:6]
    if saved[6] is None:
        _os.environ.pop("CUBLAS_WORKSPACE_CONFIG", None)
    else:
        _os.environ["CUBLAS_WORKSPACE_CONFIG"] = saved[6]


def test_cuda_runs_switch_on_deterministic_kernels(restore_numerics, monkeypatch):
    """The switches that make a CUDA replay equal its run bit for bit (set without
    touching a GPU: they are flags, read when CUDA starts its kernels)."""
    from bnopt.training.train import CUBLAS_WORKSPACE, use_exact_numerics

    monkeypatch.delenv("CUBLAS_WORKSPACE_CONFIG", raising=False)
    torch.use_deterministic_algorithms(False)
    torch.backends.cudnn.benchmark = True
    use_exact_numerics(torch.device("cuda"))
    assert os.environ["CUBLAS_WORKSPACE_CONFIG"] == CUBLAS_WORKSPACE == ":4096:8"
    assert torch.are_deterministic_algorithms_enabled() and torch.is_deterministic_algorithms_warn_only_enabled()
    assert torch.backends.cudnn.deterministic and not torch.backends.cudnn.benchmark
    assert not torch.backends.cuda.matmul.allow_tf32 and not torch.backends.cudnn.allow_tf32


def test_cpu_runs_keep_pytorchs_default_kernels(restore_numerics, monkeypatch):
    """On the CPU bnopt's operations are deterministic already; the global switch would
    make every allocation fill its memory, which the dispatch-bound DLN pays for."""
    from bnopt.training.train import use_exact_numerics

    monkeypatch.delenv("CUBLAS_WORKSPACE_CONFIG", raising=False)
    torch.use_deterministic_algorithms(False)
    use_exact_numerics(torch.device("cpu"))
    assert not torch.are_deterministic_algorithms_enabled() and "CUBLAS_WORKSPACE_CONFIG" not in os.environ
    assert not torch.backends.cuda.matmul.allow_tf32


def test_a_channels_last_run_resumes_and_replays_exactly_and_differs_from_nchw_by_rounding(digits, tmp_path):
    """model.channels_last: NHWC weights and activations. A run killed after a checkpoint
    resumes to the unbroken run's bits; each probe segment replays its recorded losses
    exactly (replay_rtol 0); its first loss is the NCHW run's to float32 rounding."""
    from bnopt.measure.replay import probe_segment
    from bnopt.nets.models import build_model
    from bnopt.training.train import run_name, spec_key

    spec = dict(VGG_SPEC, variant="batchnorm", model=dict(VGG_SPEC["model"], channels_last=True))
    model = build_model("vgg", "batchnorm", 0, spec["model"])
    assert model.blocks[1].linear.weight.is_contiguous(memory_format=torch.channels_last)
    _train(spec, digits, tmp_path / "unbroken")
    unbroken = _outputs(tmp_path / "unbroken")
    state = tmp_path / "killed" / "state"
    resume = state / run_name(spec) / spec_key(spec)
    resume.mkdir(parents=True)
    for step in (0, 4):
        name = f"step~{step:06d}.pt"
        (resume / name).write_bytes((unbroken["checkpoints"] / name).read_bytes())
    _, metrics, evals = _train(spec, digits, tmp_path / "killed", state=state)
    pd.testing.assert_frame_equal(metrics, pd.read_parquet(unbroken["metrics"]), check_exact=True)
    pd.testing.assert_frame_equal(evals, pd.read_parquet(unbroken["evals"]), check_exact=True)
    probe = {"probe_every": 2, "landscape": {"low": 0.5, "high": 4.0, "points": 3},
             "activations": {"layers": [2], "units": 2, "samples": 64}, "curvature": {"iterations": 3, "tol": 1e-3}}
    for start in (0, 4, 8):
        tables = probe_segment(spec, probe, digits, unbroken["checkpoints"], unbroken["metrics"], start, start + 4,
                               device="cpu", replay_rtol=0.0)
        assert len(tables["landscape_steps"]) == 2
    _, nchw, _ = _train(dict(spec, model=VGG_SPEC["model"]), digits, tmp_path / "nchw")
    first = [pd.read_parquet(unbroken["metrics"])["loss"].iloc[0], nchw["loss"].iloc[0]]
    assert first[0] == pytest.approx(first[1], rel=1e-5)
