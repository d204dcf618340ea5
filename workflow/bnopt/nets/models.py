"""The paper's two networks: a VGG for 32x32 images and a 25-layer deep linear net
(and, beyond the paper, the CIFAR ResNets of :mod:`.resnet`).

Both are stacks of :class:`NormBlock` (linear map -> normalization -> activation),
the unit the paper numbers as "layer #i". Layer numbers are 1-based; the VGG's
classifier is layer 14 of VGG-16 and the DLN's last layer (no normalization) is 25.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

from ..norms import DEFAULT_GROUPS, has_learnable_shift, make_linear, make_norm
from ..norms.weight import match_length_to_direction, weight_parameter
from ..seeding import generator
from .blocks import NormBlock
from .resnet import DEFAULT_DEPTH, ResNet

# Channels per conv layer; "M" is a 2x2 max-pool after the preceding conv.
VGG_LAYOUTS = {
    "vgg11": [64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    "vgg13": [64, 64, "M", 128, 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    "vgg16": [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"],
    "vgg19": [64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M",
              512, 512, 512, 512, "M"],
}
NETS = ("vgg", "dln", "resnet")


class VGG(nn.Module):
    """VGG for 32x32 inputs: conv3x3 blocks with 5 max-pools, then one linear classifier."""

    def __init__(self, arch: str, variant: str, seed: int, width: float = 1.0,
                 num_classes: int = 10, in_channels: int = 3, groups: int = DEFAULT_GROUPS["vgg"],
                 channels_last: bool = False):
        super().__init__()
        # Activations laid out NHWC (torch.channels_last), which oneDNN's and cuDNN's fastest
        # convolutions read: ~1.6x a training step on this project's CPU, 1.4x on an H200.
        # Other kernels, so other bits than NCHW: a run keeps its layout for life (it is in
        # the run's spec, through the model config), and replays exactly within it.
        self.memory_format = torch.channels_last if channels_last else torch.contiguous_format
        if arch not in VGG_LAYOUTS:
            raise ValueError(f"unknown VGG arch {arch!r}; choose one of {', '.join(VGG_LAYOUTS)}")
        blocks, pool_after, channels = [], [], in_channels
        for item in VGG_LAYOUTS[arch]:
            if item == "M":
                pool_after[-1] = True
                continue
            out_channels = max(1, round(item * width))
            # A bias before a learnable shift (beta) gets no gradient signal: leave it out.
            conv = make_linear(variant, nn.Conv2d(channels, out_channels, 3, padding=1,
                                                  bias=not has_learnable_shift(variant)))
            norm = make_norm(variant, out_channels, spatial=True, layer=len(blocks) + 1, seed=seed, groups=groups)
            blocks.append(NormBlock(conv, norm, nn.ReLU()))
            pool_after.append(False)
            channels = out_channels
        self.blocks = nn.ModuleList(blocks)
        self.pool_after = tuple(pool_after)
        self.classifier = nn.Linear(channels, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.contiguous(memory_format=self.memory_format)
        for i in range(len(self.blocks) + 1):
            x = self.forward_layer(i, x)
        return x

    def forward_layer(self, i: int, x: torch.Tensor) -> torch.Tensor:
        """The paper's layer #i+1 (with the max-pool after it), fed its input `x`: the
        network is these layers in order (probes run parts of it)."""
        if i < len(self.blocks):
            x = self.blocks[i](x)
            return F.max_pool2d(x, 2) if self.pool_after[i] else x
        return self.classifier(x.flatten(1))

    def weight_layers(self) -> list[nn.Module]:
        """Conv and linear layers in order: index i-1 is the paper's layer #i."""
        return [block.linear for block in self.blocks] + [self.classifier]


class DeepLinearNet(nn.Module):
    """`depth` bias-free `width`x`width` linear layers; the variant's normalization
    follows each of the first `normalized_layers` of them (weightnorm: reparametrizes
    their weights), and there is no non-linearity."""

    def __init__(self, variant: str, seed: int, depth: int = 25, width: int = 10, normalized_layers: int = 24,
                 groups: int = DEFAULT_GROUPS["dln"]):
        super().__init__()
        if not 0 <= normalized_layers <= depth:
            raise ValueError(f"normalized_layers must be in [0, depth={depth}], got {normalized_layers}")
        self.blocks = nn.ModuleList(
            NormBlock(
                make_linear(variant, nn.Linear(width, width, bias=False)) if i <= normalized_layers
                else nn.Linear(width, width, bias=False),
                make_norm(variant, width, spatial=False, layer=i, seed=seed, groups=groups) if i <= normalized_layers
                else nn.Identity(),
                None,  # linear: no module call for an identity (the step is dispatch-bound)
            )
            for i in range(1, depth + 1)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # NormBlock.forward (no activation), without calling the block itself: the
        # step is dispatch-bound, and a module call costs as much as a 10x10 matmul.
        for block in self.blocks:
            x = block.norm(block.linear(x))
        return x

    def forward_layer(self, i: int, x: torch.Tensor) -> torch.Tensor:
        """Layer #i+1 fed its input `x` (probes run parts of the network)."""
        return self.blocks[i](x)

    def weight_layers(self) -> list[nn.Module]:
        return [block.linear for block in self.blocks]


# Glorot (Xavier) initializations, each a function (weight, generator) -> None drawing
# in place with variance scaled by 2 / (fan_in + fan_out). The paper says "standard Glorot
# initialization" and no more (Appendix A.1); these are the three readings of it:
# torch's / Keras' uniform, the plain normal, and TF1's glorot_normal_initializer, which
# (until TF 1.12) drew a normal truncated at two standard deviations *without* rescaling
# it, so its variance is 0.774 of the nominal 2 / (fan_in + fan_out).
TRUNCATION = 2.0  # TF1's truncated_normal re-draws values beyond two standard deviations


def _glorot_std(weight: torch.Tensor) -> float:
    fan_in, fan_out = nn.init._calculate_fan_in_and_fan_out(weight)
    return math.sqrt(2.0 / (fan_in + fan_out))


def _truncated_normal(weight: torch.Tensor, generator: torch.Generator) -> None:
    std = _glorot_std(weight)
    nn.init.trunc_normal_(weight, 0.0, std, -TRUNCATION * std, TRUNCATION * std, generator=generator)


INITS = {
    "glorot_uniform": lambda weight, generator: nn.init.xavier_uniform_(weight, generator=generator),
    "glorot_normal": lambda weight, generator: nn.init.xavier_normal_(weight, generator=generator),
    "glorot_truncated_normal": _truncated_normal,
    # He et al. (2015): variance 2 / fan_in, what the ResNet paper and Fixup draw (Glorot's
    # 2 / (fan_in + fan_out) halves a 3x3 conv's signal at every ReLU layer: a 20-layer
    # ResNet without normalization stays at chance on the quick config's digits under it)
    "he_normal": lambda weight, generator: nn.init.kaiming_normal_(weight, nonlinearity="relu", generator=generator),
}
DEFAULT_INIT = "glorot_uniform"  # the paper's ("standard Glorot initialization")
# Each net's own default: the paper's Glorot for its two nets, He's for the ResNet (as its
# authors and Fixup's). A run of its net's default init carries no init in its recipe.
NET_DEFAULT_INIT = {"resnet": "he_normal"}


def default_init(net: str) -> str:
    """The initialization a run of `net` gets unless its config names another."""
    return NET_DEFAULT_INIT.get(net, DEFAULT_INIT)


def init_glorot(model: nn.Module, seed: int, init: str = DEFAULT_INIT) -> nn.Module:
    """Glorot weights (`init`, a key of INITS) and zero biases for every conv/linear
    layer, drawn from a generator keyed by the run's seed (no global RNG). A
    weight-normalized layer draws its direction v and sets g = ||v||: the same initial
    weights."""
    if init not in INITS:
        raise ValueError(f"unknown initialization {init!r}; choose one of {', '.join(INITS)}")
    gen = generator(seed, "init")
    for module in model.modules():
        if isinstance(module, (nn.Conv2d, nn.Linear)):
            INITS[init](weight_parameter(module), gen)
            match_length_to_direction(module)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
    return model


def build_model(net: str, variant: str, seed: int, model_cfg: dict, num_classes: int = 10,
                init: str | None = None) -> nn.Module:
    """The network `net` ("vgg", "dln" or "resnet") with normalization `variant`,
    initialized from `seed` by `init` (a key of INITS, None: the net's default; a Fixup
    ResNet then rescaled).

    `model_cfg` is the config's ``nets.<net>.model`` section.
    """
    groups = model_cfg.get("groups", DEFAULT_GROUPS.get(net))
    if net == "vgg":
        model = VGG(model_cfg.get("arch", "vgg16"), variant, seed, width=model_cfg.get("width", 1.0),
                    num_classes=num_classes, groups=groups, channels_last=model_cfg.get("channels_last", False))
    elif net == "dln":
        model = DeepLinearNet(variant, seed, depth=model_cfg.get("depth", 25), width=model_cfg.get("width", 10),
                              normalized_layers=model_cfg.get("normalized_layers", 24), groups=groups)
    elif net == "resnet":
        model = ResNet(variant, seed, depth=model_cfg.get("depth", DEFAULT_DEPTH), width=model_cfg.get("width", 1.0),
                       num_classes=num_classes, groups=groups, skip=model_cfg.get("skip", True),
                       channels_last=model_cfg.get("channels_last", False))
    else:
        raise ValueError(f"unknown network {net!r}; choose one of {', '.join(NETS)}")
    model = init_glorot(model, seed, init or default_init(net))
    if net == "resnet":
        model.fixup_initialize()
    # after the initialization, which draws the same numbers in either layout
    return model.to(memory_format=model.memory_format) if net != "dln" else model
