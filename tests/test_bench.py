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
