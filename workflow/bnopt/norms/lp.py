"""l_p normalization: BatchNorm with the standard deviation replaced by an l_p statistic.

The train-mode layer is one autograd node (:class:`LpNormFunction`) with a
closed-form backward. Why: in the deep linear net the activations are 1,000 x 10,
so every tensor operation costs its dispatch, not its arithmetic; written as plain
eager PyTorch (:func:`lp_norm_reference`) the layer is ~10 operations forward and
~15 backward, each recorded by autograd, and costs 2x as much.

A hand-written backward is only differentiable if it is written with
differentiable operations on graph-connected inputs. So when a backward runs with
``create_graph=True`` (the probes' Hessian-vector products), it differentiates
:func:`lp_norm_reference` with autograd instead: second derivatives are exactly
those of the eager layer. The tests compare both paths with it.
"""

from __future__ import annotations

import math
from functools import partial

import torch
from torch import nn

from .channels import channel_view, reduce_dims

INF = float("inf")


def lp_statistic(x: torch.Tensor, p: float, dims: list[int]) -> torch.Tensor:
    """N_p per channel on the uncentred x (keepdim): mean|x|, sqrt(mean x^2) or max|x|."""
    if p == 1.0:
        return x.abs().mean(dims, keepdim=True)
    if p == 2.0:
        return x.square().mean(dims, keepdim=True).sqrt()
    return x.abs().amax(dims, keepdim=True)


def lp_norm_reference(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor, p: float, eps: float) -> torch.Tensor:
    """Train-mode l_p normalization in plain eager PyTorch."""
    dims = reduce_dims(x)
    mean = x.mean(dims, keepdim=True)
    norm = lp_statistic(x, p, dims)
    return (x - mean) / (norm + eps) * channel_view(weight, x.dim()) + channel_view(bias, x.dim())


def reference_gradients(reference, inputs: tuple, needs: tuple, grad_output: torch.Tensor) -> tuple:
    """The gradients of ``reference(*inputs)`` w.r.t. the inputs in `needs`, with a
    graph (for a Function's backward under ``create_graph=True``)."""
    with torch.enable_grad():
        output = reference(*inputs)
    wanted = [t for t, need in zip(inputs, needs) if need]
    grads = iter(torch.autograd.grad(output, wanted, grad_output, create_graph=True))
    return tuple(next(grads) if need else None for need in needs)


class LpNormFunction(torch.autograd.Function):
    """y = gamma * (x - mean) / (N_p(x) + eps) + beta; also returns the
    (non-differentiable) batch mean and N_p per channel."""

    @staticmethod
    def forward(ctx, x, weight, bias, p: float, eps: float):
        dims = reduce_dims(x)
        mean = x.mean(dims, keepdim=True)
        norm = torch.linalg.vector_norm(x, p, dims, keepdim=True)
        if p != INF:  # vector_norm is a sum: (sum |x|^p)^(1/p) -> the mean's N_p
            norm.div_(math.pow(x.numel() // x.shape[1], 1.0 / p))
        inv = (norm + eps).reciprocal_()
        scale = channel_view(weight, x.dim()) * inv
        centred = x - mean
        y = torch.addcmul(channel_view(bias, x.dim()), centred, scale)
        ctx.save_for_backward(x, weight, bias, centred, norm, inv, scale)
        ctx.p, ctx.eps = p, eps
        ctx.mark_non_differentiable(mean, norm)
        ctx.set_materialize_grads(False)
        return y, mean.reshape(-1), norm.reshape(-1)

    @staticmethod
    def backward(ctx, dy, _dmean, _dnorm):
        if dy is None:  # the output y took no part in what is differentiated
            return None, None, None, None, None
        x, weight, bias, centred, norm, inv, scale = ctx.saved_tensors
        needs = ctx.needs_input_grad[:3]
        if torch.is_grad_enabled():  # create_graph: differentiate the eager formula
            reference = partial(lp_norm_reference, p=ctx.p, eps=ctx.eps)
            return *reference_gradients(reference, (x, weight, bias), needs, dy), None, None
        dims = reduce_dims(dy)
        n = dy.numel() // dy.shape[1]
        dbeta = dy.sum(dims, keepdim=True)
        spread = (dy * centred).sum(dims, keepdim=True)  # sum dy (x - mean), per channel
        dx = None
        if needs[0]:
            # dx = gamma a (dy - mean(dy) - a S dN/dx), a = 1/(N + eps), S = sum dy (x - mean)
            if ctx.p == 1.0:  # dN/dx = sign(x) / n
                direction, coefficient = x.sign(), inv * spread / n
            elif ctx.p == 2.0:  # dN/dx = x / (n N)
                direction, coefficient = x, inv * spread / (n * norm)
            else:  # dN/dx = sign(x) at the maxima of |x|, shared between ties (as amax's gradient)
                at_max = x.abs() == norm
                direction = x.sign().mul_(at_max)
                coefficient = inv * spread / at_max.sum(dims, keepdim=True)
            dx = torch.sub(dy, torch.addcmul(dbeta / n, direction, coefficient)).mul_(scale)
        dgamma = (inv * spread).reshape(-1) if needs[1] else None
        return dx, dgamma, dbeta.reshape(-1) if needs[2] else None, None, None


class LpNorm(nn.Module):
    """Normalize by an l_p statistic instead of the standard deviation.

    y = gamma * (x - mean_B(x)) / (N_p(x) + eps) + beta, per channel, where the
    statistics run over the batch (and H, W) and N_p is taken on the uncentred x:
    N_1 = mean|x|, N_2 = sqrt(mean x^2), N_inf = max|x|. Eval mode uses running
    estimates of mean and N_p, updated like BatchNorm's.
    """

    def __init__(self, num_features: int, p: float, eps: float = 1e-5, momentum: float = 0.1):
        super().__init__()
        if p not in (1.0, 2.0, INF):
            raise ValueError(f"LpNorm supports p in {{1, 2, inf}}, got {p}")
        self.num_features, self.p, self.eps, self.momentum = num_features, p, eps, momentum
        self.weight = nn.Parameter(torch.ones(num_features))
        self.bias = nn.Parameter(torch.zeros(num_features))
        self.register_buffer("running_mean", torch.zeros(num_features))
        self.register_buffer("running_norm", torch.ones(num_features))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.training:
            y, mean, norm = LpNormFunction.apply(x, self.weight, self.bias, self.p, self.eps)
            with torch.no_grad():
                self.running_mean.lerp_(mean, self.momentum)
                self.running_norm.lerp_(norm, self.momentum)
            return y
        mean, norm = channel_view(self.running_mean, x.dim()), channel_view(self.running_norm, x.dim())
        return (x - mean) / (norm + self.eps) * channel_view(self.weight, x.dim()) + channel_view(self.bias, x.dim())

    def extra_repr(self) -> str:
        return f"{self.num_features}, p={self.p}, eps={self.eps}, momentum={self.momentum}"
