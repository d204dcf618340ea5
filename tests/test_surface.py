"""Loss surfaces (bnopt.measure.surface): filter-normalized directions, exact values on a
quadratic, purity in (seed, step), no trace on the run, and the per-surface numbers."""

import hashlib
import math
import os

import numpy as np
import pandas as pd
import pytest
import torch

from bnopt.training.data import prepare_digits
from bnopt.nets.models import build_model
from bnopt.training.problems import dln_problem
from bnopt.measure.surface import (SurfaceEvaluator, barrier, directions, evaluation_set, filter_normalize,
                                   grid_axis, interpolation_line, rise, row_blocks, surface_block, surface_rows,
                                   weight_positions)
from bnopt.training.engine import build_run, train_step
from bnopt.training.train import run_training

SETTINGS = dict(grid=5, radius=1.0, samples=64, rows_per_job=2, interpolation=[-0.5, 1.5], interpolation_points=5)


def _params(model):
    return [p.detach().clone() for p in model.parameters()]


@pytest.mark.parametrize("variant", ["batchnorm", "l2", "standard", "groupnorm", "weightnorm"])
def test_filter_normalization_on_a_small_conv_net(variant):
    """Every filter of a direction has its weight filter's norm; biases and
    normalization parameters are zero (Li et al.'s biasbn). Under weight normalization
    the direction v is moved and its length g is not (like BN's gamma)."""
    model = build_model("vgg", variant, 0, {"arch": "vgg11", "width": 0.0625})
    weights = _params(model)
    moved = weight_positions(model)
    assert len(moved) == 9  # 8 conv layers and the classifier
    for direction in directions(model, weights, seed=3, step=7):
        for i, (d, w) in enumerate(zip(direction, weights)):
            if i in moved:
                assert d.dim() in (2, 4)
                np.testing.assert_allclose(d.flatten(1).norm(dim=1), w.flatten(1).norm(dim=1), rtol=1e-5)
            else:  # a bias or a gamma/beta, or weightnorm's g (one per filter)
                assert (d.dim() == 1 or variant == "weightnorm") and torch.count_nonzero(d) == 0


def test_filter_normalize_rescales_each_filter_of_a_known_direction():
    w = torch.tensor([[3.0, 4.0], [0.0, 1.0]])
    d = torch.tensor([[1.0, 0.0], [2.0, 2.0]])
    (out, bias) = filter_normalize([d, torch.ones(2)], [w, torch.ones(2)], moved={0})
    np.testing.assert_allclose(out, [[5.0, 0.0], [2 ** -0.5, 2 ** -0.5]], rtol=1e-6)
    assert torch.equal(bias, torch.zeros(2))


def test_directions_are_a_pure_function_of_seed_and_step():
    model = build_model("dln", "batchnorm", 0, {"depth": 4, "width": 5, "normalized_layers": 3})
    weights = _params(model)
    first, again = directions(model, weights, 1, 10), directions(model, weights, 1, 10)
    for a, b in zip(first, again):
        assert all(torch.equal(x, y) for x, y in zip(a, b))
    other_step, other_seed = directions(model, weights, 1, 20), directions(model, weights, 2, 10)
    moved = sorted(weight_positions(model))
    for other in (other_step, other_seed):
        assert not torch.equal(first[0][moved[0]], other[0][moved[0]])
    assert not torch.equal(first[0][moved[0]], first[1][moved[0]])  # the two directions differ


def test_the_surface_of_a_quadratic_is_its_closed_form():
    """A one-layer linear net under the DLN loss is a quadratic in its weight W:
    L(W + a D1 + b D2) = ||X (W + a D1 + b D2)^T - Y||^2 at every grid point (the default
    loss, the paper's sum; half of it under half_sum)."""
    torch.manual_seed(0)
    model = build_model("dln", "standard", 0, {"depth": 1, "width": 3, "normalized_layers": 0}).double()
    problem = dln_problem(0, 40, torch.device("cpu"), n_train=40, n_test=4, dim=3)
    problem.train_x, problem.train_y = problem.train_x.double(), problem.train_y.double()
    weights = _params(model)
    d1, d2 = directions(model, weights, 0, 0)
    d1, d2 = [d.double() for d in d1], [d.double() for d in d2]
    x, y = evaluation_set(problem, 0, 1000)
    evaluator = SurfaceEvaluator(model, problem, x, y, batch_size=40, step=0)
    axis = grid_axis(5, 0.7)
    table = surface_rows(evaluator, weights, d1, d2, axis, range(5), step=0)
    X, Y, W, D1, D2 = (t.numpy() for t in (x, y, weights[0], d1[0], d2[0]))
    for row in table.itertuples():
        M = W + row.a * D1 + row.b * D2
        assert row.loss == pytest.approx(np.sum((X @ M.T - Y) ** 2), rel=1e-10)
    assert len(table) == 25 and sorted(set(table["a"])) == pytest.approx(list(axis))
    problem.loss = "half_sum"
    half = surface_rows(SurfaceEvaluator(model, problem, x, y, batch_size=40, step=0), weights, d1, d2, axis,
                        range(5), step=0)
    assert np.allclose(half["loss"], table["loss"] / 2, rtol=1e-12)


def test_the_evaluation_set_is_a_fixed_draw_from_the_seed():
    problem = dln_problem(0, 100, torch.device("cpu"), n_train=100, n_test=4, dim=3)
    a, b = evaluation_set(problem, 5, 30), evaluation_set(problem, 5, 30)
    assert torch.equal(a[0], b[0]) and len(a[0]) == 30
    assert not torch.equal(a[0], evaluation_set(problem, 6, 30)[0])
    assert evaluation_set(problem, 5, 1000)[0] is problem.train_x


def _hash_folder(folder):
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


@pytest.fixture(scope="module")
def trained_vgg(tmp_path_factory):
    """A tiny batchnorm VGG trained 6 steps, checkpoints at 0, 3 and 6."""
    folder = tmp_path_factory.mktemp("surface_run")
    prepare_digits(folder / "digits.pt")
    spec = dict(net="vgg", variant="batchnorm", lr=0.05, seed=0, steps=6, batch_size=32, eval_every=6,
                checkpoint_every=3, model=dict(arch="vgg11", width=0.0625), dataset="digits")
    out = dict(metrics=folder / "m.parquet", evals=folder / "e.parquet", manifest=folder / "man.json",
               checkpoints=folder / "ckpt")
    run_training(spec, str(folder / "digits.pt"), out, folder / "state", "cpu", 1, log=open(os.devnull, "w"))
    return spec, str(folder / "digits.pt"), out["checkpoints"]


def test_a_surface_job_leaves_the_checkpoints_untouched_and_blocks_tile_the_grid(trained_vgg):
    spec, data, checkpoints = trained_vgg
    before = _hash_folder(checkpoints)
    blocks = [surface_block(spec, SETTINGS, data, checkpoints, 6, first) for first in row_blocks(5, 2)]
    assert [len(b) for b in blocks] == [10, 10, 5]
    table = pd.concat(blocks)
    assert len(table.drop_duplicates(["a", "b"])) == 25 and np.isfinite(table["loss"]).all()
    assert table["accuracy"].between(0, 1).all()
    # The same block again: the same numbers (directions and samples are fixed).
    pd.testing.assert_frame_equal(blocks[1], surface_block(spec, SETTINGS, data, checkpoints, 6, 2))
    # Any checkpointed step may be the centre, not just the last.
    middle = surface_block(spec, SETTINGS, data, checkpoints, 3, 0)
    assert len(middle) == 10 and not np.allclose(middle["loss"], blocks[0]["loss"])
    line = interpolation_line(spec, SETTINGS, data, checkpoints, 6)
    assert list(line["alpha"]) == [-0.5, 0.0, 0.5, 1.0, 1.5]
    # The line's alpha = 1 and the surface's centre are the same weights, samples and noise.
    centre = table[(table["a"] == 0) & (table["b"] == 0)]["loss"].iloc[0]
    assert line.loc[line["alpha"] == 1.0, "loss"].iloc[0] == pytest.approx(centre, rel=1e-6)
    assert _hash_folder(checkpoints) == before


def test_evaluating_a_surface_leaves_the_model_and_its_running_statistics_alone():
    spec = dict(net="dln", variant="batchnorm", lr=1e-4, seed=0, steps=4, batch_size=64, eval_every=4,
                checkpoint_every=4, model=dict(depth=4, width=4, normalized_layers=3))
    problem = dln_problem(0, 64, torch.device("cpu"), n_train=64, n_test=8, dim=4)
    model, optimizer = build_run(spec, torch.device("cpu"))
    train_step(model, optimizer, problem, 0)
    state = {k: v.clone() for k, v in model.state_dict().items()}
    weights = _params(model)
    d1, d2 = directions(model, weights, 0, 1)
    evaluator = SurfaceEvaluator(model, problem, problem.train_x, problem.train_y, 64, 1)
    surface_rows(evaluator, weights, d1, d2, grid_axis(3, 1.0), range(3), step=1)
    for key, value in model.state_dict().items():
        assert torch.equal(value, state[key]), key


def test_a_diverged_run_without_the_checkpoint_gives_an_empty_table(trained_vgg, tmp_path):
    spec, data, checkpoints = trained_vgg
    partial = tmp_path / "ckpt"
    partial.mkdir()
    for name in os.listdir(checkpoints):
        if "000006" not in name:
            os.link(os.path.join(checkpoints, name), partial / name)
    log = open(tmp_path / "log", "w")
    assert surface_block(spec, SETTINGS, data, partial, 6, 0, log=log).empty
    log.close()
    assert "diverged before" in (tmp_path / "log").read_text()


def test_rise_and_barrier_on_known_shapes():
    axis = grid_axis(21, 1.0)
    a, b = np.meshgrid(axis, axis)
    bowl = pd.DataFrame(dict(a=a.ravel(), b=b.ravel(), loss=1.0 + (a ** 2 + b ** 2).ravel()))
    assert rise(bowl, 1.0, 0.5) == pytest.approx(0.25, abs=0.03)  # 1 + r^2 at r = 1/2, over 1
    assert rise(bowl, 1.0, 1.0) == pytest.approx(1.0, abs=0.1)
    flat = bowl.assign(loss=2.0)
    assert rise(flat, 1.0) == 0.0
    assert rise(bowl, 1.0, 0.5, relative=False) == pytest.approx(0.25, abs=0.03)  # (1 + r^2) - 1
    alphas = np.linspace(-0.5, 1.5, 41)
    falling = pd.DataFrame(dict(alpha=alphas, loss=np.exp(-alphas) + 1))
    assert barrier(falling) == pytest.approx(1.0)
    bump = falling.assign(loss=falling["loss"] + 3 * np.exp(-((alphas - 0.5) ** 2) / 0.01))
    assert barrier(bump) > 2
    assert math.isnan(rise(bowl.assign(loss=np.where((bowl.a == 0) & (bowl.b == 0), np.nan, bowl.loss)), 1.0))
