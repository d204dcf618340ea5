"""The probe job: replay one segment of a run with the measurements switched on.

A segment [start, end) starts at a checkpoint. Each measured step is reached by
replaying exactly (the minibatch and noise of step t are pure functions of
(seed, t)) from the newest checkpoint before it, so denser checkpoints mean less
replay, and steps after the last measured one are never replayed. Every replayed
loss must equal the one training recorded: bit for bit on the CPU, within a
stated tolerance on CUDA. A mismatch is an error naming run, step and both values.
At every ``probe_every``-th step the measurements of :mod:`bnopt.probes` are taken
before the step's update (ICS also needs the update itself).
"""

from __future__ import annotations

import math
import time
from pathlib import Path

import pandas as pd
import torch

from ..seeding import generator
from ..training.checkpoints import CHECKPOINT_NAME, checkpoint_steps, load_checkpoint
from ..training.engine import make_engine
from ..training.train import device_name, resolve_device, run_columns, run_name, use_exact_numerics
from .probes import (ActivationRecorder, StepEvaluator, cosine, eta_grid, internal_covariate_shift, landscape,
                     layer_param_indices, norm, overflowed, top_hessian_eigenvalue, unit_moments, unit_values,
                     weight_indices)

TABLES = ("landscape", "landscape_steps", "ics", "activations", "moments", "curvature")
UPDATE_COLUMNS = ("update_loss_min", "update_loss_max", "update_grad_change_min", "update_grad_change_max",
                  "update_effective_beta", "update_cosine")


class ReplayMismatch(RuntimeError):
    """A replayed step's loss differs from the loss training recorded."""


def chosen_units(seed: int, layer: int, channels: int, count: int) -> list[int]:
    """The units (channels) of `layer` whose values are recorded, fixed for a run."""
    perm = torch.randperm(channels, generator=generator(seed, "activation-units", layer))
    return sorted(perm[: min(count, channels)].tolist())


def sample_positions(seed: int, step: int, layer: int, n: int, count: int) -> torch.Tensor | None:
    """Which of a unit's n values (batch x H x W) to keep at this step; None = all."""
    if n <= count:
        return None
    return torch.randperm(n, generator=generator(seed, "activation-samples", step, layer))[:count]


def losses_match(replayed: float, recorded: float, rtol: float = 0.0) -> bool:
    """Whether a replayed loss is the recorded one: bit for bit when `rtol` is 0."""
    if not (math.isfinite(replayed) and math.isfinite(recorded)):
        return not math.isfinite(replayed) and not math.isfinite(recorded)
    if rtol == 0.0:
        return replayed == recorded
    return abs(replayed - recorded) <= rtol * max(abs(recorded), 1e-12)


def probed_steps(probe: dict, start: int, end: int) -> list[int]:
    """The steps of [start, end) that are measured: every multiple of ``probe_every``,
    and within the ``dense`` window (``{until: T, every: k}``, where a landscape changes
    fast: the DLN's first steps) every multiple of k below T."""
    dense = probe.get("dense") or {}
    until, every = dense.get("until", 0), dense.get("every", 1)
    return [t for t in range(start, end) if t % probe["probe_every"] == 0 or (t < until and t % every == 0)]


def segment_steps(steps: int, checkpoint_every: int) -> list[tuple[int, int]]:
    """The segments [start, end) between consecutive checkpoints of a run."""
    return [(s, min(s + checkpoint_every, steps)) for s in range(0, steps, checkpoint_every)]


def empty_tables() -> dict[str, pd.DataFrame]:
    columns = {
        "landscape": ["step", "eta", "eta_over_lr", "loss", "grad_change", "beta"],
        # update_*: the same along the optimizer's actual update (probes.landscape.along_update;
        # NaN where not measured); update_cosine = cos(update, -grad).
        "landscape_steps": ["step", "loss", "grad_norm", "loss_min", "loss_max", "grad_change_min",
                            "grad_change_max", "effective_beta", *UPDATE_COLUMNS, "forwards", "backwards",
                            "seconds"],
        "ics": ["step", "layer", "l2", "cosine"],
        "activations": ["step", "layer", "unit", "value"],
        # mean, var at step t; mean_next, var_next at t + 1, after step t's update, on step
        # t + 1's minibatch and noise (Fig. 8's "two successive steps").
        "moments": ["step", "layer", "unit", "mean", "var", "mean_next", "var_next"],
        "curvature": ["step", "top_eigenvalue", "iterations", "two_over_lr"],
    }
    return {name: pd.DataFrame({c: pd.Series(dtype="float64") for c in cols}) for name, cols in columns.items()}


def measure_step(model, problem, spec: dict, probe: dict, step: int, rows: dict) -> dict:
    """Everything measured before the update of `step`; returns what ICS needs after it."""
    started = time.perf_counter()
    evaluator = StepEvaluator.at_step(model, problem, step)
    params = [p.detach().clone() for p in model.parameters()]
    layers = probe["activations"]["layers"]
    curvature = probe["curvature"]
    recorder = ActivationRecorder(evaluator.model, layers)
    if curvature["iterations"] > 0:
        # The gradient's graph serves the Hessian-vector products too: take them first,
        # before the landscape loads other parameters into the model.
        loss, grad, hvp = evaluator.loss_grad_and_hvp(params)
        value, used = top_hessian_eigenvalue(hvp, grad, spec["seed"], step, curvature["iterations"],
                                             curvature["tol"])
        rows["curvature"].append((step, value, used, 2.0 / spec["lr"]))
        del hvp  # frees the graph
    else:
        loss, grad = evaluator.loss_and_grad(params)
    recorder.remove()

    moments = {layer: unit_moments(output) for layer, output in recorder.outputs.items()}
    for layer, output in sorted(recorder.outputs.items()):
        for unit in chosen_units(spec["seed"], layer, output.shape[1], probe["activations"]["units"]):
            values = unit_values(output, unit)
            keep = sample_positions(spec["seed"], step, layer, values.numel(), probe["activations"]["samples"])
            values = (values if keep is None else values[keep.to(values.device)]).float().cpu().numpy()
            rows["activations"].extend((step, layer, unit, float(v)) for v in values)

    grid = probe["landscape"]
    etas = eta_grid(spec["lr"], grid["low"], grid["high"], grid["points"])
    points = landscape(evaluator, params, grad, etas)
    for p in points:
        rows["landscape"].append((step, p.eta, p.eta / spec["lr"], p.loss, p.grad_change, p.beta))
    return dict(evaluator=evaluator, params=params, grad=grad, loss=loss, points=points, moments=moments,
                etas=etas if grid.get("along_update") else None, lr=spec["lr"],
                seconds=time.perf_counter() - started)


def along_update(measured: dict, after: list[torch.Tensor]) -> tuple[float, ...]:
    """The landscape summary along the step the optimizer took, d = (after - before) / lr
    (momentum and weight decay make it differ from -grad), at the same etas, and
    cos(d, -grad); NaN where the probe settings do not ask for it."""
    if measured["etas"] is None:
        return (math.nan,) * len(UPDATE_COLUMNS)
    direction = [(a - b) / measured["lr"] for a, b in zip(after, measured["params"])]
    points = landscape(measured["evaluator"], measured["params"], measured["grad"], measured["etas"], direction)
    losses, changes = [p.loss for p in points], [p.grad_change for p in points]
    return (min(losses), max(losses), min(changes), max(changes), max(p.beta for p in points),
            cosine(direction, [-g for g in measured["grad"]]))


def moments_at(model, problem, step: int, layers: list[int]) -> dict[int, tuple[torch.Tensor, torch.Tensor]]:
    """Per-unit mean and variance of the chosen layers' outputs for `model` on the
    minibatch and noise of `step` (train mode, on a private copy)."""
    evaluator = StepEvaluator.at_step(model, problem, step)
    recorder = ActivationRecorder(evaluator.model, layers)
    with torch.no_grad():
        evaluator.model(evaluator.x)
    recorder.remove()
    return {layer: unit_moments(output) for layer, output in recorder.outputs.items()}


def finish_step(model, problem, step: int, measured: dict, groups, weights, rows: dict) -> None:
    """What needs this step's real update (the model is now at step + 1): ICS, and the
    moments at step + 1 on its own minibatch and noise. Then the step's summary, with
    the passes and seconds the measurements took (the update's replay excluded)."""
    evaluator, points = measured["evaluator"], measured["points"]
    after = [p.detach().clone() for p in model.parameters()]
    started = time.perf_counter()
    for s in internal_covariate_shift(evaluator, measured["params"], after, measured["grad"], groups, weights):
        rows["ics"].append((step, s.layer, s.l2, s.cosine))
    update = along_update(measured, after)
    following = moments_at(model, problem, step + 1, sorted(measured["moments"]))
    evaluator.evaluations += 1  # that forward pass at step + 1, in the point's cost
    for layer, (means, variances) in sorted(measured["moments"].items()):
        means_next, variances_next = following[layer]
        for unit, values in enumerate(zip(means.tolist(), variances.tolist(), means_next.tolist(),
                                          variances_next.tolist())):
            rows["moments"].append((step, layer, unit, *values))
    seconds = measured["seconds"] + time.perf_counter() - started
    losses = [p.loss for p in points]
    changes = [p.grad_change for p in points]
    grad_norm = overflowed(norm(measured["grad"]))
    rows["landscape_steps"].append((step, measured["loss"], grad_norm, min(losses), max(losses), min(changes),
                                    max(changes), max(p.beta for p in points), *update, evaluator.evaluations,
                                    evaluator.backwards, seconds))


def probe_segment(spec: dict, probe: dict, data_path: str | None, checkpoints: str | Path, metrics_path: str | Path,
                  start: int, end: int, device: str = "auto", threads: int | None = None,
                  replay_rtol: float = 0.0, trained_on: str | None = None, log=None) -> dict[str, pd.DataFrame]:
    """:func:`probe_stack` of one run: its tables."""
    return probe_stack([spec], probe, data_path, [checkpoints], [metrics_path], start, end, device=device,
                       threads=threads, replay_rtol=replay_rtol, trained_on=[trained_on], log=log)[0]


def probe_stack(specs: list[dict], probe: dict, data_path: str | None, checkpoints: list, metrics_paths: list,
                start: int, end: int, device: str = "auto", threads: int | None = None, replay_rtol: float = 0.0,
                trained_on: list | None = None, log=None) -> list[dict[str, pd.DataFrame]]:
    """Measure at every probed step (:func:`probed_steps`) of [start, end) of each run.

    The runs (one, or a DLN stack: runs that differ only in their seed) are replayed
    together by the engine that trained them, from the newest checkpoint at or before
    each measured step (or from where the replay already is, when that is later),
    every replayed loss checked against the recorded one: bit for bit, or within the
    relative `replay_rtol` (for clusters whose GPU models differ between training and
    probe jobs; `trained_on` names each run's training device for the error message).
    A run that diverged has nothing to measure past its last recorded step; the
    others go on. Returns each run's tables, one per measurement.
    """
    if threads:
        torch.set_num_threads(int(threads))
    dev = resolve_device(device)
    use_exact_numerics(dev)
    trained_on = trained_on or [None] * len(specs)
    out = [empty_tables() for _ in specs]
    recorded = [pd.read_parquet(path, columns=["step", "loss"])["loss"].to_numpy() for path in metrics_paths]
    # Steps a run never reached (it diverged) have nothing to measure.
    measured = [{t for t in probed_steps(probe, start, min(end, len(losses))) if math.isfinite(losses[t])}
                for losses in recorded]
    targets = sorted(set().union(*measured))
    for spec, steps, losses in zip(specs, measured, recorded):
        if not steps and log:
            print(f"{run_name(spec)}: no finite step to measure in [{start}, {end}) (the run recorded "
                  f"{len(losses)} steps)", file=log)
    if not targets:
        return out
    available = [checkpoint_steps(Path(folder)) for folder in checkpoints]
    # The engine that trained the runs (a DLN stack; a run's values do not depend on its
    # stack), so that every replayed loss is the recorded one bit for bit.
    engine = make_engine(specs, data_path, dev)
    groups, weights = layer_param_indices(engine.module(0)), weight_indices(engine.module(0))
    rows: list[dict[str, list]] = [{name: [] for name in TABLES} for _ in specs]
    here = device_name(dev)

    def replay(step: int, who: list[int]) -> None:
        losses, _ = engine.step(step)
        for r in who:
            replayed, expected = float(losses[r]), float(recorded[r][step])
            if not losses_match(replayed, expected, replay_rtol):
                tolerance = "bit for bit" if replay_rtol == 0.0 else f"within relative {replay_rtol:g}"
                raise ReplayMismatch(
                    f"{run_name(specs[r])} step {step}: the replayed loss {replayed!r} differs from the recorded "
                    f"{expected!r} (required: {tolerance}; trained on {trained_on[r] or 'an unrecorded device'}, "
                    f"replayed on {here}). The code, the data or the thread count changed since training: retrain "
                    "the run. If only the hardware differs (a cluster mixing GPU models), set replay_rtol in the "
                    "config (e.g. 1.0e-4) to accept float differences."
                )

    position = None  # the step the runs are at
    for target in targets:
        live = [r for r in range(len(specs)) if max(measured[r], default=-1) >= target]  # still recorded here
        newest = max((c for c in available[live[0]] if c <= target), default=None)
        if newest is None:
            raise FileNotFoundError(f"{run_name(specs[live[0]])}: no checkpoint at or before step {target} in "
                                    f"{checkpoints[live[0]]}")
        if position is None or newest > position:
            engine.load_runs([load_checkpoint(Path(folder) / CHECKPOINT_NAME.format(step=newest), map_location=dev)
                              if newest in have else None for folder, have in zip(checkpoints, available)])
            position = newest
        for step in range(position, target):
            replay(step, live)
        here_now = [r for r in live if target in measured[r]]
        taken = {r: measure_step(engine.module(r), engine.problems[r], specs[r], probe, target, rows[r])
                 for r in here_now}
        replay(target, live)
        for r in here_now:
            finish_step(engine.module(r), engine.problems[r], target, taken[r], groups, weights, rows[r])
        position = target + 1
        if log:
            print(f"step {target}: measured {len(here_now)} run(s) (replayed from step {newest}, every replayed "
                  "loss matches)", file=log, flush=True)
    for tables, mine in zip(out, rows):
        for name, data in mine.items():
            if data:
                tables[name] = pd.DataFrame(data, columns=tables[name].columns)
    return out


def with_run_columns(table: pd.DataFrame, spec: dict) -> pd.DataFrame:
    front = pd.DataFrame(run_columns(spec), index=table.index)
    table = table.copy()
    for column in ("step", "layer", "unit", "iterations", "forwards", "backwards"):
        if column in table:
            table[column] = table[column].astype("int64")
    return pd.concat([front, table], axis=1)


def write_tables(tables: dict[str, pd.DataFrame], spec: dict, out: dict) -> None:
    for name in TABLES:
        with_run_columns(tables[name], spec).to_parquet(out[name], index=False)
