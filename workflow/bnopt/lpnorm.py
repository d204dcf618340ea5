"""l_p normalization: BatchNorm with the standard deviation replaced by an l_p statistic."""

from __future__ import annotations

import torch
from torch import nn

from .channels import channel_view, reduce_dims


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
        dims = reduce_dims(x)
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
        y = (x - channel_view(mean, x.dim())) / (channel_view(norm, x.dim()) + self.eps)
        return y * channel_view(self.weight, x.dim()) + channel_view(self.bias, x.dim())

    def extra_repr(self) -> str:
        return f"{self.num_features}, p={self.p}, eps={self.eps}, momentum={self.momentum}"
