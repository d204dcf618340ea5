"""CIFAR-style ResNets (He et al. 2016, section 4.2), with every normalization variant,
Fixup (Zhang et al. 2019), and a switch that removes the skip connections.

The paper left ResNets out on purpose (its footnote 4: skip connections "provide
several similar benefits to BatchNorm"); these nets let a config ask whether they do.

Layout (ResNet-20 at width 1: 0.27 M parameters, as published): a 3x3 conv with 16
channels, then three stages of n residual blocks with 16, 32 and 64 channels (x width),
the first block of stages 2 and 3 halving H and W (stride 2), then global average
pooling and a linear classifier; depth = 6n + 2. A block is conv3x3 -> norm -> ReLU ->
conv3x3 -> norm, plus its input (the shortcut), -> ReLU. Where a block changes the shape,
the shortcut is He et al.'s option A: the input subsampled by 2 and its channels
zero-padded (no parameters), so that with and without skips the nets have the same
parameters.

Layer numbering (ICS, activation histograms; ``blocks`` and ``weight_layers``): layer 1
is the first conv; the block b (0-based, over all stages) has layers 2b + 2 (its first
conv) and 2b + 3 (its second); the classifier is layer `depth`. A layer's ``norm`` output
is its normalized conv output before the ReLU and, for a block's second conv, before
the shortcut is added: what the activation probes record.

As a chain of layers (``forward_layer``, which the probes run piece by piece), the
state between a block's two convs is the pair (block input, first conv's output).

Initialization: every conv and the classifier are drawn by the run's init, He-normal
unless a run group chooses another (He et al.'s and Fixup's; bnopt.nets.models.
default_init: the paper's Glorot has half its variance for a square conv, and a
20-layer ResNet without normalization stays at chance on digits under it), biases zero.

Fixup (variant ``fixup``, no normalization): every residual branch's last conv and the
classifier start at zero; the branches' first convs are drawn by the run's init (Zhang
et al.'s "standard method": He-normal) and scaled by
L^(-1/(2m-2)) = L^(-1/2) (L blocks of m = 2 layers);
scalar biases before each conv of a branch, before each ReLU and before the classifier,
and a scalar multiplier after each branch's last conv (Zhang et al.'s Figure 1 and
their CIFAR code: the shortcut of a shape-changing block reads the input plus the
branch's first bias).
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from ..norms import DEFAULT_GROUPS, VARIANTS, has_learnable_shift, make_linear, make_norm
from .blocks import NormBlock

STAGE_CHANNELS = (16, 32, 64)
FIXUP = "fixup"
RESNET_VARIANTS = (*VARIANTS, FIXUP)
DEFAULT_DEPTH = 20


def blocks_per_stage(depth: int) -> int:
    """n of a depth-(6n + 2) CIFAR ResNet; a ValueError naming the depths there are."""
    if depth < 8 or (depth - 2) % 6:
        raise ValueError(f"a CIFAR ResNet has depth 6n + 2 (8, 14, 20, 32, 44, 56, 110, ...), got {depth}")
    return (depth - 2) // 6


def default_activation_layers(depth: int) -> list[int]:
    """The layers the activation probes read unless a config names them: the first
    block's first conv and each stage's last conv, [2, 2n + 1, 4n + 1, 6n + 1]."""
    n = blocks_per_stage(depth)
    return [2, 2 * n + 1, 4 * n + 1, 6 * n + 1]


class ScalarBias(nn.Module):
    """Fixup's scalar bias (zero at the start), added to every value."""

    def __init__(self):
        super().__init__()
        self.bias = nn.Parameter(torch.zeros(1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.bias


class ScalarScaleBias(nn.Module):
    """Fixup's scalar multiplier (one at the start) then scalar bias, after a branch's last conv."""

    def __init__(self):
        super().__init__()
        self.scale = nn.Parameter(torch.ones(1))
        self.bias = nn.Parameter(torch.zeros(1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.addcmul(self.bias, x, self.scale)


class InputBiasConv2d(nn.Conv2d):
    """A conv that first adds Fixup's scalar bias to its input (so that bias belongs to
    the layer: the probes move and hold it with the layer's weight)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.input_bias = nn.Parameter(torch.zeros(1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(x + self.input_bias)


class InputBiasLinear(nn.Linear):
    """Fixup's classifier: a scalar bias added to its input."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.input_bias = nn.Parameter(torch.zeros(1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(x + self.input_bias)


def option_a_shortcut(x: torch.Tensor, channels: int, stride: int) -> torch.Tensor:
    """He et al.'s option A: subsample by `stride`, zero-pad the channels to `channels`
    (half the new ones on each side), or the input itself where the shape stays."""
    if stride == 1 and x.shape[1] == channels:
        return x
    x = x[:, :, ::stride, ::stride]
    extra = channels - x.shape[1]
    return F.pad(x, (0, 0, 0, 0, extra // 2, extra - extra // 2))


class ResNet(nn.Module):
    """A CIFAR ResNet of `depth` layers whose normalization is `variant` (or Fixup);
    `skip` False removes every shortcut (the same layers and parameters, no sums)."""

    def __init__(self, variant: str, seed: int, depth: int = DEFAULT_DEPTH, width: float = 1.0,
                 num_classes: int = 10, in_channels: int = 3, groups: int = DEFAULT_GROUPS["resnet"],
                 skip: bool = True, channels_last: bool = False):
        super().__init__()
        if variant not in RESNET_VARIANTS:
            raise ValueError(f"unknown ResNet variant {variant!r}; choose one of {', '.join(RESNET_VARIANTS)}")
        if variant == FIXUP and not skip:
            # Fixup starts every branch's last conv at zero: without the shortcuts nothing
            # after the first block would ever receive a signal or a gradient.
            raise ValueError("fixup needs the skip connections (its residual branches start at zero); "
                             "compare no-skip nets with another variant")
        self.memory_format = torch.channels_last if channels_last else torch.contiguous_format
        self.fixup, self.skip = variant == FIXUP, bool(skip)
        n = blocks_per_stage(depth)
        self.residual_blocks = 3 * n
        blocks, strides, channels = [], [], [max(1, round(c * width)) for c in STAGE_CHANNELS]
        blocks.append(self._layer(variant, in_channels, channels[0], 1, 1, seed, groups, in_branch=False))
        strides.append(1)
        previous = channels[0]
        for stage, out in enumerate(channels):
            for b in range(n):
                stride = 2 if stage > 0 and b == 0 else 1
                first = len(blocks) + 1
                blocks.append(self._layer(variant, previous, out, stride, first, seed, groups, in_branch=True))
                blocks.append(self._layer(variant, out, out, 1, first + 1, seed, groups, in_branch=True, last=True))
                strides += [stride, 1]
                previous = out
        self.blocks = nn.ModuleList(blocks)
        self.strides = tuple(strides)
        linear = InputBiasLinear if self.fixup else nn.Linear
        self.classifier = linear(previous, num_classes)

    def _layer(self, variant, in_channels, out_channels, stride, layer, seed, groups, in_branch, last=False):
        if self.fixup:
            conv_type = InputBiasConv2d if in_branch else nn.Conv2d
            conv = conv_type(in_channels, out_channels, 3, stride=stride, padding=1, bias=False)
            return NormBlock(conv, ScalarScaleBias() if last else ScalarBias(), None)
        conv = make_linear(variant, nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1,
                                              bias=not has_learnable_shift(variant)))
        return NormBlock(conv, make_norm(variant, out_channels, spatial=True, layer=layer, seed=seed, groups=groups),
                         None)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.contiguous(memory_format=self.memory_format)
        for i in range(len(self.blocks) + 1):
            x = self.forward_layer(i, x)
        return x

    def forward_layer(self, i: int, x):
        """Layer #i+1 fed its input: a tensor, or between a block's two convs the pair
        (block input, first conv's output)."""
        if i == len(self.blocks):
            return self.classifier(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))
        block = self.blocks[i]
        if i == 0:
            return F.relu(block.norm(block.linear(x)))
        if i % 2 == 1:  # a block's first conv: keep its input for the shortcut
            return x, F.relu(block.norm(block.linear(x)))
        inputs, h = x
        out = block.norm(block.linear(h))
        if self.skip:
            first = self.blocks[i - 1].linear
            shortcut_input = inputs + first.input_bias if self.fixup and self.strides[i - 1] != 1 else inputs
            out = out + option_a_shortcut(shortcut_input, out.shape[1], self.strides[i - 1])
        return F.relu(out)

    def weight_layers(self) -> list[nn.Module]:
        """Conv and linear layers in order: index i-1 is layer #i."""
        return [block.linear for block in self.blocks] + [self.classifier]

    def fixup_initialize(self) -> None:
        """Fixup's rescaling after the run's init has drawn every weight: each branch's
        first conv x L^(-1/2), its last conv and the classifier (weight and bias) zero."""
        if not self.fixup:
            return
        scale = fixup_scale(self.residual_blocks)
        with torch.no_grad():
            for i in range(1, len(self.blocks), 2):
                self.blocks[i].linear.weight.mul_(scale)
                self.blocks[i + 1].linear.weight.zero_()
            self.classifier.weight.zero_()
            self.classifier.bias.zero_()


def fixup_scale(residual_blocks: int, layers_per_branch: int = 2) -> float:
    """L^(-1/(2m-2)): Fixup's factor for the weights of a branch's layers but its last
    (L residual branches of m >= 2 layers)."""
    if layers_per_branch < 2:
        raise ValueError(f"Fixup's rescaling needs branches of at least 2 layers, got {layers_per_branch}")
    return residual_blocks ** (-1.0 / (2 * layers_per_branch - 2))
