"""Per-job times of a config's VGG runs on the machine at hand, on CIFAR-shaped random
data (the real CIFAR-10 cannot be fetched on the GPU machines this project borrows).

Two steps, because the GPU machines have no Snakemake to resolve a config's defaults:

    python tests/gpu/jobtimes.py resolve --config config/config.yaml --out .gpu/paper.json
    python tests/gpu/jobtimes.py time --resolved .gpu/paper.json --device cuda

`resolve` (here, with Snakemake) writes each configured VGG variant's training spec and
probe settings, defaults filled in by the schema. `time` trains every variant for a
few hundred steps with the run's own settings (checkpoints and evaluations at the
config's intervals, shortened in proportion), replays and probes two segments, and
prints per step / per probe point seconds and the projected job times of the config:
one training job per run, one probe job per `steps_per_job` steps.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "workflow"))


def resolve(config_path: str, out: str) -> None:
    import yaml
    from snakemake.utils import validate

    from bnopt.runs import Run, expand_runs, train_spec

    config = yaml.safe_load(Path(config_path).read_text())
    validate(config, str(REPO / "workflow" / "schemas" / "config.schema.yaml"))
    section = config["nets"]["vgg"]
    runs = [r for r in expand_runs(config) if r.net == "vgg"]
    variants = sorted({r.variant for r in runs})
    lr = runs[0].lr
    specs = {v: train_spec(config, Run("vgg", v, lr, 0)) for v in variants}
    probes = dict(section["probes"])
    probes.setdefault("steps_per_job", section["checkpoint_every"])
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    Path(out).write_text(json.dumps(dict(config=config_path, specs=specs, probes=probes, n_runs=len(runs)), indent=1))
    print(f"wrote {out}: {len(variants)} variants, {len(runs)} VGG runs")


def random_cifar(path: Path, n_train: int, n_test: int) -> None:
    import torch

    from bnopt.training.data import save_image_dataset

    g = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (n_train + n_test, 3, 32, 32), dtype=torch.uint8, generator=g)
    labels = torch.randint(0, 10, (n_train + n_test,), generator=g)
    save_image_dataset(path, "random-cifar", images[:n_train], labels[:n_train], images[n_train:], labels[n_train:],
                       [str(c) for c in range(10)])


def time_jobs(resolved: str, device: str, steps: int, n_train: int, n_test: int, width: float | None,
              variants: list[str] | None) -> None:
    import os

    import pandas as pd
    import torch

    from bnopt.measure.replay import probe_segment
    from bnopt.training.engine import build_problem, build_run
    from bnopt.training.train import resolve_device, run_training

    plan = json.loads(Path(resolved).read_text())
    probes, full = plan["probes"], next(iter(plan["specs"].values()))
    full_steps, every = full["steps"], probes["probe_every"]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        data = tmp / "data.pt"
        random_cifar(data, n_train, n_test)
        for variant, spec in plan["specs"].items():
            if variants and variant not in variants:
                continue
            # Evaluations timed apart (one evaluation of the test set, below), so a short
            # run need not evaluate as often as the real one to be projected.
            spec = dict(spec, dataset="random-cifar", steps=steps, checkpoint_every=steps // 3, eval_every=steps)
            if width is not None:
                spec["model"] = dict(spec["model"], width=width)
            out = {k: tmp / variant / v for k, v in dict(metrics="metrics.parquet", evals="test.parquet",
                                                         manifest="manifest.json", checkpoints="checkpoints").items()}
            (tmp / variant).mkdir()
            with open(os.devnull, "w") as quiet:
                manifest = run_training(spec, str(data), out, tmp / variant / "state", device=device, log=quiet)
                step_s = manifest["wall_time_s"] / steps
                problem = build_problem(spec, str(data), resolve_device(device))
                model, _ = build_run(spec, resolve_device(device))
                problem.evaluate(model)
                start = time.perf_counter()
                problem.evaluate(model)
                eval_s = time.perf_counter() - start
                # Probe points at checkpoints (no replay between them), then the replay
                # a real probe job adds: probe_every - 1 steps before each point.
                probe = dict(probes, probe_every=steps // 3)
                start = time.perf_counter()
                tables = probe_segment(spec, probe, str(data), out["checkpoints"], out["metrics"], 0, steps,
                                       device=device, replay_rtol=0.0)
                point_s = (time.perf_counter() - start) / len(tables["landscape_steps"])
            per_job_points = probes["steps_per_job"] // every
            replay_s = step_s * (every - 1) * per_job_points
            rows.append(dict(variant=variant, ms_per_step=1e3 * step_s, s_per_eval=eval_s, s_per_point=point_s,
                             train_job_min=(full_steps * step_s + full_steps // full["eval_every"] * eval_s) / 60,
                             probe_job_min=(per_job_points * point_s + replay_s) / 60,
                             probe_jobs=full_steps // probes["steps_per_job"], diverged=manifest["diverged"]))
            print(f"{variant}: {1e3 * step_s:.1f} ms/step, {eval_s:.2f} s/evaluation, {point_s:.2f} s/probe point",
                  flush=True)
    table = pd.DataFrame(rows)
    table["run_h"] = (table.train_job_min + table.probe_jobs * table.probe_job_min) / 60
    name = torch.cuda.get_device_name() if device == "cuda" else device
    print(f"\n{name}: projected per-job minutes of {plan['config']}'s VGG runs "
          f"({full_steps} steps, a probe point every {every} steps, {probes['steps_per_job']} steps per probe job)")
    print(table.round(3).to_string(index=False))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    r = sub.add_parser("resolve")
    r.add_argument("--config", default="config/config.yaml")
    r.add_argument("--out", required=True)
    t = sub.add_parser("time")
    t.add_argument("--resolved", required=True)
    t.add_argument("--device", default="cuda")
    t.add_argument("--steps", type=int, default=300)
    t.add_argument("--n-train", type=int, default=50000)
    t.add_argument("--n-test", type=int, default=10000)
    t.add_argument("--width", type=float, default=None, help="override the model width (CPU trials)")
    t.add_argument("--variants", nargs="+", default=None)
    args = parser.parse_args()
    if args.command == "resolve":
        resolve(args.config, args.out)
    else:
        time_jobs(args.resolved, args.device, args.steps, args.n_train, args.n_test, args.width, args.variants)


if __name__ == "__main__":
    main()
