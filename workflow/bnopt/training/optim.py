"""The optimizer of a run, from its settings, and the short token that names it.

The paper trains with plain SGD at a constant learning rate; a net (or one of its run
groups) may choose momentum, Nesterov momentum or weight decay instead (torch's SGD:
``buf = momentum * buf + g``, the step ``-lr * buf``, or ``-lr * (g + momentum * buf)``
with Nesterov; weight decay adds ``weight_decay * w`` to every parameter's gradient,
normalization parameters included). The momentum buffer is in the optimizer's state,
which every checkpoint holds, so resumed and replayed runs stay exact.
"""

from __future__ import annotations

import torch

from ..defaults import PAPER_TOKEN

# The paper's optimizer; a run whose settings equal these is named "sgd" and keeps
# the paper's paths.
PAPER_OPTIMIZER = {"name": "sgd", "momentum": 0.0, "nesterov": False, "weight_decay": 0.0}


def _number(value: float) -> str:
    return repr(float(value))  # round-trips, like the lr in paths


def resolved(settings: dict | None) -> dict:
    """`settings` with the paper's values filled in for every key it leaves out."""
    return {**PAPER_OPTIMIZER, **(settings or {})}


def optimizer_token(settings: dict | None) -> str:
    """The name of an optimizer setting in paths and tables: ``sgd`` (the paper's),
    ``sgd-m0.9``, ``sgd-m0.9-nesterov``, ``sgd-m0.9-wd0.0005``, ..."""
    s = resolved(settings)
    token = s["name"]
    if s["momentum"]:
        token += f"-m{_number(s['momentum'])}"
    if s["nesterov"]:
        token += "-nesterov"
    if s["weight_decay"]:
        token += f"-wd{_number(s['weight_decay'])}"
    return token


def make_optimizer(parameters, lr: float, settings: dict | None) -> torch.optim.Optimizer:
    """The run's optimizer over `parameters` at constant learning rate `lr`."""
    s = resolved(settings)
    if s["name"] != "sgd":
        raise ValueError(f"unknown optimizer {s['name']!r}; the only one is 'sgd' (with momentum, nesterov, "
                         "weight_decay)")
    if s["nesterov"] and not s["momentum"] > 0:
        raise ValueError("nesterov needs a momentum above 0")
    return torch.optim.SGD(parameters, lr=lr, momentum=float(s["momentum"]), nesterov=bool(s["nesterov"]),
                           weight_decay=float(s["weight_decay"]))
