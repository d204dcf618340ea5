"""The normalization variants of the paper, one layer type each.

=================  =========================================================
``standard``       no normalization
``batchnorm``      BatchNorm (batch statistics in train mode, running in eval)
``noisy_batchnorm`` BatchNorm, then the time-varying noise of Algorithm 1
``noisy_standard`` the same noise with no BatchNorm (beyond the paper)
``l1/l2/linf``     (x - mean) / (N_p(x) + eps), N_p on the uncentred x
=================  =========================================================
"""

from __future__ import annotations

import torch
from torch import nn

from .seeding import generator

VARIANTS = ("standard", "batchnorm", "noisy_batchnorm", "noisy_standard", "l1", "l2", "linf")
LP_ORDERS = {"l1": 1.0, "l2": 2.0, "linf": float("inf")}

# Algorithm 1 of the paper: per step, layer and channel j, mu_j ~ U(-0.5, 0.5) and
# sigma_j ~ U(1, 1.25); per sample (and position) m ~ U(mu_j +- 0.1), s ~ N(sigma_j, 0.1).
NOISE_MEAN_RANGE = (-0.5, 0.5)
NOISE_SCALE_RANGE = (1.0, 1.25)
NOISE_SHIFT_HALF_WIDTH = 0.1
NOISE_SCALE_STD = 0.1


def has_learnable_shift(variant: str) -> bool:
    """Whether the variant's layer has a beta, which makes a preceding bias dead."""
    return variant in ("batchnorm", "noisy_batchnorm", *LP_ORDERS)


def _channel_view(t: torch.Tensor, ndim: int) -> torch.Tensor:
    """Reshape a per-channel vector to broadcast over (N, C, ...) of `ndim` dims."""
    return t.view(1, -1, *([1] * (ndim - 2)))


def _reduce_dims(x: torch.Tensor) -> list[int]:
    """Every dim but the channel dim: batch, and H, W for conv activations."""
    return [0, *range(2, x.dim())]


class LpNorm(nn.Module):
    """Normalize by an l_p statistic instead of the standard deviation.

    y = gamma * (x - mean_B(x)) / (N_p(x) + eps) + beta, per channel, where the
    statistics run over the batch (and H, W) and N_p is taken on the uncentred x:
    N_1 = mean|x|, N_2 = sqrt(mean x^2), N_inf = max|x|. Eval mode uses running
    estimates of mean and N_p, updated like BatchNorm's.
    """

    def __init__(self, num_features: int, p: float, eps: float = 1e-5, momentum: float = 0.1):
        super().__init__()
        if p not in (1.0, 2.0, float("inf")):
            raise ValueError(f"LpNorm supports p in {{1, 2, inf}}, got {p}")
        self.num_features, self.p, self.eps, self.momentum = num_features, p, eps, momentum
        self.weight = nn.Parameter(torch.ones(num_features))
        self.bias = nn.Parameter(torch.zeros(num_features))
        self.register_buffer("running_mean", torch.zeros(num_features))
        self.register_buffer("running_norm", torch.ones(num_features))

    def batch_statistics(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        dims = _reduce_dims(x)
        mean = x.mean(dims)
        if self.p == 1.0:
            norm = x.abs().mean(dims)
        elif self.p == 2.0:
            norm = x.square().mean(dims).sqrt()
        else:
            norm = x.abs().amax(dims)
        return mean, norm

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.training:
            mean, norm = self.batch_statistics(x)
            with torch.no_grad():
                self.running_mean.lerp_(mean.detach(), self.momentum)
                self.running_norm.lerp_(norm.detach(), self.momentum)
        else:
            mean, norm = self.running_mean, self.running_norm
        y = (x - _channel_view(mean, x.dim())) / (_channel_view(norm, x.dim()) + self.eps)
        return y * _channel_view(self.weight, x.dim()) + _channel_view(self.bias, x.dim())

    def extra_repr(self) -> str:
        return f"{self.num_features}, p={self.p}, eps={self.eps}, momentum={self.momentum}"


def draw_noise(
    shape: torch.Size, seed: int, step: int, layer: int, device: torch.device, dtype: torch.dtype
) -> tuple[torch.Tensor, torch.Tensor]:
    """The multiplicative and additive noise (s, m) of Algorithm 1 for one layer and step.

    A pure function of (seed, step, layer, shape): the same call returns the same
    tensors, so a replayed step, and every probe evaluation made at that step, sees
    exactly the noise that training saw. Channels are dim 1; every other dim
    (batch, H, W) gets its own draws around the channel's (mu_j, sigma_j).
    """
    gen = generator(seed, "noise", step, layer, device=device)
    channels = shape[1]

    def uniform(size, low, high):
        return torch.rand(size, generator=gen, device=device, dtype=dtype) * (high - low) + low

    mu = _channel_view(uniform((channels,), *NOISE_MEAN_RANGE), len(shape))
    sigma = _channel_view(uniform((channels,), *NOISE_SCALE_RANGE), len(shape))
    shift = mu + uniform(shape, -NOISE_SHIFT_HALF_WIDTH, NOISE_SHIFT_HALF_WIDTH)
    scale = sigma + NOISE_SCALE_STD * torch.randn(shape, generator=gen, device=device, dtype=dtype)
    return scale, shift


class NoisyNorm(nn.Module):
    """`inner` (BatchNorm or identity) followed by Algorithm 1's time-varying noise.

    The noise is applied after BN's gamma/beta and in train mode only. It is a pure
    function of (seed, step, layer); the training loop sets the step with
    :func:`set_noise_step` before each forward pass.
    """

    def __init__(self, inner: nn.Module, seed: int, layer: int):
        super().__init__()
        self.inner, self.seed, self.layer = inner, int(seed), int(layer)
        self.step: int | None = None
        # The last draw, reused while (step, shape, device, dtype) stay the same: every
        # evaluation a probe makes at one step then costs no new draw.
        self._cached: tuple | None = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a = self.inner(x)
        if not self.training:
            return a
        if self.step is None:
            raise RuntimeError(
                "NoisyNorm has no step set: call bnopt.norms.set_noise_step(model, step) "
                "before a train-mode forward pass, so the noise is reproducible"
            )
        key = (self.step, a.shape, a.device, a.dtype)
        if self._cached is None or self._cached[0] != key:
            self._cached = (key, *draw_noise(a.shape, self.seed, self.step, self.layer, a.device, a.dtype))
        _, scale, shift = self._cached
        return scale * a + shift

    def extra_repr(self) -> str:
        return f"seed={self.seed}, layer={self.layer}"


def set_noise_step(model: nn.Module, step: int) -> None:
    """Tell every noisy layer of `model` which training step the next forward pass is."""
    for module in model.modules():
        if isinstance(module, NoisyNorm):
            module.step = int(step)


def make_norm(variant: str, num_features: int, spatial: bool, layer: int, seed: int) -> nn.Module:
    """The normalization layer of `variant` for `num_features` channels.

    `spatial` selects the conv (N, C, H, W) or dense (N, C) form; `layer` (1-based)
    and `seed` key the noise of the noisy variants.
    """
    batchnorm = nn.BatchNorm2d if spatial else nn.BatchNorm1d
    if variant == "standard":
        return nn.Identity()
    if variant == "batchnorm":
        return batchnorm(num_features)
    if variant == "noisy_batchnorm":
        return NoisyNorm(batchnorm(num_features), seed=seed, layer=layer)
    if variant == "noisy_standard":
        return NoisyNorm(nn.Identity(), seed=seed, layer=layer)
    if variant in LP_ORDERS:
        return LpNorm(num_features, LP_ORDERS[variant])
    raise ValueError(f"unknown normalization variant {variant!r}; choose one of {', '.join(VARIANTS)}")
