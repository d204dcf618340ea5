"""The optimizer of a run, from its settings, and the short token that names it.

The paper trains with plain SGD at a constant learning rate; a net (or one of its run
groups) may choose momentum, Nesterov momentum or weight decay instead (torch's SGD:
``buf = momentum * buf + g``, the step ``-lr * buf``, or ``-lr * (g + momentum * buf)``
with Nesterov; weight decay adds ``weight_decay * w`` to every parameter's gradient,
normalization parameters included), or Adam (Kingma and Ba 2015; weight decay added to
the gradient, as torch.optim.Adam does) or AdamW (Loshchilov and Hutter 2019; weight
decay decoupled: ``w -= lr * weight_decay * w`` beside the Adam step). Every optimizer's
state (momentum buffers; Adam's moments and step count) is in every checkpoint, so
resumed and replayed runs stay exact.
"""

from __future__ import annotations

import torch

from ..defaults import PAPER_TOKEN

# Each optimizer's settings and their defaults (torch's): a setting left out takes its
# default, and a run's token names only the settings that differ from them.
OPTIMIZERS = {
    "sgd": {"momentum": 0.0, "nesterov": False, "weight_decay": 0.0},
    "adam": {"betas": [0.9, 0.999], "eps": 1e-8, "weight_decay": 0.0},
    "adamw": {"betas": [0.9, 0.999], "eps": 1e-8, "weight_decay": 0.01},
}
# The paper's optimizer; a run whose settings equal these is named "sgd" and keeps
# the paper's paths.
PAPER_OPTIMIZER = {"name": "sgd", **OPTIMIZERS["sgd"]}


def _number(value: float) -> str:
    return repr(float(value))  # round-trips, like the lr in paths


def resolved(settings: dict | None) -> dict:
    """`settings` with its optimizer's defaults filled in for every key it leaves out
    (no name: the paper's SGD). An unknown optimizer, or a key the optimizer does not
    have, is a ValueError that names it."""
    settings = dict(settings or {})
    name = settings.pop("name", "sgd")
    if name not in OPTIMIZERS:
        raise ValueError(f"unknown optimizer {name!r}; choose one of {', '.join(OPTIMIZERS)}")
    foreign = sorted(set(settings) - set(OPTIMIZERS[name]))
    if foreign:
        raise ValueError(f"optimizer {name!r} has no setting {', '.join(map(repr, foreign))}; its settings are "
                         f"{', '.join(OPTIMIZERS[name])}")
    out = {"name": name, **OPTIMIZERS[name], **settings}
    if "betas" in out:
        out["betas"] = [float(b) for b in out["betas"]]
    return out


def optimizer_token(settings: dict | None) -> str:
    """The name of an optimizer setting in paths and tables: its name, then each setting
    that differs from that optimizer's default: ``sgd`` (the paper's), ``sgd-m0.9``,
    ``sgd-m0.9-nesterov``, ``sgd-m0.9-wd0.0005``, ``adam``, ``adam-betas0.5_0.99``,
    ``adam-eps1e-06``, ``adamw`` (its default weight decay, 0.01), ``adamw-wd0.1``, ..."""
    s = resolved(settings)
    defaults, token = OPTIMIZERS[s["name"]], s["name"]
    if s["name"] == "sgd":
        if s["momentum"]:
            token += f"-m{_number(s['momentum'])}"
        if s["nesterov"]:
            token += "-nesterov"
    else:
        if s["betas"] != defaults["betas"]:
            token += "-betas" + "_".join(_number(b) for b in s["betas"])
        if float(s["eps"]) != defaults["eps"]:
            token += f"-eps{_number(s['eps'])}"
    if float(s["weight_decay"]) != defaults["weight_decay"]:
        token += f"-wd{_number(s['weight_decay'])}"
    return token


def make_optimizer(parameters, lr: float, settings: dict | None) -> torch.optim.Optimizer:
    """The run's optimizer over `parameters` at constant learning rate `lr`."""
    s = resolved(settings)
    if s["name"] == "sgd":
        if s["nesterov"] and not s["momentum"] > 0:
            raise ValueError("nesterov needs a momentum above 0")
        return torch.optim.SGD(parameters, lr=lr, momentum=float(s["momentum"]), nesterov=bool(s["nesterov"]),
                               weight_decay=float(s["weight_decay"]))
    adam = torch.optim.Adam if s["name"] == "adam" else torch.optim.AdamW
    # One tensor at a time (not torch's multi-tensor path, which some devices pick by
    # default): elementwise either way, but a run's numbers must not depend on which
    # tensors are stepped beside its own (a stack's other runs).
    return adam(parameters, lr=lr, betas=tuple(s["betas"]), eps=float(s["eps"]),
                weight_decay=float(s["weight_decay"]), foreach=False)
