"""Probes against answers known in closed form, and proof that they leave no trace."""

import copy
import math
import os
import random

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

from bnopt.training.data import prepare_digits
from bnopt.nets.models import build_model
from bnopt.measure.probes import (StepEvaluator, cosine, eta_grid, internal_covariate_shift, landscape,
                                  lanczos_top_eigenvalue, layer_param_indices, norm, overflowed,
                                  top_hessian_eigenvalue, weight_indices)
from bnopt.training.problems import dln_problem
from bnopt.measure.replay import (finish_step, measure_step, probe_segment, probed_steps, ReplayMismatch,
                                  segment_steps, TABLES)
from bnopt.training.checkpoints import CHECKPOINT_NAME, load_checkpoint
from bnopt.training.engine import build_problem, build_run, train_step
from bnopt.training.train import run_training


class Quadratic(nn.Module):
    """f(x) = 1/2 x' H x, with x the module's one parameter (the input is ignored)."""

    def __init__(self, hessian: torch.Tensor, x0: torch.Tensor):
        super().__init__()
        self.register_buffer("hessian", hessian)
        self.x = nn.Parameter(x0.clone())

    def forward(self, _):
        return 0.5 * self.x @ self.hessian @ self.x


def _quadratic(dtype=torch.float64):
    g = torch.Generator().manual_seed(0)
    q, _ = torch.linalg.qr(torch.randn(6, 6, generator=g, dtype=dtype))
    eigenvalues = torch.tensor([5.0, 3.0, 1.0, 0.5, -0.25, -2.0], dtype=dtype)
    hessian = q @ torch.diag(eigenvalues) @ q.T
    x0 = torch.randn(6, generator=g, dtype=dtype)
    model = Quadratic(hessian, x0)
    evaluator = StepEvaluator(model, (torch.zeros(1), torch.zeros(1)), lambda out, _: out, step=0)
    return model, evaluator, hessian, x0, eigenvalues


def test_landscape_on_a_quadratic_is_exact():
    model, evaluator, H, x, _ = _quadratic()
    params = [x.clone()]
    loss, (g,) = evaluator.loss_and_grad(params)
    torch.testing.assert_close(g, H @ x)
    assert loss == pytest.approx(0.5 * float(x @ H @ x), rel=1e-12)
    etas = eta_grid(0.1, 0.5, 4.0, 8)
    points = landscape(evaluator, params, [g], etas)
    Hg = H @ g
    for eta, p in zip(etas, points):
        moved = x - eta * g
        assert p.loss == pytest.approx(0.5 * float(moved @ H @ moved), rel=1e-12)
        assert p.grad_change == pytest.approx(eta * float(Hg.norm()), rel=1e-10)  # ||g - g'|| = eta ||Hg||
        assert p.beta == pytest.approx(float(Hg.norm() / g.norm()), rel=1e-10)  # independent of eta


def test_landscape_along_a_momentum_update_on_a_quadratic_is_exact():
    """Along d = -(g + m buf), SGD with momentum's step per unit lr: the loss at x + eta d,
    ||g - g'|| = eta ||H d|| and beta = ||H d|| / ||d||, which differs from the gradient's."""
    model, evaluator, H, x, _ = _quadratic()
    params = [x.clone()]
    _, (g,) = evaluator.loss_and_grad(params)
    buf = torch.randn(6, dtype=H.dtype, generator=torch.Generator().manual_seed(3))
    d = -(0.9 * buf + g)
    etas = eta_grid(0.1, 0.5, 4.0, 4)
    points = landscape(evaluator, params, [g], etas, direction=[d])
    for eta, p in zip(etas, points):
        moved = x + eta * d
        assert p.loss == pytest.approx(0.5 * float(moved @ H @ moved), rel=1e-12)
        assert p.grad_change == pytest.approx(eta * float((H @ d).norm()), rel=1e-10)
        assert p.beta == pytest.approx(float((H @ d).norm() / d.norm()), rel=1e-10)
    assert points[0].beta != pytest.approx(float((H @ g).norm() / g.norm()), rel=1e-3)
    # with d = -g it is the gradient's landscape, bit for bit
    along_gradient = landscape(evaluator, params, [g], etas)
    assert landscape(evaluator, params, [g], etas, direction=[-g]) == along_gradient


class Quartic(nn.Module):
    """f(x) = sum x^4 in float32: steep enough that a long step along -grad overflows."""

    def __init__(self, x0: torch.Tensor):
        super().__init__()
        self.x = nn.Parameter(x0.clone())

    def forward(self, _):
        return self.x.pow(4).sum()


def test_a_probe_point_past_float32s_range_is_an_overflow_not_a_missing_value():
    """At x = 1e3 the gradient 4 x^3 = 4e9; a step of 1e-6 lands at ~4e3 (finite, ~2.6e14),
    one of 1e4 at ~4e13 (x^4 ~ 3e54 and 4 x^3 ~ 3e41, both past float32's 3.4e38):
    recorded as inf, so a max over steps or a percentile counts it as the largest value."""
    model = Quartic(torch.full((3,), 1e3))
    evaluator = StepEvaluator(model, (torch.zeros(1), torch.zeros(1)), lambda out, _: out, step=0)
    params = [model.x.detach().clone()]
    _, grad = evaluator.loss_and_grad(params)
    small, large = landscape(evaluator, params, grad, [1e-6, 1e4])
    assert all(math.isfinite(v) for v in (small.loss, small.grad_change, small.beta))
    assert large.loss == large.grad_change == large.beta == math.inf
    assert overflowed(float("nan")) == math.inf and overflowed(-2.5) == -2.5


def test_eta_grid_is_geometric_with_both_ends():
    etas = eta_grid(0.1, 0.5, 4.0, 8)
    assert etas[0] == pytest.approx(0.05) and etas[-1] == pytest.approx(0.4) and len(etas) == 8
    ratios = np.diff(np.log(etas))
    assert np.allclose(ratios, ratios[0])


def test_lanczos_finds_the_largest_eigenvalue_of_a_symmetric_matrix():
    g = torch.Generator().manual_seed(1)
    a = torch.randn(30, 30, generator=g, dtype=torch.float64)
    sym = a + a.T
    exact = torch.linalg.eigvalsh(sym)
    start = torch.randn(30, generator=g, dtype=torch.float64)
    top, used = lanczos_top_eigenvalue(lambda v: sym @ v, start, 30, 1e-12)
    assert top == pytest.approx(float(exact.max()), rel=1e-10) and used <= 30
    # Within its budget of products it stops early on a loose tolerance, and never exceeds it.
    rough, few = lanczos_top_eigenvalue(lambda v: sym @ v, start, 8, 1e-3)
    assert few <= 8 and abs(rough - float(exact.max())) < 0.1 * float(exact.abs().max())
    # A matrix of rank 2: the Krylov space is exhausted after two products, and the value is exact.
    u = torch.randn(30, 2, generator=g, dtype=torch.float64)
    low_rank = u @ torch.diag(torch.tensor([3.0, -5.0], dtype=torch.float64)) @ u.T
    value, used = lanczos_top_eigenvalue(lambda v: low_rank @ v, start, 30, 0.0)
    assert value == pytest.approx(float(torch.linalg.eigvalsh(low_rank).max()), rel=1e-9) and used <= 3


def test_top_eigenvalue_when_the_dominant_one_is_negative():
    """Lanczos finds the largest algebraic eigenvalue, not the largest in magnitude."""
    _, evaluator, H, x, eigenvalues = _quadratic()
    H2 = H - 4.0 * torch.eye(6, dtype=H.dtype)  # eigenvalues 1, -1, -3, -3.5, -4.25, -6: dominant is -6
    model = Quadratic(H2, x)
    evaluator = StepEvaluator(model, (torch.zeros(1), torch.zeros(1)), lambda out, _: out, step=0)
    _, grad, hvp = evaluator.loss_grad_and_hvp([x.clone()])
    value, used = top_hessian_eigenvalue(hvp, grad, seed=0, step=0, iterations=6, tol=1e-12)
    assert value == pytest.approx(1.0, rel=1e-9) and used <= 6
    # A zero gradient (a stationary point) starts from a random vector instead.
    value, _ = top_hessian_eigenvalue(hvp, [torch.zeros_like(x)], seed=0, step=0, iterations=6, tol=1e-12)
    assert value == pytest.approx(1.0, rel=1e-9)


def test_hessian_vector_products_reuse_the_gradients_graph():
    """On a quadratic: H v for several v from one gradient graph, each one double
    backward (no new forward), equal to the closed form."""
    _, evaluator, H, x, _ = _quadratic()
    loss, (g,), hvp = evaluator.loss_grad_and_hvp([x.clone()])
    torch.testing.assert_close(g, H @ x)
    forwards = evaluator.evaluations
    for k in range(3):
        v = torch.randn(6, dtype=H.dtype, generator=torch.Generator().manual_seed(k))
        (hv,) = hvp([v])
        torch.testing.assert_close(hv, H @ v)
    assert evaluator.evaluations == forwards == 1 and evaluator.backwards == 1 + 3 * 2


def test_curvature_matches_the_exact_hessian_of_a_small_dln():
    """HVPs through train-mode BN, against the full Hessian from torch.autograd.functional."""
    torch.manual_seed(0)
    problem = dln_problem(0, batch_size=40, device=torch.device("cpu"), n_train=40, n_test=10, dim=3)
    model = build_model("dln", "batchnorm", 0, {"depth": 4, "width": 3, "normalized_layers": 3}).double()
    problem.train_x, problem.train_y = problem.train_x.double(), problem.train_y.double()
    evaluator = StepEvaluator.at_step(model, problem, 0)
    params = [p.detach().clone() for p in model.parameters()]
    shapes, sizes = [p.shape for p in params], [p.numel() for p in params]

    def loss_of(flat):
        values = [t.view(s) for t, s in zip(torch.split(flat, sizes), shapes)]
        out = torch.func.functional_call(evaluator.model, {n: v for (n, _), v in
                                                          zip(evaluator.model.named_parameters(), values)},
                                         (evaluator.x,))
        return evaluator.loss_fn(out, evaluator.y)

    flat = torch.cat([p.reshape(-1) for p in params])
    hessian = torch.autograd.functional.hessian(loss_of, flat)
    exact = torch.linalg.eigvalsh(0.5 * (hessian + hessian.T))
    _, grad, hvp = evaluator.loss_grad_and_hvp(params)
    value, _ = top_hessian_eigenvalue(hvp, grad, seed=0, step=0, iterations=flat.numel(), tol=1e-12)
    assert value == pytest.approx(float(exact.max()), rel=1e-8)
    # HVPs against the explicit Hessian, for good measure.
    for k in range(2):
        v = torch.randn(flat.numel(), dtype=torch.float64, generator=torch.Generator().manual_seed(k))
        hv = hvp([t.view(s) for t, s in zip(torch.split(v, sizes), shapes)])
        torch.testing.assert_close(torch.cat([h.reshape(-1) for h in hv]), hessian @ v)


# --------------------------------------------------------------------------- ICS


class TwoLayerLinear(nn.Module):
    def __init__(self, w1, w2):
        super().__init__()
        self.blocks = nn.ModuleList()
        for w in (w1, w2):
            lin = nn.Linear(w.shape[1], w.shape[0], bias=False, dtype=w.dtype)
            lin.weight.data.copy_(w)
            self.blocks.append(_Block(lin))

    def forward(self, x):
        for b in self.blocks:
            x = b(x)
        return x

    def forward_layer(self, i, x):
        return self.blocks[i](x)

    def weight_layers(self):
        return [b.linear for b in self.blocks]


class _Block(nn.Module):
    def __init__(self, linear):
        super().__init__()
        self.linear, self.norm = linear, nn.Identity()

    def forward(self, x):
        return self.linear(x)


def test_ics_on_a_two_layer_linear_net_matches_a_hand_computation():
    rng = np.random.default_rng(0)
    w1, w2 = rng.normal(size=(3, 4)), rng.normal(size=(2, 3))
    x, y = rng.normal(size=(5, 4)), rng.normal(size=(5, 2))
    lr = 0.05
    # By hand (numpy): loss = 1/2 sum ||W2 W1 x - y||^2 over the 5 samples (rows).
    r = x @ w1.T @ w2.T - y  # residuals (5, 2)
    g2 = r.T @ (x @ w1.T)  # dL/dW2
    g1 = w2.T @ r.T @ x  # dL/dW1
    w1_new = w1 - lr * g1
    r_new = x @ w1_new.T @ w2.T - y
    g2_prime = r_new.T @ (x @ w1_new.T)  # W2's gradient after layer 1's update, W2 unchanged
    expected_l2 = np.linalg.norm(g2 - g2_prime)
    expected_cos = (g2 * g2_prime).sum() / (np.linalg.norm(g2) * np.linalg.norm(g2_prime))

    model = TwoLayerLinear(torch.tensor(w1), torch.tensor(w2)).double()
    loss_fn = lambda out, target: 0.5 * (out - target).square().sum()  # noqa: E731
    evaluator = StepEvaluator(model, (torch.tensor(x), torch.tensor(y)), loss_fn, step=0)
    before = [p.detach().clone() for p in model.parameters()]
    _, grad = evaluator.loss_and_grad(before)
    np.testing.assert_allclose(grad[0].numpy(), g1)
    np.testing.assert_allclose(grad[1].numpy(), g2)
    after = [b - lr * g for b, g in zip(before, grad)]  # the SGD step
    shift = internal_covariate_shift(evaluator, before, after, grad, layer_param_indices(model),
                                     weight_indices(model))
    assert [s.layer for s in shift] == [1, 2]
    assert shift[0].l2 == 0 and shift[0].cosine == pytest.approx(1.0)
    assert shift[1].l2 == pytest.approx(expected_l2, rel=1e-10)
    assert shift[1].cosine == pytest.approx(expected_cos, rel=1e-10)
    # With a zero update, G' = G: no shift at all.
    still = internal_covariate_shift(evaluator, before, before, grad, layer_param_indices(model),
                                     weight_indices(model))
    assert all(s.l2 == 0 and s.cosine == pytest.approx(1.0) for s in still)


@pytest.mark.parametrize("net, variant", [("vgg", "batchnorm"), ("vgg", "noisy_batchnorm"), ("vgg", "standard"),
                                          ("dln", "l1")])
def test_ics_carrying_the_updated_prefix_equals_the_definition(net, variant):
    """G' of layer i from the carried input of layer i equals G' from a whole forward
    pass with layers 1..i-1 updated and i..k not (Definition 2.1), bit for bit."""
    cfg = {"arch": "vgg11", "width": 0.0625} if net == "vgg" else {"depth": 5, "width": 4, "normalized_layers": 4}
    model = build_model(net, variant, 0, cfg)
    g = torch.Generator().manual_seed(0)
    x = torch.randn(16, 3, 32, 32, generator=g) if net == "vgg" else torch.randn(32, 4, generator=g)
    y = torch.randint(0, 10, (16,), generator=g) if net == "vgg" else torch.randn(32, 4, generator=g)
    loss_fn = nn.functional.cross_entropy if net == "vgg" else (lambda out, t: 0.5 * (out - t).square().sum())
    evaluator = StepEvaluator(model, (x, y), loss_fn, step=3)
    before = [p.detach().clone() for p in model.parameters()]
    _, grad = evaluator.loss_and_grad(before)
    after = [b - 0.05 * gr for b, gr in zip(before, grad)]
    groups, weights = layer_param_indices(model), weight_indices(model)
    shift = internal_covariate_shift(evaluator, before, after, grad, groups, weights)
    assert [s.layer for s in shift] == list(range(1, len(weights) + 1))
    for i in range(1, len(weights)):
        updated = {j for group in groups[:i] for j in group}
        mixed = [after[j] if j in updated else before[j] for j in range(len(before))]
        _, (G_prime,) = evaluator.loss_and_grad(mixed, wrt=[weights[i]])
        G = grad[weights[i]]
        assert shift[i].l2 == norm([G - G_prime]) and shift[i].cosine == cosine([G], [G_prime]), i + 1
        assert shift[i].l2 > 0


def test_layer_groups_carry_bias_and_normalization_parameters():
    model = build_model("vgg", "batchnorm", 0, {"arch": "vgg11", "width": 0.125})
    params = list(model.parameters())
    groups = layer_param_indices(model)
    assert len(groups) == 9  # 8 convs + classifier
    first = [params[i] for i in groups[0]]
    assert first[0] is model.blocks[0].linear.weight
    assert first[1] is model.blocks[0].norm.weight and first[2] is model.blocks[0].norm.bias
    assert [params[i] for i in groups[-1]] == [model.classifier.weight, model.classifier.bias]
    assert sorted(i for g in groups for i in g) == list(range(len(params)))  # every parameter, once
    standard = build_model("vgg", "standard", 0, {"arch": "vgg11", "width": 0.125})
    p = list(standard.parameters())
    assert [p[i] for i in layer_param_indices(standard)[0]] == [standard.blocks[0].linear.weight,
                                                                 standard.blocks[0].linear.bias]


# --------------------------------------------------------------------------- no trace


PROBE = {"probe_every": 1, "landscape": {"low": 0.5, "high": 4.0, "points": 3},
         "activations": {"layers": [1, 2, 4], "units": 2, "samples": 16},
         "curvature": {"iterations": 3, "tol": 1e-3}}


def _snapshot(model, optimizer):
    return (copy.deepcopy(model.state_dict()), copy.deepcopy(optimizer.state_dict()),
            [None if p.grad is None else p.grad.clone() for p in model.parameters()],
            torch.get_rng_state(), np.random.get_state()[1].copy(), random.getstate())


def _assert_same(a, b):
    for key in a[0]:
        assert torch.equal(a[0][key], b[0][key]), key
    assert a[1] == b[1]
    assert all((x is None and y is None) or torch.equal(x, y) for x, y in zip(a[2], b[2]))
    assert torch.equal(a[3], b[3]) and np.array_equal(a[4], b[4]) and a[5] == b[5]


@pytest.mark.parametrize("variant", ["batchnorm", "noisy_batchnorm", "l2", "groupnorm", "weightnorm"])
def test_a_measurement_leaves_no_trace(variant):
    spec = dict(net="dln", variant=variant, lr=1e-4, seed=0, steps=10, batch_size=64, eval_every=5,
                checkpoint_every=5, model=dict(depth=5, width=4, normalized_layers=4))
    problem = dln_problem(0, 64, torch.device("cpu"), n_train=64, n_test=8, dim=4)
    model, optimizer = build_run(spec, torch.device("cpu"))
    train_step(model, optimizer, problem, 0)  # gradients and running statistics are non-trivial now
    before = _snapshot(model, optimizer)
    rows = {name: [] for name in TABLES}
    measured = measure_step(model, problem, spec, PROBE, 1, rows)
    _assert_same(before, _snapshot(model, optimizer))
    assert rows["landscape"] and rows["activations"] and rows["curvature"]
    # What needs the step's real update (ICS, the moments at step 2) leaves none either.
    train_step(model, optimizer, problem, 1)
    updated = _snapshot(model, optimizer)
    finish_step(model, problem, 1, measured, layer_param_indices(model), weight_indices(model), rows)
    _assert_same(updated, _snapshot(model, optimizer))
    assert rows["ics"] and rows["moments"] and rows["landscape_steps"]


@pytest.mark.parametrize("variant", ["standard", "noisy_batchnorm", "linf", "layernorm", "weightnorm"])
def test_training_with_and_without_probes_is_identical(variant, tmp_path):
    """Replay with a measurement at every step: the trajectory (every loss, and the final
    parameters and running statistics) equals the run's."""
    spec = dict(net="vgg", variant=variant, lr=0.05, seed=0, steps=6, batch_size=16, eval_every=6,
                checkpoint_every=3, model=dict(arch="vgg11", width=0.0625), dataset="digits")
    prepare_digits(tmp_path / "digits.pt")
    out = dict(metrics=tmp_path / "m.parquet", evals=tmp_path / "e.parquet", manifest=tmp_path / "man.json",
               checkpoints=tmp_path / "ckpt")
    run_training(spec, str(tmp_path / "digits.pt"), out, tmp_path / "state", "cpu", 1, log=open(os.devnull, "w"))
    probe = dict(PROBE, activations={"layers": [2, 8], "units": 2, "samples": 16})
    tables = probe_segment(spec, probe, str(tmp_path / "digits.pt"), out["checkpoints"], out["metrics"], 0, 3,
                           device="cpu", threads=1)  # raises on any replayed loss that differs
    assert sorted(tables["landscape_steps"]["step"]) == [0, 1, 2]
    assert len(tables["ics"]) == 3 * 9
    # Measuring at every step, then stepping: the model after step 2 is the run's
    # checkpoint at step 3, bit for bit (parameters and running statistics).
    problem = build_problem(spec, str(tmp_path / "digits.pt"), torch.device("cpu"))
    model, optimizer = build_run(spec, torch.device("cpu"))
    ckpt0 = load_checkpoint(out["checkpoints"] / CHECKPOINT_NAME.format(step=0))
    model.load_state_dict(ckpt0["model"])
    rows = {name: [] for name in TABLES}
    for step in range(3):
        measure_step(model, problem, spec, probe, step, rows)
        train_step(model, optimizer, problem, step)
    ckpt3 = load_checkpoint(out["checkpoints"] / CHECKPOINT_NAME.format(step=3))
    for key, value in model.state_dict().items():
        assert torch.equal(value, ckpt3["model"][key]), key


def test_weight_normalized_layers_measure_ics_on_their_direction():
    """Under weight normalization "the layer's weight" is v: ICS's G is its gradient,
    and g moves with its layer (like BN's gamma)."""
    model = build_model("dln", "weightnorm", 0, {"depth": 4, "width": 3, "normalized_layers": 3})
    params = list(model.parameters())
    weights, groups = weight_indices(model), layer_param_indices(model)
    for i, block in enumerate(model.blocks[:3]):
        wn = block.linear.parametrizations.weight
        assert params[weights[i]] is wn.original1
        assert {id(params[j]) for j in groups[i]} == {id(wn.original0), id(wn.original1)}
    assert params[weights[3]] is model.blocks[3].linear.weight


def test_a_replay_that_differs_fails_naming_run_step_and_values(tmp_path):
    spec = dict(net="dln", variant="batchnorm", lr=1e-4, seed=0, steps=4, batch_size=50, eval_every=4,
                checkpoint_every=4, model=dict(depth=3, width=4, normalized_layers=2),
                data=dict(n_train=50, n_test=10))
    out = dict(metrics=tmp_path / "m.parquet", evals=tmp_path / "e.parquet", manifest=tmp_path / "man.json",
               checkpoints=tmp_path / "ckpt")
    run_training(spec, None, out, tmp_path / "state", "cpu", 1, log=open(os.devnull, "w"))
    metrics = pd.read_parquet(out["metrics"])
    metrics.loc[1, "loss"] += 1e-3  # what training "recorded" no longer matches the code
    metrics.to_parquet(out["metrics"])
    probe = dict(PROBE, activations={"layers": [1], "units": 1, "samples": 4})
    with pytest.raises(ReplayMismatch, match=r"dln/batchnorm/lr~0.0001/seed~0 step 1: the replayed loss") as error:
        probe_segment(spec, probe, None, out["checkpoints"], out["metrics"], 0, 4, device="cpu", threads=1,
                      trained_on="cpu (x86_64, 4 threads)")
    assert "required: bit for bit; trained on cpu (x86_64, 4 threads), replayed on cpu" in str(error.value)
    assert "replay_rtol" in str(error.value)
    # The documented way out for mixed hardware: a relative tolerance, which this difference is within ...
    recorded = float(metrics.loc[1, "loss"])
    probe_segment(spec, probe, None, out["checkpoints"], out["metrics"], 0, 4, device="cpu", threads=1,
                  replay_rtol=2e-3 / recorded)
    # ... and a difference beyond it still fails.
    with pytest.raises(ReplayMismatch, match="within relative"):
        probe_segment(spec, probe, None, out["checkpoints"], out["metrics"], 0, 4, device="cpu", threads=1,
                      replay_rtol=0.5e-3 / recorded)


def test_dense_probes_measure_the_first_steps_more_often():
    probe = dict(probe_every=250, dense=dict(until=1000, every=50))
    steps = probed_steps(probe, 0, 10_000)
    assert steps[:4] == [0, 50, 100, 150] and 950 in steps and 1050 not in steps and 1250 in steps
    assert len(steps) == 20 + 36  # every 50 below 1,000; every 250 from there
    assert probed_steps(dict(probe_every=250), 0, 1000) == [0, 250, 500, 750]
    assert probed_steps(probe, 500, 750) == [500, 550, 600, 650, 700]


def test_segments_cover_the_run():
    assert segment_steps(10, 4) == [(0, 4), (4, 8), (8, 10)]
    assert segment_steps(8, 4) == [(0, 4), (4, 8)]


def test_measurements_do_not_depend_on_where_the_replay_starts(tmp_path):
    """Dense checkpoints (replay from the newest one) and sparse ones (replay the whole
    segment) give identical measurements: the replay is exact."""
    base = dict(net="dln", variant="noisy_batchnorm", lr=1e-4, seed=0, steps=9, batch_size=50, eval_every=9,
                model=dict(depth=4, width=4, normalized_layers=3), data=dict(n_train=50, n_test=10))
    probe = dict(PROBE, probe_every=4, activations={"layers": [1, 3], "units": 2, "samples": 8})
    results = []
    for every in (2, 9):
        spec = dict(base, checkpoint_every=every)
        folder = tmp_path / f"every{every}"
        out = dict(metrics=folder / "m.parquet", evals=folder / "e.parquet", manifest=folder / "man.json",
                   checkpoints=folder / "ckpt")
        folder.mkdir()
        run_training(spec, None, out, folder / "state", "cpu", 1, log=open(os.devnull, "w"))
        results.append(probe_segment(spec, probe, None, out["checkpoints"], out["metrics"], 0, 9, device="cpu",
                                     threads=1))
    dense, sparse = results
    assert sorted(dense["landscape_steps"]["step"]) == [0, 4, 8]
    for name in TABLES:
        timing = [c for c in ("seconds",) if c in dense[name]]  # how long, not what
        pd.testing.assert_frame_equal(dense[name].drop(columns=timing), sparse[name].drop(columns=timing),
                                      check_exact=True, obj=name)


def test_successive_step_moments_match_a_hand_computation():
    """Fig. 8's |mu_t+1 - mu_t|: the moments at t + 1 are those of the network after
    step t's update, on step t + 1's own minibatch and noise (minibatches differ here)."""
    from bnopt.norms import draw_noise

    spec = dict(net="dln", variant="noisy_batchnorm", lr=0.05, seed=3, steps=4, batch_size=10, eval_every=4,
                checkpoint_every=4, model=dict(depth=3, width=3, normalized_layers=2),
                data=dict(n_train=40, n_test=5))
    problem = dln_problem(3, 10, torch.device("cpu"), n_train=40, n_test=5, dim=3)
    model, optimizer = build_run(spec, torch.device("cpu"))
    probe = dict(PROBE, activations={"layers": [1, 2], "units": 3, "samples": 64}, curvature={"iterations": 0})
    rows = {name: [] for name in TABLES}
    t = 1
    train_step(model, optimizer, problem, 0)
    measured = measure_step(model, problem, spec, probe, t, rows)
    expected_t = _hand_moments(model, problem, t, spec["seed"], draw_noise)
    train_step(model, optimizer, problem, t)  # the real update of step t
    finish_step(model, problem, t, measured, layer_param_indices(model), weight_indices(model), rows)
    expected_next = _hand_moments(model, problem, t + 1, spec["seed"], draw_noise)
    table = pd.DataFrame(rows["moments"], columns=["step", "layer", "unit", "mean", "var", "mean_next", "var_next"])
    assert (table["step"] == t).all() and len(table) == 2 * 3
    for row in table.itertuples():
        m, v = expected_t[row.layer]
        m_next, v_next = expected_next[row.layer]
        assert row.mean == pytest.approx(m[row.unit], abs=1e-5) and row.var == pytest.approx(v[row.unit], rel=1e-4)
        assert row.mean_next == pytest.approx(m_next[row.unit], abs=1e-5)
        assert row.var_next == pytest.approx(v_next[row.unit], rel=1e-4)
    assert not np.allclose(table["mean"], table["mean_next"])


def _hand_moments(model, problem, step, seed, draw_noise):
    """Per-unit mean and biased variance of layers 1 and 2's noisy-BN outputs, in numpy
    from the weights: linear map, batch normalization with batch statistics, then
    Algorithm 1's noise of (seed, step, layer)."""
    x = problem.batch(step)[0].double().numpy()
    out = {}
    for layer, block in enumerate(model.blocks[:2], start=1):
        z = x @ block.linear.weight.detach().double().numpy().T
        bn = block.norm.inner
        zhat = (z - z.mean(0)) / np.sqrt(z.var(0) + bn.eps)
        a = zhat * bn.weight.detach().double().numpy() + bn.bias.detach().double().numpy()
        scale, shift = draw_noise(torch.Size(a.shape), seed, step, layer, torch.device("cpu"), torch.float32)
        x = scale.double().numpy() * a + shift.double().numpy()
        out[layer] = (x.mean(0), x.var(0))
    return out
