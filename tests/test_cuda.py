"""Exactness on CUDA: a resumed run and a probe's replay equal the unbroken run bit for
bit on the same GPU (deterministic kernels, bnopt.training.train.use_exact_numerics). Skipped
where torch sees no CUDA device; `bash tests/gpu/check.sh` runs them with the GPU
benchmarks on a machine that has one."""

import os

import pandas as pd
import pytest
import torch

from bnopt.training.data import prepare_digits
from bnopt.measure.replay import probe_segment
from bnopt.training.train import run_training

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")

SPEC = dict(net="vgg", variant="batchnorm", lr=0.1, seed=0, steps=300, batch_size=128, eval_every=100,
            checkpoint_every=100, model=dict(arch="vgg16", width=0.25), dataset="digits")
PROBE = {"probe_every": 50, "landscape": {"low": 0.5, "high": 4.0, "points": 8},
         "activations": {"layers": [2, 9, 13], "units": 2, "samples": 256},
         "curvature": {"iterations": 10, "tol": 1e-3}}


def _train(tmp_path, name, spec, state=None):
    out = dict(metrics=tmp_path / name / "metrics.parquet", evals=tmp_path / name / "test.parquet",
               manifest=tmp_path / name / "manifest.json", checkpoints=tmp_path / name / "checkpoints")
    (tmp_path / name).mkdir(exist_ok=True)
    with open(os.devnull, "w") as quiet:
        run_training(spec, str(tmp_path / "digits.pt"), out, state or tmp_path / name / "state", device="cuda",
                     log=quiet)
    return out


@pytest.mark.parametrize("variant, channels_last", [("batchnorm", False), ("noisy_batchnorm", False),
                                                    ("batchnorm", True)])
def test_cuda_resume_and_probe_replay_are_exact(tmp_path, variant, channels_last):
    from bnopt.training.train import run_name, spec_key

    prepare_digits(tmp_path / "digits.pt")
    spec = dict(SPEC, variant=variant)
    if channels_last:  # NHWC (model.channels_last): other cuDNN kernels, as exact
        spec["model"] = dict(spec["model"], channels_last=True)
    unbroken = _train(tmp_path, "unbroken", spec)
    # A run killed after its checkpoint at step 200: its resume folder holds the
    # checkpoints up to there. Started again, it continues from step 200.
    state = tmp_path / "killed" / "state"
    resume = state / run_name(spec) / spec_key(spec)
    resume.mkdir(parents=True)
    for step in (0, 100, 200):
        name = f"step~{step:06d}.pt"
        (resume / name).write_bytes((unbroken["checkpoints"] / name).read_bytes())
    resumed = _train(tmp_path, "killed", spec, state=state)
    for table in ("metrics", "evals"):
        pd.testing.assert_frame_equal(pd.read_parquet(resumed[table]), pd.read_parquet(unbroken[table]),
                                      check_exact=True)
    # Every probe segment replays the recorded losses bit for bit (replay_rtol 0 raises otherwise).
    for start in (0, 100, 200):
        tables = probe_segment(spec, PROBE, str(tmp_path / "digits.pt"), unbroken["checkpoints"],
                               unbroken["metrics"], start, start + 100, device="cuda", replay_rtol=0.0)
        assert len(tables["landscape_steps"]) == 2


def test_cuda_surface_blocks_are_repeatable_and_match_the_cpu(tmp_path):
    """A surface block on CUDA twice: bit for bit the same (directions are drawn on the
    CPU; deterministic kernels); against the CPU's: within float32 rounding."""
    from bnopt.measure.surface import surface_block

    prepare_digits(tmp_path / "digits.pt")
    spec = dict(SPEC, steps=100, checkpoint_every=100, eval_every=100)
    run = _train(tmp_path, "run", spec)
    settings = dict(grid=5, radius=1.0, samples=512, rows_per_job=5)
    first, again = (surface_block(spec, settings, str(tmp_path / "digits.pt"), run["checkpoints"], 100, 0,
                                  device="cuda") for _ in range(2))
    pd.testing.assert_frame_equal(first, again, check_exact=True)
    on_cpu = surface_block(spec, settings, str(tmp_path / "digits.pt"), run["checkpoints"], 100, 0, device="cpu")
    assert len(first) == 25
    pd.testing.assert_series_equal(first["loss"], on_cpu["loss"], rtol=1e-3)
