"""Measurements at a training step (paper.md, "Measurements").

Every measurement takes the network as it is at step t and the minibatch of step t,
and is an evaluation, not training: it runs on a private copy of the model, so the
trained model's parameters, gradients, normalization running statistics and the
optimizer state are never touched, and no global RNG is drawn from. Normalization
runs in train mode (batch statistics: the function SGD descends) and noisy layers
use the one noise draw of step t for every evaluation made at that step.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass

import torch
from torch import nn

from .norms import set_noise_step
from .problems import Problem
from .seeding import generator

Tensors = list[torch.Tensor]


# --------------------------------------------------------------------------- vector helpers


def norm(ts: Tensors) -> float:
    """The l2 norm of a list of tensors seen as one vector (accumulated in float64,
    with one host sync rather than one per tensor)."""
    return math.sqrt(float(torch.stack([t.double().square().sum() for t in ts]).sum()))


def dot(a: Tensors, b: Tensors) -> float:
    return float(torch.stack([(x.double() * y.double()).sum() for x, y in zip(a, b)]).sum())


def sub(a: Tensors, b: Tensors) -> Tensors:
    return [x - y for x, y in zip(a, b)]


def axpy(alpha: float, x: Tensors, y: Tensors) -> Tensors:
    """y + alpha * x."""
    return [yi + alpha * xi for xi, yi in zip(x, y)]


def cosine(a: Tensors, b: Tensors) -> float:
    na, nb = norm(a), norm(b)
    return dot(a, b) / (na * nb) if na > 0 and nb > 0 else float("nan")


# --------------------------------------------------------------------------- layers


def layer_param_indices(model: nn.Module) -> list[list[int]]:
    """For the paper's layer #i (index i-1): the positions, in model.parameters(), of
    its conv/linear weight and bias and of the normalization's gamma and beta that
    follow it. The VGG's classifier is the last layer."""
    position = {id(p): i for i, p in enumerate(model.parameters())}
    groups = []
    for block in getattr(model, "blocks", []):
        groups.append([position[id(p)] for p in [*block.linear.parameters(), *block.norm.parameters()]])
    if hasattr(model, "classifier"):
        groups.append([position[id(p)] for p in model.classifier.parameters()])
    return groups


def weight_indices(model: nn.Module) -> list[int]:
    """Positions in model.parameters() of each layer's conv/linear weight."""
    position = {id(p): i for i, p in enumerate(model.parameters())}
    return [position[id(layer.weight)] for layer in model.weight_layers()]


# --------------------------------------------------------------------------- evaluation


class StepEvaluator:
    """Loss and gradients of the model at any parameters, on the minibatch of step t.

    Works on a deep copy of `model` in train mode with the noise of step t; the
    copy's running statistics may move, the original's never do.
    """

    def __init__(self, model: nn.Module, batch: tuple[torch.Tensor, torch.Tensor], loss_fn, step: int):
        self.model = copy.deepcopy(model)
        self.model.train()
        set_noise_step(self.model, step)
        for p in self.model.parameters():
            p.requires_grad_(True)
            p.grad = None
        self.params = list(self.model.parameters())
        self.x, self.y = batch
        self.loss_fn = loss_fn
        self.evaluations = 0  # forward passes, for the cost accounting
        self.backwards = 0  # backward passes (an HVP counts two)

    @classmethod
    def at_step(cls, model: nn.Module, problem: Problem, step: int) -> "StepEvaluator":
        """The evaluator of `model` on the minibatch of training step `step`."""
        return cls(model, problem.batch(step), problem.loss_fn, step)

    def load(self, values: Tensors) -> None:
        with torch.no_grad():
            for p, v in zip(self.params, values):
                p.copy_(v)

    def loss(self, values: Tensors) -> torch.Tensor:
        self.load(values)
        self.evaluations += 1
        return self.loss_fn(self.model(self.x), self.y)

    def loss_and_grad(self, values: Tensors, wrt: list[int] | None = None) -> tuple[float, Tensors]:
        """The loss at `values` and its gradient w.r.t. every parameter (or those at `wrt`)."""
        loss = self.loss(values)
        inputs = self.params if wrt is None else [self.params[i] for i in wrt]
        grads = torch.autograd.grad(loss, inputs)
        self.backwards += 1
        return float(loss.detach()), [g.detach() for g in grads]

    def hvp(self, values: Tensors, vector: Tensors) -> Tensors:
        """Hessian-vector product H(values) @ vector by double backward through
        train-mode normalization."""
        loss = self.loss(values)
        grads = torch.autograd.grad(loss, self.params, create_graph=True)
        inner = sum((g * v).sum() for g, v in zip(grads, vector))
        hv = torch.autograd.grad(inner, self.params)
        self.backwards += 2
        return [h.detach() for h in hv]


# --------------------------------------------------------------------------- landscape


def eta_grid(lr: float, low: float, high: float, points: int) -> list[float]:
    """`points` step lengths, geometrically spaced from low*lr to high*lr, both included."""
    if points == 1:
        return [low * lr]
    ratio = (high / low) ** (1.0 / (points - 1))
    return [lr * low * ratio**k for k in range(points)]


@dataclass
class LandscapePoint:
    eta: float
    loss: float
    grad_change: float  # ||g - grad L(x - eta g)||
    beta: float  # grad_change / ||eta g||


def landscape(evaluator: StepEvaluator, params: Tensors, grad: Tensors, etas: list[float]) -> list[LandscapePoint]:
    """Loss, gradient predictiveness and beta-smoothness along -grad (Fig. 4, 10-13)."""
    grad_norm = norm(grad)
    points = []
    for eta in etas:
        loss, moved_grad = evaluator.loss_and_grad(axpy(-eta, grad, params))
        change = norm(sub(grad, moved_grad))
        beta = change / (eta * grad_norm) if grad_norm > 0 else float("nan")
        points.append(LandscapePoint(eta, loss, change, beta))
    return points


# --------------------------------------------------------------------------- ICS


@dataclass
class ShiftPoint:
    layer: int  # 1-based, the paper's numbering
    l2: float  # ||G - G'||
    cosine: float  # cos(G, G')


def internal_covariate_shift(evaluator: StepEvaluator, before: Tensors, after: Tensors, grad: Tensors,
                             groups: list[list[int]], weights: list[int]) -> list[ShiftPoint]:
    """Definition 2.1: for each layer i, G = grad of W_i at the current parameters and
    G' = the same after layers 1..i-1 (weights, biases, gamma, beta) take their values
    after this step's update (`after`), layers i..k unchanged."""
    points = []
    for i, w in enumerate(weights):
        G = grad[w]
        updated = {j for group in groups[:i] for j in group}
        if not updated:
            G_prime = G  # nothing before layer 1: no shift by definition
        else:
            mixed = [after[j] if j in updated else before[j] for j in range(len(before))]
            _, (G_prime,) = evaluator.loss_and_grad(mixed, wrt=[w])
        points.append(ShiftPoint(i + 1, norm([G - G_prime]), cosine([G], [G_prime])))
    return points


# --------------------------------------------------------------------------- curvature


def power_iteration(matvec, start: Tensors, iterations: int, tol: float) -> tuple[float, int]:
    """The eigenvalue of largest magnitude of a symmetric operator, by power iteration.

    Stops when the Rayleigh quotient changes by less than `tol` (relative) between
    iterations. Returns (eigenvalue, matrix-vector products used).
    """
    v = [t / norm(start) for t in start]
    previous = None
    for k in range(1, iterations + 1):
        hv = matvec(v)
        value = dot(v, hv)
        size = norm(hv)
        if size == 0 or not math.isfinite(size):
            return value, k
        v = [t / size for t in hv]
        if previous is not None and abs(value - previous) <= tol * abs(value):
            return value, k
        previous = value
    return value, iterations


def top_eigenvalue(matvec, start: Tensors, iterations: int, tol: float) -> tuple[float, int]:
    """The largest (algebraic) eigenvalue of a symmetric operator.

    Power iteration finds the eigenvalue of largest magnitude; when that one is
    negative, a second run on the shifted operator A - lambda_min I (whose dominant
    eigenvalue is lambda_max - lambda_min >= 0) finds the top one. Returns the
    eigenvalue and the matrix-vector products used in all.
    """
    dominant, used = power_iteration(matvec, start, iterations, tol)
    if dominant >= 0:
        return dominant, used
    shifted, more = power_iteration(lambda v: axpy(-dominant, v, matvec(v)), start, iterations, tol)
    return shifted + dominant, used + more


def top_hessian_eigenvalue(evaluator: StepEvaluator, params: Tensors, seed: int, step: int,
                           iterations: int, tol: float) -> tuple[float, int]:
    """The top eigenvalue of the minibatch loss's Hessian at `params` (HVPs through
    train-mode normalization), from a start vector drawn from (seed, step)."""
    gen = generator(seed, "power-iteration", step)
    start = [torch.randn(p.shape, generator=gen).to(p.device, p.dtype) for p in params]
    return top_eigenvalue(lambda v: evaluator.hvp(params, v), start, iterations, tol)


# --------------------------------------------------------------------------- activations


class ActivationRecorder:
    """Records, during one forward pass, the output of chosen layers' normalization
    (after normalization and noise, before the non-linearity)."""

    def __init__(self, model: nn.Module, layers: list[int]):
        self.outputs: dict[int, torch.Tensor] = {}
        blocks = model.blocks
        self.handles = [blocks[layer - 1].norm.register_forward_hook(self._hook(layer))
                        for layer in layers if 1 <= layer <= len(blocks)]

    def _hook(self, layer: int):
        def hook(module, inputs, output):
            self.outputs[layer] = output.detach()
        return hook

    def remove(self) -> None:
        for handle in self.handles:
            handle.remove()


def unit_values(output: torch.Tensor, unit: int) -> torch.Tensor:
    """All values of one unit (channel) over the batch (and H, W)."""
    return output[:, unit].reshape(-1)


def unit_moments(output: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-unit mean and (biased) variance over the batch (and H, W)."""
    dims = [0, *range(2, output.dim())]
    return output.mean(dims), output.var(dims, unbiased=False)
