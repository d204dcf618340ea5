"""The time-varying noise of the paper's Algorithm 1 ("noisy BatchNorm")."""

from __future__ import annotations

import functools
import weakref

import torch
from torch import nn

from ..seeding import generator

# Algorithm 1 of the paper: per step, layer and channel j, mu_j ~ U(-0.5, 0.5) and
# sigma_j ~ U(1, 1.25); per sample (and position) m ~ U(mu_j +- 0.1), s ~ N(sigma_j, 0.1).
NOISE_MEAN_RANGE = (-0.5, 0.5)
NOISE_SCALE_RANGE = (1.0, 1.25)
NOISE_SHIFT_HALF_WIDTH = 0.1
NOISE_SCALE_STD = 0.1


@functools.lru_cache(maxsize=None)
def _channel_draw_ranges(device: torch.device, dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor]:
    """(low, width) of the two per-channel draws: mu_j - 0.1 ~ U(-0.6, 0.4), the low
    end of m's range, and sigma_j ~ U(1, 1.25). Tensors, so drawing them costs one
    operation and no Python-number conversions."""
    (mu_low, mu_high), (sigma_low, sigma_high) = NOISE_MEAN_RANGE, NOISE_SCALE_RANGE
    low = torch.tensor([[mu_low - NOISE_SHIFT_HALF_WIDTH], [sigma_low]], device=device, dtype=dtype)
    width = torch.tensor([[mu_high - mu_low], [sigma_high - sigma_low]], device=device, dtype=dtype)
    return low, width


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
    low, width = _channel_draw_ranges(device, dtype)
    # Few operations: on the deep linear net's 1000 x 10 activations each one costs
    # about as much as drawing the 10,000 numbers.
    shift_low, sigma = torch.addcmul(low, torch.rand((2, shape[1]), generator=gen, device=device, dtype=dtype), width)
    channel = (1, shape[1]) + (1,) * (len(shape) - 2)
    shift = torch.add(shift_low.view(channel), torch.rand(shape, generator=gen, device=device, dtype=dtype),
                      alpha=2 * NOISE_SHIFT_HALF_WIDTH)  # m ~ U(mu_j - 0.1, mu_j + 0.1)
    scale = torch.add(sigma.view(channel), torch.randn(shape, generator=gen, device=device, dtype=dtype),
                      alpha=NOISE_SCALE_STD)  # s ~ N(sigma_j, 0.1)
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
        return torch.addcmul(shift, a, scale)

    def extra_repr(self) -> str:
        return f"seed={self.seed}, layer={self.layer}"


# Each model's noisy layers, found once: the training loop sets the step before
# every forward pass, and walking every module each time would cost more than the
# deep linear net's whole forward pass.
_NOISY_LAYERS: "weakref.WeakKeyDictionary[nn.Module, list[NoisyNorm]]" = weakref.WeakKeyDictionary()


def set_noise_step(model: nn.Module, step: int) -> None:
    """Tell every noisy layer of `model` which training step the next forward pass is."""
    layers = _NOISY_LAYERS.get(model)
    if layers is None:
        layers = _NOISY_LAYERS[model] = [m for m in model.modules() if isinstance(m, NoisyNorm)]
    for layer in layers:
        layer.step = int(step)
