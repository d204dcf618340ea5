"""Weight normalization (Salimans and Kingma 2016): W = g v / ||v||, per output unit.

The layer's weight is reparametrized rather than its activations normalized: the
conv/linear layer keeps its bias, and there is no normalization layer after it
(torch.nn.utils.parametrizations.weight_norm). Its trainable parameters are the
direction v (``parametrizations.weight.original1``, shaped like the weight) and the
length g (``original0``, one per output unit). The measurements need a rule for
which of them is "the layer's weight": :func:`weight_parameter` says v (ICS's
gradient G, the loss surface's filter-normalized directions), and g is treated
like a normalization's gain (moved with its layer in ICS, held fixed by the surface
directions, as BatchNorm's gamma is).
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils import parametrize
from torch.nn.utils.parametrizations import weight_norm


def is_weight_normalized(layer: nn.Module) -> bool:
    return parametrize.is_parametrized(layer, "weight")


def weight_parameter(layer: nn.Module) -> nn.Parameter:
    """The parameter that plays a conv/linear layer's weight: the weight itself, or
    under weight normalization its direction v (same shape)."""
    return layer.parametrizations.weight.original1 if is_weight_normalized(layer) else layer.weight


def weight_normalize(layer: nn.Module) -> nn.Module:
    """Reparametrize `layer`'s weight as g v / ||v|| (norms over every dim but the
    output's), with g = ||v|| so the layer computes what it did before."""
    return weight_norm(layer, name="weight", dim=0)


def match_length_to_direction(layer: nn.Module) -> None:
    """After v is (re)initialized, set g = ||v|| per output unit, so the effective
    weight equals v: a weight-normalized network starts from the same weights as the
    others initialized from the same seed."""
    if not is_weight_normalized(layer):
        return
    weights = layer.parametrizations.weight
    with torch.no_grad():
        v = weights.original1
        weights.original0.copy_(v.flatten(1).norm(dim=1).view_as(weights.original0))
