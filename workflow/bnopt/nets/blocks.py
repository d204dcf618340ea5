"""The unit every network here is a stack of: the layer the paper numbers "layer #i"."""

from __future__ import annotations

import torch
from torch import nn


class NormBlock(nn.Module):
    """linear map (conv or dense) -> normalization -> activation (None: none).

    ``norm``'s output is "the layer's output after normalization, before the
    non-linearity" that the activation measurements record.
    """

    def __init__(self, linear: nn.Module, norm: nn.Module, activation: nn.Module | None):
        super().__init__()
        self.linear, self.norm, self.activation = linear, norm, activation

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.norm(self.linear(x))
        return x if self.activation is None else self.activation(x)
