"""The time-varying noise of the paper's Algorithm 1 ("noisy BatchNorm")."""

from __future__ import annotations

import torch
from torch import nn

from .channels import channel_view
from .seeding import generator

# Algorithm 1 of the paper: per step, layer and channel j, mu_j ~ U(-0.5, 0.5) and
# sigma_j ~ U(1, 1.25); per sample (and position) m ~ U(mu_j +- 0.1), s ~ N(sigma_j, 0.1).
NOISE_MEAN_RANGE = (-0.5, 0.5)
NOISE_SCALE_RANGE = (1.0, 1.25)
NOISE_SHIFT_HALF_WIDTH = 0.1
NOISE_SCALE_STD = 0.1


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

    mu = channel_view(uniform((channels,), *NOISE_MEAN_RANGE), len(shape))
    sigma = channel_view(uniform((channels,), *NOISE_SCALE_RANGE), len(shape))
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
