"""The deep linear net's training step: bnopt's loop against plain eager PyTorch,
for every variant, beside the arithmetic floor.

    python -m bnopt bench-train --net dln [--steps 500 --repeats 3 --threads 1]

The DLN (25 layers of 10x10, full batch of 1,000) does ~15 MFLOP per step, well
under a millisecond of arithmetic on one core, so its step is bound by how many
tensor operations are dispatched, not by their size. "eager" is the network as
one would write it in plain PyTorch (nn.Sequential of nn.Linear and the
normalization as straightforward tensor expressions: nn.BatchNorm1d, the l_p
formula, Algorithm 1's noise) with a bare SGD loop; "bnopt" is bnopt's own
training loop (:func:`bnopt.train.train`: the step of :func:`bnopt.train.train_step`,
host syncs, test evaluations), what a training job spends per step.
"""

from __future__ import annotations

import os
import statistics
import tempfile
import time
from pathlib import Path

import torch
from torch import nn
from torch.nn.utils.parametrizations import weight_norm

from ..nets.models import init_glorot
from ..norms import DEFAULT_GROUPS, LP_ORDERS, VARIANTS, group_count
from ..norms.channels import channel_view, reduce_dims
from ..norms.lp import LpNorm, lp_statistic
from ..seeding import generator
from ..training.problems import dln_problem
from ..training.engine import ModuleEngine, build_problem, build_run, make_engine
from ..training.train import device_name, train
from .timing import interleaved

DEPTH, WIDTH, SAMPLES = 25, 10, 1000


# --------------------------------------------------------------------------- plain eager PyTorch


class EagerLpNorm(LpNorm):
    """The l_p layer as straightforward eager tensor expressions (autograd records each)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training:
            return super().forward(x)
        dims = reduce_dims(x)
        mean, norm = x.mean(dims), lp_statistic(x, self.p, dims).reshape(-1)
        with torch.no_grad():
            self.running_mean.lerp_(mean, self.momentum)
            self.running_norm.lerp_(norm, self.momentum)
        y = (x - channel_view(mean, x.dim())) / (channel_view(norm, x.dim()) + self.eps)
        return y * channel_view(self.weight, x.dim()) + channel_view(self.bias, x.dim())


class EagerNoise(nn.Module):
    """Algorithm 1's noise after `inner`, drawn per step as one would write it."""

    def __init__(self, inner: nn.Module, seed: int, layer: int):
        super().__init__()
        self.inner, self.seed, self.layer, self.step = inner, seed, layer, 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a = self.inner(x)
        gen = generator(self.seed, "noise", self.step, self.layer)
        mu = torch.rand(a.shape[1], generator=gen) - 0.5
        sigma = torch.rand(a.shape[1], generator=gen) * 0.25 + 1.0
        m = mu + (torch.rand(a.shape, generator=gen) * 0.2 - 0.1)
        s = sigma + 0.1 * torch.randn(a.shape, generator=gen)
        return s * a + m


def eager_norm(variant: str, layer: int, seed: int) -> nn.Module:
    if variant in ("standard", "weightnorm"):  # weight norm is on the linear layer (eager_dln)
        return nn.Identity()
    if variant in LP_ORDERS:
        return EagerLpNorm(WIDTH, LP_ORDERS[variant])
    if variant == "batchnorm":
        return nn.BatchNorm1d(WIDTH)
    if variant == "layernorm":
        return nn.LayerNorm(WIDTH)
    if variant == "groupnorm":
        return nn.GroupNorm(group_count(WIDTH, DEFAULT_GROUPS["dln"]), WIDTH)
    inner = nn.BatchNorm1d(WIDTH) if variant == "noisy_batchnorm" else nn.Identity()
    return EagerNoise(inner, seed, layer)


def eager_dln(variant: str, seed: int) -> nn.Sequential:
    layers: list[nn.Module] = []
    for layer in range(1, DEPTH + 1):
        linear = nn.Linear(WIDTH, WIDTH, bias=False)
        layers.append(weight_norm(linear) if variant == "weightnorm" and layer < DEPTH else linear)
        if layer < DEPTH:
            layers.append(eager_norm(variant, layer, seed))
    return init_glorot(nn.Sequential(*layers), seed)


def time_eager(variant: str, args, x: torch.Tensor, y: torch.Tensor) -> float:
    """ms per step of the plain eager network and SGD loop."""
    model = eager_dln(variant, seed=0).train()
    noisy = [m for m in model if isinstance(m, EagerNoise)]
    optimizer = torch.optim.SGD(model.parameters(), lr=1e-7)
    for step in range(args.warmup + args.steps):
        if step == args.warmup:
            t0 = time.perf_counter()
        for m in noisy:
            m.step = step
        loss = 0.5 * (model(x) - y).square().sum()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    return (time.perf_counter() - t0) / args.steps * 1e3


# --------------------------------------------------------------------------- bnopt


def dln_spec(variant: str, steps: int) -> dict:
    return dict(net="dln", variant=variant, lr=1e-7, seed=0, steps=steps, batch_size=SAMPLES, eval_every=100,
                checkpoint_every=steps, model=dict(depth=DEPTH, width=WIDTH, normalized_layers=DEPTH - 1),
                data=dict(n_train=SAMPLES, n_test=SAMPLES))


def time_bnopt(variant: str, args, device: torch.device, stack: int | None) -> float:
    """ms per step and run of bnopt's training loop (resumed after the warm-up steps):
    `stack` None trains the unstacked network (bnopt.nets.models.DeepLinearNet, one
    nn.Module: how DLN runs trained before they were stacked), else a stack of that
    many seeds (bnopt.training.stacked, how they train now)."""
    specs = [dict(dln_spec(variant, args.warmup + args.steps), seed=seed) for seed in range(stack or 1)]
    if stack is None:
        engine = ModuleEngine(specs[0], build_problem(specs[0], None, device), *build_run(specs[0], device))
    else:
        engine = make_engine(specs, None, device)
    with tempfile.TemporaryDirectory() as state, open(os.devnull, "w") as quiet:
        folders = [Path(state) / str(spec["seed"]) for spec in specs]
        train([dict(spec, steps=args.warmup) for spec in specs], engine, folders, log=quiet)
        t0 = time.perf_counter()
        train(specs, engine, folders, log=quiet)  # resumes at `warmup`
        if device.type == "cuda":
            torch.cuda.synchronize(device)
    return (time.perf_counter() - t0) / args.steps / len(specs) * 1e3


# --------------------------------------------------------------------------- floors


def matmul_flops_per_step() -> int:
    """Forward: one (N x C) @ (C x C) product per layer; backward: the weight gradient
    of every layer and the input gradient of every layer but the first."""
    return (3 * DEPTH - 1) * 2 * SAMPLES * WIDTH * WIDTH


def peak_gflops(device: torch.device, size: int = 512, repeats: int = 20) -> float:
    """This device's float32 matmul rate on a large product (its arithmetic ceiling)."""
    a, b = torch.randn(size, size, device=device), torch.randn(size, size, device=device)
    for _ in range(3):
        a @ b
    t0 = time.perf_counter()
    for _ in range(repeats):
        a @ b
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return 2 * size**3 * repeats / (time.perf_counter() - t0) / 1e9


def bare_matmuls_ms(device: torch.device, repeats: int = 200) -> float:
    """The step's 74 matrix products alone, into preallocated outputs, no autograd:
    what dispatching the network's own arithmetic costs."""
    h = torch.randn(SAMPLES, WIDTH, device=device)
    w = torch.randn(WIDTH, WIDTH, device=device)
    out_h, out_w = torch.empty_like(h), torch.empty_like(w)

    def step():
        for _ in range(DEPTH):
            torch.mm(h, w.T, out=out_h)  # forward, and each input gradient
        for _ in range(DEPTH - 1):
            torch.mm(h, w, out=out_h)
        for _ in range(DEPTH):
            torch.mm(h.T, h, out=out_w)  # weight gradients

    for _ in range(10):
        step()
    t0 = time.perf_counter()
    for _ in range(repeats):
        step()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return (time.perf_counter() - t0) / repeats * 1e3


def main(args, device: torch.device) -> int:
    args.steps = 500 if args.steps is None else args.steps
    args.warmup = 50 if args.warmup is None else args.warmup
    variants = args.variants or list(VARIANTS)
    unknown = sorted(set(variants) - set(VARIANTS))
    if unknown:
        raise SystemExit(f"unknown variant(s) {', '.join(unknown)}; choose from {', '.join(VARIANTS)}")
    problem = dln_problem(0, SAMPLES, device, n_train=SAMPLES, n_test=SAMPLES, dim=WIDTH)
    x, y = problem.train_x, problem.train_y
    stack = args.stack
    contenders = {}
    for variant in variants:
        if device.type == "cpu":  # the eager baseline draws its noise on the CPU
            contenders[("eager", variant)] = lambda v=variant: time_eager(v, args, x, y)
        contenders[("module", variant)] = lambda v=variant: time_bnopt(v, args, device, None)
        contenders[("alone", variant)] = lambda v=variant: time_bnopt(v, args, device, 1)
        contenders[("stacked", variant)] = lambda v=variant: time_bnopt(v, args, device, stack)
    results = interleaved(contenders, args.repeats)
    ms = {key: statistics.median(values) for key, values in results.items()}

    print(f"device: {device_name(device)} | DLN {DEPTH} layers of {WIDTH}x{WIDTH}, full batch of {SAMPLES} | "
          f"{args.steps} steps x {args.repeats} repeats (medians) | ms per step and run")
    print("eager: plain PyTorch; module: bnopt's loop on one nn.Module (how DLN runs trained before stacking); "
          f"alone: a stack of one (a run by itself now); x{stack}: one run's share of a stack of {stack} seeds")
    print(f"{'variant':<18}{'eager':>9}{'module':>9}{'alone':>9}{f'x{stack}':>9}{'module / x' + str(stack):>16}")
    for variant in variants:
        eager, module = ms.get(("eager", variant)), ms[("module", variant)]
        alone, stacked = ms[("alone", variant)], ms[("stacked", variant)]
        print(f"{variant:<18}{_fmt(eager):>9}{module:>9.3f}{alone:>9.3f}{stacked:>9.3f}"
              f"{_fmt(module / stacked, 'x'):>16}")
    flops = matmul_flops_per_step()
    peak = peak_gflops(device)
    bare = bare_matmuls_ms(device)
    print(f"floor: {flops / 1e6:.1f} MFLOP of matmuls per step = {flops / peak / 1e6:.3f} ms at this device's "
          f"{peak:.0f} GFLOP/s (512^3 matmul); the same {3 * DEPTH - 1} matmuls dispatched bare: {bare:.3f} ms")
    return 0


def _fmt(value: float | None, unit: str = "") -> str:
    return "-" if value is None else f"{value:.3f}{unit}" if not unit else f"{value:.2f}{unit}"
