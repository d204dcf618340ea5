"""A run's checkpoints and what it has recorded: written atomically, one file per
checkpointed step, each holding the model, the optimizer and the history so far.

A checkpoint of a run is the same file whether the run trained alone (an nn.Module)
or stacked with others (bnopt.training.stacked): the unstacked network's state_dict.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import torch

CHECKPOINT_FORMAT = 1
CHECKPOINT_NAME = "step~{step:06d}.pt"
CHECKPOINT_RE = re.compile(r"^step~(\d+)\.pt$")
# Written in a run's resume folder when it diverges inside a stack that trains on: its
# final history, so a resumed stack knows the run is done.
DIVERGED_NAME = "diverged.pt"


def save_atomic(obj, path: Path) -> None:
    tmp = path.with_name(path.name + ".tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)


def checkpoint_steps(folder: Path) -> list[int]:
    """Steps of the checkpoints in `folder`, ascending."""
    if not folder.is_dir():
        return []
    return sorted(int(m.group(1)) for p in folder.iterdir() if (m := CHECKPOINT_RE.match(p.name)))


def load_checkpoint(path: Path, map_location=None) -> dict:
    """Load a checkpoint with ``weights_only=True``: tensors and plain containers only."""
    ckpt = torch.load(path, map_location=map_location, weights_only=True)
    if ckpt.get("format") != CHECKPOINT_FORMAT:
        raise ValueError(f"{path}: checkpoint format {ckpt.get('format')!r}, expected {CHECKPOINT_FORMAT}")
    return ckpt


@dataclass
class History:
    """What a run has recorded so far; saved inside every checkpoint so a resumed run
    continues the same tables."""

    losses: list[float] = field(default_factory=list)
    correct: list[float] = field(default_factory=list)
    evals: list[tuple[int, float, float]] = field(default_factory=list)  # (step, test loss, test accuracy)
    elapsed_s: float = 0.0

    def state(self) -> dict:
        return dict(losses=torch.tensor(self.losses, dtype=torch.float64),
                    correct=torch.tensor(self.correct, dtype=torch.float64),
                    evals=torch.tensor(self.evals, dtype=torch.float64).reshape(-1, 3),
                    elapsed_s=float(self.elapsed_s))

    @classmethod
    def from_state(cls, state: dict) -> "History":
        evals = [(int(s), float(l), float(a)) for s, l, a in state["evals"].tolist()]
        return cls(state["losses"].tolist(), state["correct"].tolist(), evals, float(state["elapsed_s"]))
