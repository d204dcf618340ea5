"""The normalization variants, one layer type each, and the modules each is made of.

=================  =========================================================
``standard``       no normalization
``batchnorm``      BatchNorm (batch statistics in train mode, running in eval)
``noisy_batchnorm`` BatchNorm, then the time-varying noise of Algorithm 1
``noisy_standard`` the same noise with no BatchNorm (beyond the paper)
``l1/l2/linf``     (x - mean) / (N_p(x) + eps), N_p on the uncentred x
``layernorm``      per sample over (C, H, W) / the features (beyond the paper)
``groupnorm``      per sample over groups of channels (beyond the paper)
``weightnorm``     W = g v / ||v|| on the layer's weight, no activation
                   normalization (beyond the paper)
=================  =========================================================

One module per family: :mod:`.batch`, :mod:`.noise`, :mod:`.lp` (with
:mod:`.channels`), :mod:`.group` (layernorm, groupnorm), :mod:`.weight`.
"""

from __future__ import annotations

from torch import nn

from .batch import batch_norm
from .group import DEFAULT_GROUPS, group_count, group_norm, layer_norm
from .lp import LpNorm
from .noise import NoisyNorm, draw_noise, set_noise_step
from .weight import weight_normalize, weight_parameter

__all__ = ["VARIANTS", "LP_ORDERS", "VARIANT_MODULES", "VARIANT_SETTINGS", "DEFAULT_GROUPS", "LpNorm", "NoisyNorm",
           "draw_noise", "group_count", "has_learnable_shift", "make_linear", "make_norm", "set_noise_step",
           "weight_parameter"]

VARIANTS = ("standard", "batchnorm", "noisy_batchnorm", "noisy_standard", "l1", "l2", "linf",
            "layernorm", "groupnorm", "weightnorm")
LP_ORDERS = {"l1": 1.0, "l2": 2.0, "linf": float("inf")}
# The bnopt modules (beyond this one) that a variant's layer is made of: a run's
# code fingerprint includes them, so editing the noise retrains only the noisy
# runs, and editing LpNorm only the l_p runs.
VARIANT_MODULES = {
    "standard": (),
    "batchnorm": ("norms.batch",),
    "noisy_batchnorm": ("norms.batch", "norms.noise"),
    "noisy_standard": ("norms.noise",),
    **{variant: ("norms.lp", "norms.channels") for variant in LP_ORDERS},
    "layernorm": ("norms.group",),
    "groupnorm": ("norms.group",),
    "weightnorm": ("norms.weight",),
}
# Model settings (keys of nets.<net>.model) that only some variants read: a run's
# spec holds them only for those, so changing one retrains only their runs.
VARIANT_SETTINGS = {"groups": ("groupnorm",)}


def has_learnable_shift(variant: str) -> bool:
    """Whether the variant's layer has a beta, which makes a preceding bias dead."""
    return variant in ("batchnorm", "noisy_batchnorm", *LP_ORDERS, "layernorm", "groupnorm")


def make_norm(variant: str, num_features: int, spatial: bool, layer: int, seed: int,
              groups: int | None = None) -> nn.Module:
    """The normalization layer of `variant` for `num_features` channels.

    `spatial` selects the conv (N, C, H, W) or dense (N, C) form; `layer` (1-based)
    and `seed` key the noise of the noisy variants; `groups` is groupnorm's (at most
    that many per layer, see :func:`.group.group_count`).
    """
    if variant in ("standard", "weightnorm"):  # weightnorm reparametrizes the weight instead (make_linear)
        return nn.Identity()
    if variant == "batchnorm":
        return batch_norm(num_features, spatial)
    if variant == "noisy_batchnorm":
        return NoisyNorm(batch_norm(num_features, spatial), seed=seed, layer=layer)
    if variant == "noisy_standard":
        return NoisyNorm(nn.Identity(), seed=seed, layer=layer)
    if variant in LP_ORDERS:
        return LpNorm(num_features, LP_ORDERS[variant])
    if variant == "layernorm":
        return layer_norm(num_features, spatial)
    if variant == "groupnorm":
        if groups is None:
            raise ValueError("groupnorm needs a number of groups")
        return group_norm(num_features, groups)
    raise ValueError(f"unknown normalization variant {variant!r}; choose one of {', '.join(VARIANTS)}")


def make_linear(variant: str, linear: nn.Module) -> nn.Module:
    """The conv/linear layer of a normalized block: weight-normalized for weightnorm."""
    return weight_normalize(linear) if variant == "weightnorm" else linear
