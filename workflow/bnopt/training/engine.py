"""What trains: a run's problem, network and optimizer, and the engine that steps them.

An engine trains one or more runs in lockstep and speaks for them all: ``step(t)``
(each run's loss and correct count before the update), ``evaluate()`` (each run's
test loss and accuracy), ``run_state(r)`` / ``load_runs(states)`` (a run's checkpoint
content) and ``module(r)`` (a run's network at the current parameters, for the
probes). A VGG run is one nn.Module (:class:`ModuleEngine`); DLN runs train stacked
(:class:`bnopt.training.stacked.StackedDLN`), alone as a stack of one.
"""

from __future__ import annotations

import torch
from torch import nn

from ..nets.models import build_model
from ..norms import set_noise_step
from .optim import make_optimizer
from .problems import Problem, dln_problem, image_problem
from .recipe import spec_loss
from .stacked import StackedDLN


def build_problem(spec: dict, data_path: str | None, device: torch.device) -> Problem:
    if spec["net"] == "dln":
        data = spec.get("data", {})
        return dln_problem(spec["seed"], spec["batch_size"], device, n_train=data.get("n_train", 1000),
                           n_test=data.get("n_test", 1000), dim=spec["model"].get("width", 10), loss=spec_loss(spec))
    if data_path is None:
        raise ValueError(f"network {spec['net']!r} needs a prepared dataset file")
    return image_problem(data_path, spec["seed"], spec["batch_size"], device)


def build_run(spec: dict, device: torch.device) -> tuple[nn.Module, torch.optim.Optimizer]:
    """The initialized model (the spec's ``init``, Glorot uniform where it has none) and
    its optimizer at a constant lr: the spec's optimizer settings, or the paper's plain
    SGD where it has none."""
    model = build_model(spec["net"], spec["variant"], spec["seed"], spec["model"],
                        init=spec.get("init")).to(device)
    optimizer = make_optimizer(model.parameters(), spec["lr"], spec.get("optimizer"))
    return model, optimizer


def train_step(model: nn.Module, optimizer: torch.optim.Optimizer, problem: Problem, step: int):
    """One SGD step on the minibatch of `step`. Returns the minibatch loss and the
    number of correct predictions, both before the update, as device tensors."""
    if not model.training:  # model.train() walks every module: not on every step
        model.train()
    set_noise_step(model, step)
    x, y = problem.batch(step)
    out = model(x)
    loss = problem.loss_fn(out, y)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    return loss.detach(), problem.correct(out.detach(), y)


class ModuleEngine:
    """One run as one nn.Module and its optimizer (the VGG)."""

    def __init__(self, spec: dict, problem: Problem, model: nn.Module, optimizer: torch.optim.Optimizer):
        self.specs, self.runs, self.problems = [spec], 1, [problem]
        self.problem, self.model, self.optimizer = problem, model, optimizer
        self.device = next(model.parameters()).device
        self.train_size = len(problem.train_x)

    def step(self, step: int) -> tuple[torch.Tensor, torch.Tensor]:
        loss, correct = train_step(self.model, self.optimizer, self.problem, step)
        return loss.view(1), correct.view(1)

    def evaluate(self) -> list[tuple[float, float]]:
        return [self.problem.evaluate(self.model)]

    def run_state(self, r: int = 0) -> dict:
        return dict(model=self.model.state_dict(), optimizer=self.optimizer.state_dict())

    def load_runs(self, states: list[dict | None]) -> None:
        if states[0] is not None:
            self.model.load_state_dict(states[0]["model"])
            self.optimizer.load_state_dict(states[0]["optimizer"])

    def module(self, r: int = 0) -> nn.Module:
        return self.model


def make_engine(specs: list[dict], data_path: str | None, device: torch.device):
    """The engine of `specs`: DLN runs stacked (they must differ only in their seed),
    any other net one run at a time."""
    if specs[0]["net"] != "dln" and len(specs) != 1:
        raise ValueError(f"only DLN runs train stacked; got {len(specs)} {specs[0]['net']} runs")
    problems = [build_problem(spec, data_path, device) for spec in specs]
    if specs[0]["net"] == "dln":
        return StackedDLN(specs, problems, device)
    return ModuleEngine(specs[0], problems[0], *build_run(specs[0], device))
