"""BatchNorm (Ioffe and Szegedy 2015): batch statistics in train mode, running ones in eval."""

from __future__ import annotations

from torch import nn


def batch_norm(num_features: int, spatial: bool) -> nn.Module:
    """torch's BatchNorm for (N, C, H, W) (`spatial`) or (N, C): per-channel statistics
    over the batch (and positions), a learnable per-channel scale and shift."""
    return (nn.BatchNorm2d if spatial else nn.BatchNorm1d)(num_features)
