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
from typing import Callable

import numpy as np
import torch
from scipy.linalg import eigvalsh_tridiagonal
from torch import nn

from ..norms import set_noise_step, weight_parameter
from ..seeding import generator
from ..training.problems import Problem

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
    """Positions in model.parameters() of each layer's conv/linear weight (under weight
    normalization its direction v, :func:`bnopt.norms.weight_parameter`)."""
    position = {id(p): i for i, p in enumerate(model.parameters())}
    return [position[id(weight_parameter(layer))] for layer in model.weight_layers()]


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

    def load(self, values: Tensors, indices: list[int] | None = None) -> None:
        """Set the copy's parameters to `values` (only those at `indices`, if given)."""
        with torch.no_grad():
            for i in range(len(self.params)) if indices is None else indices:
                self.params[i].copy_(values[i])

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

    def loss_grad_and_hvp(self, values: Tensors) -> tuple[float, Tensors, Callable[[Tensors], Tensors]]:
        """The loss and gradient at `values`, and v -> H(values) v by double backward
        through train-mode normalization, on this gradient's graph: each product is one
        pass back through it (counted as two backward passes), not a new forward and
        backward. The products must all be taken before the parameters are loaded again."""
        loss = self.loss(values)
        grads = torch.autograd.grad(loss, self.params, create_graph=True)
        self.backwards += 1

        def hvp(vector: Tensors) -> Tensors:
            hv = torch.autograd.grad(grads, self.params, grad_outputs=vector, retain_graph=True, allow_unused=True)
            self.backwards += 2
            return [torch.zeros_like(p) if h is None else h.detach() for h, p in zip(hv, self.params)]

        return float(loss.detach()), [g.detach() for g in grads], hvp

    def grad_from_layer(self, index: int, inputs: torch.Tensor, wrt: int) -> torch.Tensor:
        """The gradient w.r.t. parameter `wrt` of the loss of the layers from `index`
        (0-based) on, fed `inputs` (the activation entering that layer): a forward and
        backward pass through those layers only."""
        out = inputs
        for i in range(index, len(self.model.weight_layers())):
            out = self.model.forward_layer(i, out)
        self.evaluations += 1
        (grad,) = torch.autograd.grad(self.loss_fn(out, self.y), [self.params[wrt]])
        self.backwards += 1
        return grad.detach()


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


def overflowed(value: float) -> float:
    """`value`, or +inf where it is not finite. A probe evaluates float32 (the function
    SGD descends); at a point where the loss or gradient runs past float32's range
    (3.4e38: a heavy-tailed initialization's first steps, a long step along a steep
    gradient) the values are inf or, from inf - inf, NaN. Either way the true value is
    larger than float32 holds: an overflow, recorded as inf, never as missing."""
    return value if math.isfinite(value) else math.inf


def landscape(evaluator: StepEvaluator, params: Tensors, grad: Tensors, etas: list[float],
              direction: Tensors | None = None) -> list[LandscapePoint]:
    """Loss, gradient predictiveness and beta-smoothness along -grad (Fig. 4, 10-13),
    or along `direction` d (the optimizer's update per unit lr): at x + eta d, the
    change ||g - grad L(x + eta d)|| and beta = change / (eta ||d||). A value past
    float32's range is inf (:func:`overflowed`)."""
    step = [-g for g in grad] if direction is None else direction
    step_norm = norm(step)
    points = []
    for eta in etas:
        loss, moved_grad = evaluator.loss_and_grad(axpy(eta, step, params))
        change = overflowed(norm(sub(grad, moved_grad)))
        beta = overflowed(change / (eta * step_norm)) if step_norm > 0 else float("nan")
        points.append(LandscapePoint(eta, overflowed(loss), change, beta))
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
    after this step's update (`after`), layers i..k unchanged.

    Layers 1..i-1 are updated in G' of every later layer too, so the input of layer i
    under them is carried from one layer to the next: each G' costs the forward and
    backward passes of layers i..k only (the model's ``forward_layer``)."""
    evaluator.load(before)
    points, carried = [], evaluator.x
    for i, w in enumerate(weights):
        G = grad[w]
        if i == 0:
            G_prime = G  # nothing before layer 1: no shift by definition
        else:
            evaluator.load(after, groups[i - 1])
            with torch.no_grad():
                carried = evaluator.model.forward_layer(i - 1, carried)
            G_prime = evaluator.grad_from_layer(i, carried, w)
        points.append(ShiftPoint(i + 1, overflowed(norm([G - G_prime])), cosine([G], [G_prime])))
    return points


# --------------------------------------------------------------------------- curvature


def lanczos_top_eigenvalue(matvec: Callable[[torch.Tensor], torch.Tensor], start: torch.Tensor, iterations: int,
                           tol: float) -> tuple[float, int]:
    """The largest (algebraic) eigenvalue of a symmetric operator on flat vectors, by
    the Lanczos method with full reorthogonalization.

    Each iteration is one matrix-vector product; the estimate is the largest
    eigenvalue of the tridiagonal projection (:func:`scipy.linalg.eigvalsh_tridiagonal`).
    Stops when it changes by less than `tol` (relative) between iterations, when the
    Krylov space is exhausted (then it is exact), or after `iterations` products.
    Returns (eigenvalue, products used).

    Why not power iteration: on the probes' Hessians it needed as many products and
    stopped up to 1% below the top eigenvalue where the spectrum's gap is small;
    Lanczos stops within 5e-4 of it (bnopt's VGG-11/8 with BatchNorm at lr 0.1, against
    a 60-product reference). Why not
    ARPACK (:func:`scipy.sparse.linalg.eigsh`): its restarts and residual test give
    no bound on the products, which is what a probe's cost is.
    """
    basis = start.new_zeros(iterations, start.numel())
    q = start.reshape(-1) / torch.linalg.vector_norm(start)
    alphas: list[float] = []
    betas: list[float] = []
    value = previous = float("nan")
    for k in range(iterations):
        basis[k] = q
        w = matvec(q)
        alphas.append(float(q @ w))
        if not math.isfinite(alphas[-1]):  # the Hessian is not finite here
            return alphas[-1], k + 1
        for _ in range(2):  # reorthogonalize against the whole basis, twice ("twice is enough")
            w = w - basis[: k + 1].T @ (basis[: k + 1] @ w)
        beta = float(torch.linalg.vector_norm(w))
        value = float(eigvalsh_tridiagonal(np.array(alphas), np.array(betas))[-1]) if k else alphas[0]
        if k and abs(value - previous) <= tol * abs(value):
            return value, k + 1
        if beta <= 1e-10 * max(abs(value), 1e-30):  # an invariant subspace: the estimate is exact
            return value, k + 1
        previous = value
        betas.append(beta)
        q = w / beta
    return value, iterations


def top_hessian_eigenvalue(hvp: Callable[[Tensors], Tensors], grad: Tensors, seed: int, step: int,
                           iterations: int, tol: float) -> tuple[float, int]:
    """The top eigenvalue of the minibatch loss's Hessian (products from `hvp`) by
    Lanczos, started from the gradient `grad`.

    Why the gradient: gradient descent moves mostly within the Hessian's top
    eigenspace (Gur-Ari et al., 2018), so Lanczos needs fewer products from it than
    from a random vector (same VGG: a median of 5.5 rather than 8, to the same accuracy).
    A zero or non-finite gradient starts from a random vector drawn from (seed, step).
    The result is a pure function of the step's parameters and minibatch either way.
    """
    start = torch.cat([g.reshape(-1) for g in grad])
    norm_ = torch.linalg.vector_norm(start)
    if not (torch.isfinite(norm_) and norm_ > 0):
        gen = generator(seed, "curvature", step)
        start = torch.randn(start.numel(), generator=gen).to(start.device, start.dtype)
    sizes, shapes = [g.numel() for g in grad], [g.shape for g in grad]

    def matvec(flat: torch.Tensor) -> torch.Tensor:
        vector = [part.view(shape) for part, shape in zip(torch.split(flat, sizes), shapes)]
        return torch.cat([h.reshape(-1) for h in hvp(vector)])

    return lanczos_top_eigenvalue(matvec, start, iterations, tol)


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
