"""Loss surfaces around a run's weights: Li et al.'s picture ("Visualizing the Loss
Landscape of Neural Nets", NeurIPS 2018) for this paper's networks.

The surface of a run at step t is the loss and accuracy at theta_t + a d1 + b d2 over
a square grid of (a, b) in [-radius, radius]^2, where d1 and d2 are Gaussian
directions drawn from (seed, t, "surface") and **filter-normalized**: each filter
(a conv output channel) or neuron (a row of a linear weight) of a direction is
rescaled to the norm of the same filter of the weights, and biases and normalization
parameters get zero (their `ignore='biasbn'` choice), so the picture does not depend
on the scale invariance that BatchNorm gives the weights before it.

Its 1D companion is the straight line from the initial weights theta_0 to theta_t,
theta_0 + alpha (theta_t - theta_0) for alpha in [-0.5, 1.5] (Goodfellow et al.,
ICLR 2015), every parameter included.

Each point is evaluated as every measurement here is: normalization in train mode
(batch statistics), a noisy layer with step t's one noise draw, on a private copy of
the model, over a fixed set of training samples drawn from the seed, in minibatches
of the training batch size (each with its own batch statistics). The run's model,
its running statistics and its checkpoints are never touched.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch import nn

from ..norms import set_noise_step, weight_parameter
from ..seeding import generator
from ..training.problems import Problem
from ..training.checkpoints import CHECKPOINT_NAME, checkpoint_steps, load_checkpoint
from ..training.engine import build_problem, build_run
from ..training.train import resolve_device, run_name, use_exact_numerics

Tensors = list[torch.Tensor]
FILTER_EPS = 1e-10  # Li et al.'s guard against a zero direction filter
COLUMNS = ["step", "a", "b", "loss", "accuracy"]
LINE_COLUMNS = ["step", "alpha", "loss", "accuracy"]


def weight_positions(model: nn.Module) -> set[int]:
    """Positions in model.parameters() of the conv/linear weights: the parameters a
    direction moves (under weight normalization the direction v, and g stays put like
    BN's gamma). Biases and normalization parameters stay put (biasbn)."""
    position = {id(p): i for i, p in enumerate(model.parameters())}
    return {position[id(weight_parameter(layer))] for layer in model.weight_layers()}


def filter_normalize(direction: Tensors, weights: Tensors, moved: set[int]) -> Tensors:
    """`direction` with each filter (slice along dim 0) of the parameters at `moved`
    rescaled to the norm of the same filter of `weights`; every other parameter zero."""
    out = []
    for i, (d, w) in enumerate(zip(direction, weights)):
        if i not in moved:
            out.append(torch.zeros_like(w))
            continue
        d_norms = d.flatten(1).norm(dim=1) if d.dim() > 1 else d.norm().reshape(1)
        w_norms = w.flatten(1).norm(dim=1) if w.dim() > 1 else w.norm().reshape(1)
        scale = (w_norms / (d_norms + FILTER_EPS)).reshape(-1, *([1] * (d.dim() - 1)))
        out.append(d * scale)
    return out


def directions(model: nn.Module, weights: Tensors, seed: int, step: int) -> tuple[Tensors, Tensors]:
    """The two filter-normalized directions of a run's surface at `step`: Gaussian,
    drawn on the CPU from (seed, step, "surface", k) so they are a pure function of
    (seed, step) on any device, then moved to the weights' device."""
    moved = weight_positions(model)
    pair = []
    for k in (0, 1):
        gen = generator(seed, "surface", step, k)
        raw = [torch.randn(w.shape, generator=gen, dtype=torch.float32).to(w.device) for w in weights]
        pair.append(filter_normalize(raw, weights, moved))
    return pair[0], pair[1]


def evaluation_set(problem: Problem, seed: int, samples: int) -> tuple[torch.Tensor, torch.Tensor]:
    """A fixed set of training samples drawn from the seed (all of them when `samples`
    is at least the training set), the same for every step and grid point."""
    n = len(problem.train_x)
    if samples >= n:
        return problem.train_x, problem.train_y
    keep = torch.randperm(n, generator=generator(seed, "surface-samples"))[:samples].to(problem.train_x.device)
    return problem.train_x[keep], problem.train_y[keep]


@dataclass
class SurfaceEvaluator:
    """Loss and accuracy of a private copy of `model` at any parameters, over the
    evaluation set in minibatches of `batch_size`, in train mode with the noise of
    `step`. The DLN's loss is its training loss (a sum over samples); the VGG's the
    mean cross-entropy."""

    model: nn.Module
    problem: Problem
    x: torch.Tensor
    y: torch.Tensor
    batch_size: int
    step: int

    def __post_init__(self):
        self.model = copy.deepcopy(self.model)
        self.model.train()
        set_noise_step(self.model, self.step)
        self.params = list(self.model.parameters())
        self.evaluations = 0

    @torch.no_grad()
    def __call__(self, values: Tensors) -> tuple[float, float]:
        for p, v in zip(self.params, values):
            p.copy_(v)
        self.evaluations += 1
        total, correct, n = 0.0, 0.0, len(self.x)
        for start in range(0, n, self.batch_size):
            x, y = self.x[start:start + self.batch_size], self.y[start:start + self.batch_size]
            out = self.model(x)
            loss = self.problem.loss_fn(out, y)
            # mean cross-entropy: weight each minibatch by its size; the DLN's sum adds up
            total += float(loss) * (len(x) if self.problem.classification else 1.0)
            correct += float(self.problem.correct(out, y)) if self.problem.classification else 0.0
        loss = total / n if self.problem.classification else total
        accuracy = correct / n if self.problem.classification else math.nan
        return loss, accuracy


def grid_axis(points: int, radius: float) -> np.ndarray:
    """The grid's coordinates along one axis: `points` values from -radius to radius."""
    return np.linspace(-radius, radius, points)


def row_blocks(points: int, rows_per_job: int) -> list[int]:
    """The first grid row of each job's block of rows."""
    return list(range(0, points, rows_per_job))


def surface_rows(evaluator: SurfaceEvaluator, weights: Tensors, d1: Tensors, d2: Tensors, axis: np.ndarray,
                 rows: range, step: int, log=None) -> pd.DataFrame:
    """The loss and accuracy at weights + a d1 + b d2 for every a on `axis` and b on
    the grid rows `rows` (row j is b = axis[j])."""
    out = []
    for j in rows:
        b = float(axis[j])
        for a in axis:
            point = [w + float(a) * x + b * y for w, x, y in zip(weights, d1, d2)]
            loss, accuracy = evaluator(point)
            out.append((step, float(a), b, loss, accuracy))
        if log:
            print(f"step {step}: row {j} (b = {b:+.3f}) done", file=log, flush=True)
    return pd.DataFrame(out, columns=COLUMNS)


def interpolation(evaluator: SurfaceEvaluator, start: Tensors, end: Tensors, alphas: np.ndarray,
                  step: int) -> pd.DataFrame:
    """Loss and accuracy along start + alpha (end - start): Goodfellow et al.'s line
    from the initial weights (alpha 0) to the chosen step's (alpha 1)."""
    out = []
    for alpha in alphas:
        loss, accuracy = evaluator([s + float(alpha) * (e - s) for s, e in zip(start, end)])
        out.append((step, float(alpha), loss, accuracy))
    return pd.DataFrame(out, columns=LINE_COLUMNS)


def rise(surface: pd.DataFrame, radius: float, fraction: float = 0.5, relative: bool = True) -> float:
    """The median loss increase over the grid points on the circle of radius
    fraction x radius (within half a grid spacing of it), relative to the centre's
    loss, (L - L_centre) / L_centre, or absolute, L - L_centre: how fast the loss
    rises around the weights, one number per surface. NaN when the centre's loss is
    not finite or no point lies on the circle."""
    spacing = _spacing(surface)
    base = centre_loss(surface)
    if math.isnan(spacing) or not math.isfinite(base) or base == 0.0:
        return math.nan
    distance = np.hypot(surface["a"].to_numpy(), surface["b"].to_numpy())
    ring = surface.loc[np.abs(distance - fraction * radius) <= spacing / 2, "loss"].to_numpy(dtype=float)
    ring = np.where(np.isnan(ring), np.inf, ring)  # a NaN loss is one that blew up
    if not len(ring):
        return math.nan
    return float(np.median((ring - base) / base if relative else ring - base))


def _spacing(surface: pd.DataFrame) -> float:
    axis = np.unique(surface["a"].to_numpy())
    return float(np.diff(axis).min()) if len(axis) > 1 else math.nan


def centre_loss(surface: pd.DataFrame) -> float:
    """The loss at the grid's centre (a = b = 0: the run's own weights)."""
    spacing = _spacing(surface)
    if math.isnan(spacing):
        return math.nan
    centre = surface.loc[(surface["a"].abs() < spacing / 2) & (surface["b"].abs() < spacing / 2), "loss"]
    return float(centre.iloc[0]) if len(centre) else math.nan


def barrier(line: pd.DataFrame) -> float:
    """The highest loss on the line between alpha 0 and 1 over the higher of its two
    ends: 1 when the loss falls monotonically from the initial to the trained weights,
    above 1 when a barrier lies between them."""
    loss = line.set_index("alpha")["loss"].astype(float).sort_index()
    alphas = loss.index.to_numpy()
    ends = [float(loss.iloc[np.abs(alphas - end).argmin()]) for end in (0.0, 1.0)]
    inside = loss[(alphas >= 0.0) & (alphas <= 1.0)]
    if inside.empty or not all(math.isfinite(e) for e in ends):
        return math.nan
    return float(inside.max() / max(ends))


# --------------------------------------------------------------------------- jobs


def _setup(spec: dict, data_path, device: str, threads):
    if threads:
        torch.set_num_threads(int(threads))
    dev = resolve_device(device)
    use_exact_numerics(dev)
    problem = build_problem(spec, data_path, dev)
    model, _ = build_run(spec, dev)
    return dev, problem, model


def _weights_at(model: nn.Module, checkpoints, step: int, dev) -> Tensors | None:
    """The run's parameters at `step` from its checkpoint, loaded into `model`; None
    when the run has no checkpoint there (it diverged before)."""
    path = Path(checkpoints) / CHECKPOINT_NAME.format(step=step)
    if not path.exists():
        return None
    model.load_state_dict(load_checkpoint(path, map_location=dev)["model"])
    return [p.detach().clone() for p in model.parameters()]


def _missing(spec: dict, checkpoints, step: int, log) -> None:
    available = checkpoint_steps(Path(checkpoints))
    if log:
        print(f"{run_name(spec)} has no checkpoint at step {step} (it has {available}): it diverged before, "
              "so there is no surface to measure; writing an empty table", file=log, flush=True)


def surface_block(spec: dict, settings: dict, data_path, checkpoints, step: int, first_row: int,
                  device: str = "auto", threads: int | None = None, log=None) -> pd.DataFrame:
    """One job's block of grid rows of the run's surface at `step` (settings: the
    config's nets.<net>.surface: grid, radius, samples, rows_per_job)."""
    dev, problem, model = _setup(spec, data_path, device, threads)
    weights = _weights_at(model, checkpoints, step, dev)
    if weights is None:
        _missing(spec, checkpoints, step, log)
        return pd.DataFrame({c: pd.Series(dtype="float64") for c in COLUMNS})
    d1, d2 = directions(model, weights, spec["seed"], step)
    x, y = evaluation_set(problem, spec["seed"], settings["samples"])
    evaluator = SurfaceEvaluator(model, problem, x, y, spec["batch_size"], step)
    axis = grid_axis(settings["grid"], settings["radius"])
    rows = range(first_row, min(first_row + settings["rows_per_job"], settings["grid"]))
    return surface_rows(evaluator, weights, d1, d2, axis, rows, step, log)


def interpolation_line(spec: dict, settings: dict, data_path, checkpoints, step: int, device: str = "auto",
                       threads: int | None = None, log=None) -> pd.DataFrame:
    """The run's loss and accuracy on the line from its initial weights to step `step`."""
    dev, problem, model = _setup(spec, data_path, device, threads)
    start = _weights_at(model, checkpoints, 0, dev)
    end = _weights_at(model, checkpoints, step, dev)
    if start is None or end is None:
        _missing(spec, checkpoints, step, log)
        return pd.DataFrame({c: pd.Series(dtype="float64") for c in LINE_COLUMNS})
    x, y = evaluation_set(problem, spec["seed"], settings["samples"])
    evaluator = SurfaceEvaluator(model, problem, x, y, spec["batch_size"], step)
    low, high = settings["interpolation"]
    return interpolation(evaluator, start, end, np.linspace(low, high, settings["interpolation_points"]), step)
