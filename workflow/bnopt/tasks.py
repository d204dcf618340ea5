"""What each network learns, in a module that imports nothing (the claims job reads a
run's metric by it and must not import torch): an image classifier (the VGG, the
ResNets) is judged by its accuracy, the deep linear net by its regression loss.

A new network is one line here; the training, claims and learning-rate analysis read
its metric from :func:`metric_of`.
"""

from __future__ import annotations

CLASSIFIERS = ("vgg", "resnet")  # cross-entropy on an image dataset (nets.<net>.dataset)
REGRESSORS = ("dln",)  # a loss on data drawn from the run's seed
NETS = CLASSIFIERS + REGRESSORS


def is_classifier(net: str) -> bool:
    """Whether `net` is an image classifier (scored by accuracy), not a regression."""
    if net not in NETS:
        raise ValueError(f"unknown network {net!r}; choose one of {', '.join(NETS)}")
    return net in CLASSIFIERS


def metric_of(net: str) -> str:
    """The training metric a run of `net` is judged by: "accuracy" (higher is better) or "loss"."""
    return "accuracy" if is_classifier(net) else "loss"
