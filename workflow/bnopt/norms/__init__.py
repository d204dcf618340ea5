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

from torch import nn

from .lp import LpNorm
from .noise import NoisyNorm, draw_noise, set_noise_step

__all__ = ["VARIANTS", "LP_ORDERS", "VARIANT_MODULES", "LpNorm", "NoisyNorm", "draw_noise", "has_learnable_shift",
           "make_norm", "set_noise_step"]

VARIANTS = ("standard", "batchnorm", "noisy_batchnorm", "noisy_standard", "l1", "l2", "linf")
LP_ORDERS = {"l1": 1.0, "l2": 2.0, "linf": float("inf")}
# The bnopt modules (beyond this one) that a variant's layer is made of: a run's
# code fingerprint includes them, so editing the noise retrains only the noisy
# runs, and editing LpNorm only the l_p runs.
VARIANT_MODULES = {
    "standard": (),
    "batchnorm": (),
    "noisy_batchnorm": ("norms.noise",),
    "noisy_standard": ("norms.noise",),
    **{variant: ("norms.lp", "norms.channels") for variant in LP_ORDERS},
}


def has_learnable_shift(variant: str) -> bool:
    """Whether the variant's layer has a beta, which makes a preceding bias dead."""
    return variant in ("batchnorm", "noisy_batchnorm", *LP_ORDERS)


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
