"""The deterministic, resumable training loop.

A run is a pure function of its spec (network, variant, lr, seed, schedule): the
minibatch and the noise of step t are drawn from (seed, t), so a checkpoint plus
the step number is all the state there is. Checkpoints are written (atomically)
to a resume folder outside the rule's declared outputs, which Snakemake deletes
when a job fails; a killed run started again continues from its last checkpoint
and ends value for value where an unbroken run would. The declared outputs are
published only at the end.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import platform
import re
import shutil
import socket
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch import nn
from tqdm import tqdm

from .. import __version__
from ..nets.models import build_model
from ..norms import set_noise_step
from .optim import PAPER_TOKEN, make_optimizer, optimizer_token
from .problems import Problem, dln_problem, image_problem

CHECKPOINT_FORMAT = 1
CHECKPOINT_NAME = "step~{step:06d}.pt"
CHECKPOINT_RE = re.compile(r"^step~(\d+)\.pt$")
# How often (in steps) device-side losses are copied to the host and checked: a
# host sync every step would stall a GPU.
SYNC_EVERY = 25


def resolve_device(device: str) -> torch.device:
    """``auto`` is CUDA when present, else the CPU."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise RuntimeError(f"device {device!r} was asked for, but torch sees no CUDA device; use 'auto' or 'cpu'")
    return torch.device(device)


def device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return f"{device} ({torch.cuda.get_device_name(device)})"
    return f"cpu ({platform.processor() or platform.machine()}, {torch.get_num_threads()} threads)"


# cuBLAS is deterministic only with a fixed workspace, set before its first handle.
CUBLAS_WORKSPACE = ":4096:8"


def use_exact_numerics(device: torch.device) -> None:
    """True float32, and on CUDA deterministic kernels: a resumed or replayed run then
    equals an unbroken one bit for bit on the same hardware (the CPU already is).

    TF32 matmuls would change the function SGD descends. On CUDA: cuBLAS gets a fixed
    workspace (the variable must be set before CUDA creates its first cuBLAS handle;
    a training or probe job calls this first), cuDNN's autotuner is off and its
    deterministic algorithms on, and PyTorch is switched to deterministic algorithms.
    ``warn_only``: an operation with no deterministic CUDA kernel warns rather than
    stopping a run; its effect cannot pass unnoticed, since every probe job checks its
    replay against the recorded losses, exactly by default.
    """
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    if device.type == "cuda":
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", CUBLAS_WORKSPACE)
        torch.backends.cudnn.benchmark = False
        torch.backends.cudnn.deterministic = True
        torch.use_deterministic_algorithms(True, warn_only=True)


def spec_key(spec: dict) -> str:
    """A short hash of everything that determines a run's result."""
    return hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:16]


def run_name(spec: dict) -> str:
    token = optimizer_token(spec.get("optimizer"))
    variant = spec["variant"] if token == PAPER_TOKEN else f"{spec['variant']}+{token}"
    return f"{spec['net']}/{variant}/lr~{spec['lr']!r}/seed~{spec['seed']}"


def build_problem(spec: dict, data_path: str | None, device: torch.device) -> Problem:
    if spec["net"] == "dln":
        data = spec.get("data", {})
        return dln_problem(spec["seed"], spec["batch_size"], device, n_train=data.get("n_train", 1000),
                           n_test=data.get("n_test", 1000), dim=spec["model"].get("width", 10))
    if data_path is None:
        raise ValueError(f"network {spec['net']!r} needs a prepared dataset file")
    return image_problem(data_path, spec["seed"], spec["batch_size"], device)


def build_run(spec: dict, device: torch.device) -> tuple[nn.Module, torch.optim.Optimizer]:
    """The initialized model and its optimizer at a constant lr: the spec's optimizer
    settings, or the paper's plain SGD where it has none."""
    model = build_model(spec["net"], spec["variant"], spec["seed"], spec["model"]).to(device)
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


# --------------------------------------------------------------------------- checkpoints


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


# --------------------------------------------------------------------------- the loop


@dataclass
class TrainResult:
    steps_completed: int
    diverged: bool
    diverged_step: int | None
    resumed_from_step: int | None
    history: History


def _first_nonfinite(values: list[float]) -> int | None:
    for i, v in enumerate(values):
        if not math.isfinite(v):
            return i
    return None


def train(spec: dict, problem: Problem, model: nn.Module, optimizer: torch.optim.Optimizer,
          state_dir: Path, log=None) -> TrainResult:
    """Train for ``spec['steps']`` steps, resuming from the newest checkpoint in `state_dir`.

    Evaluates on the test split every ``eval_every`` steps and checkpoints every
    ``checkpoint_every`` steps (both at step 0 and at the end too). A non-finite
    minibatch loss ends the run early, recorded as diverged.
    """
    steps, eval_every, ckpt_every = spec["steps"], spec["eval_every"], spec["checkpoint_every"]
    state_dir.mkdir(parents=True, exist_ok=True)
    device = next(model.parameters()).device
    history, start, resumed_from = History(), 0, None
    if existing := checkpoint_steps(state_dir):
        start = resumed_from = existing[-1]
        ckpt = load_checkpoint(state_dir / CHECKPOINT_NAME.format(step=start), map_location=device)
        model.load_state_dict(ckpt["model"])
        optimizer.load_state_dict(ckpt["optimizer"])
        history = History.from_state(ckpt["history"])
        if log:
            print(f"resuming {run_name(spec)} from its checkpoint at step {start}", file=log, flush=True)

    pending_loss: list[torch.Tensor] = []
    pending_correct: list[torch.Tensor] = []
    diverged_step = None
    t0 = time.perf_counter() - history.elapsed_s

    def flush() -> int | None:
        """Move buffered device values to the history; return a diverged step, if any."""
        if not pending_loss:
            return None
        first = len(history.losses)
        losses = torch.stack(pending_loss).double().tolist()
        correct = torch.stack(pending_correct).double().tolist()
        pending_loss.clear()
        pending_correct.clear()
        bad = _first_nonfinite(losses)
        keep = len(losses) if bad is None else bad + 1  # keep the diverging step's value
        history.losses.extend(losses[:keep])
        history.correct.extend(correct[:keep])
        return None if bad is None else first + bad

    bar = tqdm(total=steps, initial=start, file=log or sys.stderr, mininterval=10.0, unit="step",
               desc=run_name(spec), dynamic_ncols=False, ncols=100)
    step = start
    while True:
        eval_due = step % eval_every == 0 or step == steps
        checkpoint_due = step % ckpt_every == 0 or step == steps
        if eval_due or checkpoint_due or len(pending_loss) >= SYNC_EVERY:
            diverged_step = flush()
            if diverged_step is not None:
                break
            bar.set_postfix(loss=f"{history.losses[-1]:.4g}" if history.losses else "-", refresh=False)
        if eval_due and not (history.evals and history.evals[-1][0] == step):  # a resumed run has it already
            history.evals.append((step, *problem.evaluate(model)))
        if checkpoint_due and step != resumed_from:
            history.elapsed_s = time.perf_counter() - t0
            save_atomic(dict(format=CHECKPOINT_FORMAT, step=step, model=model.state_dict(),
                             optimizer=optimizer.state_dict(), history=history.state(), spec_key=spec_key(spec)),
                        state_dir / CHECKPOINT_NAME.format(step=step))
        if step == steps:
            break
        loss, correct = train_step(model, optimizer, problem, step)
        pending_loss.append(loss)
        pending_correct.append(correct)
        step += 1
        bar.update(1)
    bar.close()
    history.elapsed_s = time.perf_counter() - t0
    if diverged_step is not None and log:
        print(f"{run_name(spec)} diverged: non-finite loss {history.losses[-1]} at step {diverged_step}; "
              "stopping early and recording the run as diverged", file=log, flush=True)
    completed = diverged_step if diverged_step is not None else steps
    return TrainResult(completed, diverged_step is not None, diverged_step, resumed_from, history)


# --------------------------------------------------------------------------- outputs


def run_columns(spec: dict) -> dict:
    """The columns that name a run in every table it contributes to."""
    return {"net": spec["net"], "variant": spec["variant"], "lr": float(spec["lr"]), "seed": int(spec["seed"]),
            "optimizer": optimizer_token(spec.get("optimizer"))}


def metrics_table(spec: dict, history: History, batch_size: int) -> pd.DataFrame:
    """Per-step minibatch loss and accuracy, one row per step (accuracy NaN for the DLN)."""
    n = len(history.losses)
    return pd.DataFrame({
        **run_columns(spec),
        "step": np.arange(n, dtype=np.int64),
        "loss": np.asarray(history.losses, dtype=np.float64),
        "accuracy": np.asarray(history.correct, dtype=np.float64) / batch_size,
    })


def evals_table(spec: dict, history: History) -> pd.DataFrame:
    """Test loss and accuracy (eval mode) every ``eval_every`` steps."""
    evals = np.asarray(history.evals, dtype=np.float64).reshape(-1, 3)
    return pd.DataFrame({
        **run_columns(spec),
        "step": evals[:, 0].astype(np.int64), "test_loss": evals[:, 1], "test_accuracy": evals[:, 2],
    })


def package_versions() -> dict:
    versions = {"python": platform.python_version(), "bnopt": __version__, "torch": torch.__version__,
                "numpy": np.__version__, "pandas": pd.__version__}
    try:
        from importlib.metadata import version

        versions["snakemake"] = version("snakemake")
    except Exception:  # noqa: BLE001 - versions are informative only
        pass
    return versions


def publish(result: TrainResult, spec: dict, problem: Problem, state_dir: Path, out: dict, device: torch.device):
    """Write the declared outputs: metrics, test evaluations, the checkpoint chain
    (hard links into the resume folder where possible) and the manifest."""
    batch_size = problem.sampler.batch_size
    metrics_table(spec, result.history, batch_size).to_parquet(out["metrics"], index=False)
    evals_table(spec, result.history).to_parquet(out["evals"], index=False)
    ckpt_dir = Path(out["checkpoints"])
    ckpt_dir.mkdir(parents=True, exist_ok=True)
    for step in checkpoint_steps(state_dir):
        src, dst = state_dir / CHECKPOINT_NAME.format(step=step), ckpt_dir / CHECKPOINT_NAME.format(step=step)
        dst.unlink(missing_ok=True)
        try:
            os.link(src, dst)
        except OSError:
            shutil.copy2(src, dst)
    history = result.history
    last_eval = history.evals[-1] if history.evals else (None, float("nan"), float("nan"))
    manifest = {
        "run": run_columns(spec),
        "spec": spec,
        "spec_key": spec_key(spec),
        "code_fingerprint": spec.get("code"),
        "versions": package_versions(),
        "device": device_name(device),
        "host": socket.gethostname(),
        "wall_time_s": round(history.elapsed_s, 3),
        "steps_per_s": round(len(history.losses) / history.elapsed_s, 3) if history.elapsed_s > 0 else None,
        "steps_completed": result.steps_completed,
        "diverged": result.diverged,
        "diverged_step": result.diverged_step,
        "resumed_from_step": result.resumed_from_step,
        "checkpoint_steps": checkpoint_steps(ckpt_dir),
        "final": {"train_loss": history.losses[-1] if history.losses else None,
                  "test_step": last_eval[0], "test_loss": last_eval[1], "test_accuracy": last_eval[2]},
    }
    Path(out["manifest"]).write_text(json.dumps(manifest, indent=2, default=_json_default) + "\n")
    return manifest


def _json_default(value):
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    raise TypeError(f"not JSON serializable: {value!r}")


def run_training(spec: dict, data_path: str | None, out: dict, state_root: str | Path,
                 device: str = "auto", threads: int | None = None, log=None) -> dict:
    """Everything a training job does: build, train (resuming if it can), publish.

    `out` names the declared outputs: ``metrics``, ``evals`` (parquet),
    ``checkpoints`` (a folder) and ``manifest`` (JSON). Resume state lives in
    ``state_root/<run>/<spec key>``, so a changed spec never resumes a stale run;
    it is removed once the outputs are published.
    """
    if threads:
        torch.set_num_threads(int(threads))
    dev = resolve_device(device)
    use_exact_numerics(dev)
    run_state = Path(state_root) / run_name(spec)
    state_dir = run_state / spec_key(spec)
    problem = build_problem(spec, data_path, dev)
    model, optimizer = build_run(spec, dev)
    result = train(spec, problem, model, optimizer, state_dir, log=log)
    manifest = publish(result, spec, problem, state_dir, out, dev)
    shutil.rmtree(run_state, ignore_errors=True)
    if log:
        print(json.dumps({k: manifest[k] for k in ("wall_time_s", "steps_per_s", "diverged", "diverged_step",
                                                  "final")}, default=_json_default), file=log, flush=True)
    return manifest
