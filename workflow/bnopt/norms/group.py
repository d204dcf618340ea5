"""Per-sample normalizations: GroupNorm (Wu and He 2018) and LayerNorm (Ba et al. 2016).

Each sample is normalized over its own channels (and positions), so neither depends
on the batch: train and eval mode compute the same thing, and there are no running
statistics. LayerNorm is GroupNorm with one group. Both have a learnable
per-channel scale and shift, like BatchNorm.
"""

from __future__ import annotations

from torch import nn

# The DLN's 10 features split into 2 groups of 5; the VGG's default is Wu and He's 32; the
# ResNet's 8 (32 exceed its first stage's 16 channels, which would leave one channel per
# group, instance normalization).
DEFAULT_GROUPS = {"vgg": 32, "dln": 2, "resnet": 8}


def group_count(channels: int, groups: int) -> int:
    """The number of groups a layer of `channels` channels uses: the largest divisor
    of `channels` that is at most `groups` (GroupNorm needs equal groups). A layer
    with fewer channels than `groups` gets one channel per group."""
    if groups < 1:
        raise ValueError(f"groups must be at least 1, got {groups}")
    return max(d for d in range(1, min(groups, channels) + 1) if channels % d == 0)


def group_norm(num_features: int, groups: int) -> nn.GroupNorm:
    """GroupNorm over `group_count(num_features, groups)` groups, for (N, C, ...) inputs."""
    return nn.GroupNorm(group_count(num_features, groups), num_features)


def layer_norm(num_features: int, spatial: bool) -> nn.Module:
    """LayerNorm of each sample over (C, H, W) (`spatial`: GroupNorm with one group,
    whose scale and shift are per channel, as is usual for conv nets) or over its
    C features (dense)."""
    return nn.GroupNorm(1, num_features) if spatial else nn.LayerNorm(num_features)
