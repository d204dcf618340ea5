"""A run's recipe: the choices beside its variant, lr and seed that a run group may set:
the optimizer, the weights' initialization, (DLN) the loss's scale and (ResNet) whether
the net keeps its skip connections.

Runs of different recipes are never compared with each other: every table names a
run's recipe, and every claim, figure and scorecard row keeps recipes apart, as it
keeps nets apart. A recipe other than the project's defaults (the paper's plain SGD,
Glorot uniform, the DLN's sum of squares, the ResNet's skips) is named by a token of
its non-default parts joined by ``+``, which follows the variant in the run's folder
(``results/dln/standard+glorot_normal+half_sum/lr~1e-06/seed~0/``,
``results/resnet/batchnorm+noskip/lr~0.1/seed~0/``); the default recipe's token is
empty, so its runs keep their paths.
"""

from __future__ import annotations

from ..defaults import DEFAULT_RECIPE, NO_SKIP
from ..nets.models import INITS, default_init
from .optim import PAPER_TOKEN, optimizer_token
from .problems import DEFAULT_LOSS, REGRESSION_LOSSES

# The losses a net can be trained with (the DLN's two readings of the paper's formula).
LOSSES = {"vgg": ("cross_entropy",), "resnet": ("cross_entropy",), "dln": tuple(REGRESSION_LOSSES)}
INIT_NAMES = tuple(INITS)


def recipe_token(net: str, optimizer: str = PAPER_TOKEN, init: str | None = None, loss: str | None = None,
                 skip: bool = True) -> str:
    """The recipe's name in paths and tables: its non-default parts in the order
    architecture (``noskip``), optimizer, initialization, loss, joined by ``+`` (""
    for the defaults), e.g. ``sgd-m0.9``, ``glorot_normal+half_sum``, ``noskip+adam``.
    `optimizer` is the optimizer's token (:func:`bnopt.training.optim.optimizer_token`)."""
    parts = [NO_SKIP if not skip else "", optimizer if optimizer != PAPER_TOKEN else "",
             init if init not in (None, "", default_init(net)) else "", loss if loss not in (None, DEFAULT_LOSS[net]) else ""]
    return "+".join(part for part in parts if part)


def spec_recipe(spec: dict) -> str:
    """The recipe token of a training spec (its ``optimizer`` settings, ``init`` and
    ``loss`` where they are not the defaults, and the ResNet's ``model.skip``)."""
    return recipe_token(spec["net"], optimizer_token(spec.get("optimizer")), spec.get("init", default_init(spec["net"])),
                        spec.get("loss"), spec.get("model", {}).get("skip", True))


def spec_loss(spec: dict) -> str:
    """The loss a spec trains with: its ``loss``, or its net's default."""
    return spec.get("loss", DEFAULT_LOSS[spec["net"]])


def describe(recipe: str) -> str:
    """A recipe for captions and tables: "the defaults" or its token."""
    return recipe or "the default recipe"
