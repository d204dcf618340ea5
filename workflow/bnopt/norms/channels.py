"""Per-channel tensor helpers shared by the normalization layers."""

from __future__ import annotations

import torch


def channel_view(t: torch.Tensor, ndim: int) -> torch.Tensor:
    """Reshape a per-channel vector to broadcast over (N, C, ...) of `ndim` dims."""
    return t.view(1, -1, *([1] * (ndim - 2)))


def reduce_dims(x: torch.Tensor) -> list[int]:
    """Every dim but the channel dim: batch, and H, W for conv activations."""
    return [0, *range(2, x.dim())]
