"""The deterministic, resumable training loop, for one run or a stack of runs.

A run is a pure function of its spec (network, variant, lr, seed, schedule): the
minibatch and the noise of step t are drawn from (seed, t), so a checkpoint plus
the step number is all the state there is. Checkpoints are written (atomically)
to a resume folder outside the rule's declared outputs, which Snakemake deletes
when a job fails; a killed run started again continues from its last checkpoint
and ends value for value where an unbroken run would. The declared outputs are
published only at the end. One loop serves a single run (a VGG) and a stack of DLN
runs (bnopt.training.stacked) alike: each run keeps its own history, checkpoints and
outputs, exactly where a run trained alone keeps them.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import platform
import shutil
import socket
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from tqdm import tqdm

from .. import __version__
from ..nets.models import default_init
from .checkpoints import (CHECKPOINT_FORMAT, CHECKPOINT_NAME, DIVERGED_NAME, History, checkpoint_steps,
                          load_checkpoint, save_atomic)
from .engine import make_engine
from .optim import optimizer_token
from .recipe import spec_loss, spec_recipe
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
    """The run's folder below results/: the variant, then its recipe's token after a
    ``+`` unless it is the default recipe (bnopt.training.recipe)."""
    recipe = spec_recipe(spec)
    variant = f"{spec['variant']}+{recipe}" if recipe else spec["variant"]
    return f"{spec['net']}/{variant}/lr~{spec['lr']!r}/seed~{spec['seed']}"


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


def _resume(engine, specs: list[dict], state_dirs: list[Path], device, log) -> tuple[int | None, list, list]:
    """Where a killed job left its runs: (the step to go on from, None for a fresh
    start; each run's history; each run's diverged step or None). Runs that diverged
    before are done (their final history is in their folder); the others go on
    together from the newest step every one of them has a checkpoint at."""
    histories: list[History] = [History() for _ in specs]
    diverged: list[int | None] = [None] * len(specs)
    newest = []
    for r, state_dir in enumerate(state_dirs):
        if (state_dir / DIVERGED_NAME).exists():
            done = torch.load(state_dir / DIVERGED_NAME, weights_only=True)
            histories[r], diverged[r] = History.from_state(done["history"]), int(done["step"])
        else:
            newest.append(set(checkpoint_steps(state_dir)))
    common = sorted(set.intersection(*newest)) if newest else []
    if not common:
        return None, histories, diverged
    start = common[-1]
    states = []
    for r, state_dir in enumerate(state_dirs):
        if diverged[r] is not None:
            states.append(None)
            continue
        ckpt = load_checkpoint(state_dir / CHECKPOINT_NAME.format(step=start), map_location=device)
        histories[r] = History.from_state(ckpt["history"])
        states.append(ckpt)
    engine.load_runs(states)
    for spec, state in zip(specs, states):
        if log and state is not None:
            print(f"resuming {run_name(spec)} from its checkpoint at step {start}", file=log, flush=True)
    return start, histories, diverged


def train(specs: list[dict], engine, state_dirs: list[Path], log=None, desc: str | None = None) -> list[TrainResult]:
    """Train the runs of `engine` (one per spec) for ``steps`` steps, resuming from the
    checkpoints in their `state_dirs`.

    Evaluates on the test split every ``eval_every`` steps and checkpoints every
    ``checkpoint_every`` steps (both at step 0 and at the end too). A run whose
    minibatch loss turns non-finite is recorded as diverged at that step: its history
    and checkpoints stop there, while the other runs of its stack train on.
    """
    spec = specs[0]
    steps, eval_every, ckpt_every = spec["steps"], spec["eval_every"], spec["checkpoint_every"]
    for state_dir in state_dirs:
        state_dir.mkdir(parents=True, exist_ok=True)
    resumed_from, histories, diverged = _resume(engine, specs, state_dirs, engine.device, log)
    start = resumed_from or 0
    active = [d is None for d in diverged]
    retire = getattr(engine, "retire", None)  # a stack stops computing its diverged runs
    if retire and not all(active):
        retire([r for r, a in enumerate(active) if not a])
    pending_loss: list[torch.Tensor] = []
    pending_correct: list[torch.Tensor] = []
    t0 = time.perf_counter() - max(h.elapsed_s for h in histories)

    def flush() -> None:
        """Move buffered device values to the histories; a run with a non-finite loss
        is recorded as diverged (its value kept) and stops recording."""
        if not pending_loss:
            return
        losses = torch.stack(pending_loss).double().T.tolist()  # (runs, steps)
        correct = torch.stack(pending_correct).double().T.tolist()
        pending_loss.clear()
        pending_correct.clear()
        for r in range(len(specs)):
            if not active[r]:
                continue
            history, first = histories[r], len(histories[r].losses)
            bad = _first_nonfinite(losses[r])
            keep = len(losses[r]) if bad is None else bad + 1  # keep the diverging step's value
            history.losses.extend(losses[r][:keep])
            history.correct.extend(correct[r][:keep])
            if bad is not None:
                active[r], diverged[r] = False, first + bad
                history.elapsed_s = time.perf_counter() - t0
                save_atomic(dict(step=diverged[r], history=history.state()), state_dirs[r] / DIVERGED_NAME)
                if log:
                    print(f"{run_name(specs[r])} diverged: non-finite loss {history.losses[-1]} at step {diverged[r]}; "
                          "recording the run as diverged", file=log, flush=True)
        if retire and not all(active) and any(active):
            retire([r for r, a in enumerate(active) if not a])

    bar = tqdm(total=steps, initial=start, file=log or sys.stderr, mininterval=10.0, unit="step",
               desc=desc or run_name(spec), dynamic_ncols=False, ncols=100)
    step = start
    while True:
        eval_due = step % eval_every == 0 or step == steps
        checkpoint_due = step % ckpt_every == 0 or step == steps
        if eval_due or checkpoint_due or len(pending_loss) >= SYNC_EVERY:
            flush()
            if not any(active):
                break
            last = [h.losses[-1] for h, a in zip(histories, active) if a and h.losses]
            bar.set_postfix(loss=f"{float(np.median(last)):.4g}" if last else "-", refresh=False)
        if eval_due:
            results = None
            for r, history in enumerate(histories):
                if active[r] and not (history.evals and history.evals[-1][0] == step):  # resumed: has it already
                    results = results or engine.evaluate()
                    history.evals.append((step, *results[r]))
        if checkpoint_due and step != resumed_from:
            elapsed = time.perf_counter() - t0
            for r, history in enumerate(histories):
                if active[r]:
                    history.elapsed_s = elapsed
                    save_atomic(dict(format=CHECKPOINT_FORMAT, step=step, **engine.run_state(r),
                                     history=history.state(), spec_key=spec_key(specs[r])),
                                state_dirs[r] / CHECKPOINT_NAME.format(step=step))
        if step == steps:
            break
        loss, correct = engine.step(step)
        pending_loss.append(loss)
        pending_correct.append(correct)
        step += 1
        bar.update(1)
    bar.close()
    elapsed = time.perf_counter() - t0
    results = []
    for r, history in enumerate(histories):
        if active[r]:
            history.elapsed_s = elapsed
        completed = diverged[r] if diverged[r] is not None else steps
        results.append(TrainResult(completed, diverged[r] is not None, diverged[r], resumed_from, history))
    return results


# --------------------------------------------------------------------------- outputs


def run_columns(spec: dict) -> dict:
    """The columns that name a run in every table it contributes to (``objective``: the
    loss it minimizes, the config's ``loss``, named apart from the tables' loss values)."""
    return {"net": spec["net"], "variant": spec["variant"], "lr": float(spec["lr"]), "seed": int(spec["seed"]),
            "optimizer": optimizer_token(spec.get("optimizer")), "init": spec.get("init", default_init(spec["net"])),
            "objective": spec_loss(spec), "recipe": spec_recipe(spec)}


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


def publish(result: TrainResult, spec: dict, batch_size: int, state_dir: Path, out: dict, device: torch.device,
            stacked: int = 1):
    """Write the declared outputs: metrics, test evaluations, the checkpoint chain
    (hard links into the resume folder where possible) and the manifest. A run trained
    in a stack of `stacked` runs is charged its share of the stack's wall time."""
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
    share = history.elapsed_s / stacked
    manifest = {
        "run": run_columns(spec),
        "spec": spec,
        "spec_key": spec_key(spec),
        "code_fingerprint": spec.get("code"),
        "versions": package_versions(),
        "device": device_name(device),
        "host": socket.gethostname(),
        "wall_time_s": round(share, 3),
        "steps_per_s": round(len(history.losses) / share, 3) if share > 0 else None,
        "stack": {"runs": stacked, "wall_time_s": round(history.elapsed_s, 3)},
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


def run_outputs(folder: str | Path) -> dict:
    """The declared outputs of a run's training below its folder (results/<run>/train)."""
    folder = Path(folder)
    return dict(metrics=folder / "metrics.parquet", evals=folder / "test.parquet", manifest=folder / "manifest.json",
                checkpoints=folder / "checkpoints")


def run_batch(specs: list[dict], data_path: str | None, outs: list[dict], state_root: str | Path,
              device: str = "auto", threads: int | None = None, log=None) -> list[dict]:
    """Everything a training job does, for one run or a stack of DLN runs that differ
    only in their seed: build, train (resuming if it can), publish each run's outputs.

    `outs[i]` names run i's declared outputs: ``metrics``, ``evals`` (parquet),
    ``checkpoints`` (a folder) and ``manifest`` (JSON). Each run's resume state lives
    in ``state_root/<run>/<spec key>``, so a changed spec never resumes a stale run;
    it is removed once the outputs are published.
    """
    if threads:
        torch.set_num_threads(int(threads))
    dev = resolve_device(device)
    use_exact_numerics(dev)
    run_states = [Path(state_root) / run_name(spec) for spec in specs]
    state_dirs = [folder / spec_key(spec) for folder, spec in zip(run_states, specs)]
    engine = make_engine(specs, data_path, dev)
    desc = run_name(specs[0]) if len(specs) == 1 else f"{run_name(specs[0]).rsplit('/', 1)[0]} x{len(specs)} runs"
    results = train(specs, engine, state_dirs, log=log, desc=desc)
    manifests = []
    for spec, result, state_dir, out, run_state in zip(specs, results, state_dirs, outs, run_states):
        batch_size = min(spec["batch_size"], engine.train_size)
        manifests.append(publish(result, spec, batch_size, state_dir, out, dev, stacked=len(specs)))
        shutil.rmtree(run_state, ignore_errors=True)
        if log:
            print(json.dumps({"run": run_name(spec), **{k: manifests[-1][k] for k in (
                "wall_time_s", "steps_per_s", "diverged", "diverged_step", "final")}}, default=_json_default),
                file=log, flush=True)
    return manifests


def run_training(spec: dict, data_path: str | None, out: dict, state_root: str | Path,
                 device: str = "auto", threads: int | None = None, log=None) -> dict:
    """:func:`run_batch` of one run."""
    return run_batch([spec], data_path, [out], state_root, device=device, threads=threads, log=log)[0]
