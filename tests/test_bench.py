"""The training-loop benchmark runs and reports all three loops (numbers are not
asserted: this machine is shared and noisy; read them, compare ratios)."""

import subprocess
import sys

import pytest


def test_benchmark_reports_every_loop():
    done = subprocess.run([sys.executable, "-m", "bnopt", "bench-train", "--arch", "vgg11", "--width", "0.0625",
                           "--steps", "2", "--warmup", "1", "--repeats", "1", "--n-train", "300", "--batch-size", "32",
                           "--device", "cpu", "--threads", "1"], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    for loop in ("bare step", "bnopt loop", "DataLoader loop"):
        row = next(line for line in lines if line.startswith(loop))
        images_per_s = float(row.split()[2])  # "<two-word name> <images/s> <x bare> (<each repeat>)"
        assert images_per_s > 0


def test_dln_benchmark_reports_every_variant_and_the_floor():
    from bnopt.norms import VARIANTS

    done = subprocess.run([sys.executable, "-m", "bnopt", "bench-train", "--net", "dln", "--steps", "3", "--warmup",
                           "1", "--repeats", "1", "--device", "cpu", "--threads", "1"],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    for variant in VARIANTS:
        row = next(line for line in lines if line.split()[0] == variant)
        eager_ms, bnopt_ms = (float(v) for v in row.split()[1:3])
        assert eager_ms > 0 and bnopt_ms > 0
    floor = next(line for line in lines if line.startswith("floor:"))
    assert "14.8 MFLOP" in floor  # 74 products of (1000 x 10) @ (10 x 10) per step


def test_surface_benchmark_reports_points_per_second_per_variant():
    for net in ("vgg", "dln"):
        done = subprocess.run([sys.executable, "-m", "bnopt", "bench-surface", "--net", net, "--width", "0.0625",
                               "--samples", "64", "--points", "2", "--repeats", "1", "--device", "cpu",
                               "--threads", "1", "--variants", "standard", "batchnorm"],
                              capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr
        for variant in ("standard", "batchnorm"):
            row = next(line for line in done.stdout.splitlines() if line.split()[0] == variant)
            points_per_s, grid_s = (float(v) for v in row.split()[1:3])
            assert points_per_s > 0 and grid_s == pytest.approx(21 ** 2 / points_per_s, rel=0.05, abs=0.06)


def test_gpu_lever_benchmark_counts_vgg16_flops_and_checks_exact_repeats_on_the_cpu():
    """The GPU lever benchmark's CPU path (the levers without a CUDA graph): every row
    printed, repeats exact; and its FLOP count is VGG-16's known one (313 M multiply-adds
    forward at 32x32: 3 x 2 x 313.2 M = 1.879 GFLOP per training image)."""
    import torch

    from bnopt.tools.benchgpu import training_flops_per_image
    from bnopt.training.engine import build_run

    model, _ = build_run(dict(net="vgg", variant="standard", lr=0.1, seed=0, model=dict(arch="vgg16", width=1.0)),
                         torch.device("cpu"))
    assert training_flops_per_image(model, torch.randn(2, 3, 32, 32)) == pytest.approx(1.879e9, rel=1e-3)
    done = subprocess.run([sys.executable, "-m", "bnopt", "bench-gpu", "--arch", "vgg11", "--width", "0.0625",
                           "--steps", "2", "--warmup", "1", "--repeats", "1", "--check-steps", "2", "--batch-size",
                           "16", "--device", "cpu"], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    rows = {line.split("  ")[0].strip(): line.split() for line in done.stdout.splitlines()[2:-1]}
    assert set(rows) == {"exact (today)", "channels_last", "tf32"}  # the graph levers need CUDA
    for row in rows.values():
        assert float(row[-7]) > 0 and row[-3] == "yes"  # images/s; repeat exact
    assert float(rows["exact (today)"][-1]) == float(rows["exact (today)"][-2]) == 0.0
