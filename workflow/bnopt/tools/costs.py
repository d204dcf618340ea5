"""What the probes cost, read from a finished workflow's Snakemake benchmark files,
training manifests and probe tables.

    python -m bnopt bench-probes [--net vgg] [--results results] [--logs logs]

Per run: the training job's wall time, the sum of its probe jobs' wall times and
their ratio (a run trained and probed in a stack of R runs, bnopt.training.stacked, is
charged 1/R of its stack's jobs); per probe point (medians): the forward and backward passes counted
while measuring, against the minimum the measurements need (1 gradient, one
gradient per step length, one per layer after the first for ICS, the Lanczos
products, each a pass back through the gradient's graph that counts as two
backward passes, and one forward pass at the next step for the moments), and the
seconds spent measuring, also in training steps of the same run (its training
job's seconds per step).
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd


def add_arguments(parser) -> None:
    parser.add_argument("--results", default="results")
    parser.add_argument("--logs", default="logs")
    parser.add_argument("--net", default=None, help="only this net (vgg or dln)")


def benchmark_seconds(tsv: Path) -> float:
    """A job's wall seconds, from its Snakemake benchmark file (the last repeat's)."""
    return float(pd.read_csv(tsv, sep="\t")["s"].iloc[-1])


def _probe_table(steps_tables: list[Path], name: str) -> pd.DataFrame:
    return pd.concat([pd.read_parquet(p.with_name(f"{name}.parquet")) for p in steps_tables])


def _seeds(token: str) -> list[int]:
    """``seed~3`` -> [3]; a stack's ``seeds~0-2,5`` -> [0, 1, 2, 5] (bnopt.jobs.seed_ranges)."""
    seeds = []
    for part in token.split("~", 1)[1].split(","):
        first, _, last = part.partition("-")
        seeds += list(range(int(first), int(last or first) + 1))
    return seeds


def run_costs(results: Path, logs: Path, net: str | None = None) -> pd.DataFrame:
    rows = []
    for train_tsv in sorted((logs / "benchmarks" / "train").glob("*/*/lr~*/seed*.tsv")):
        job = train_tsv.relative_to(logs / "benchmarks" / "train").with_suffix("")
        if net and job.parts[0] != net:
            continue
        seeds = _seeds(job.name)
        probe_tsvs = sorted((logs / "benchmarks" / "probe" / job).glob("segment~*.tsv"))
        for seed in seeds:
            rows.append(_run_row(results, job.parent / f"seed~{seed}", benchmark_seconds(train_tsv) / len(seeds),
                                 len(probe_tsvs), sum(benchmark_seconds(t) for t in probe_tsvs) / len(seeds)))
    return pd.DataFrame(rows)


def _run_row(results: Path, run: Path, train_s: float, probe_jobs: int, probe_s: float) -> dict:
    """One run's costs: its share of its training and probe jobs, and per probe point."""
    steps_tables = sorted((results / run / "probe").glob("segment~*/landscape_steps.parquet"))
    points = _probe_table(steps_tables, "landscape_steps") if steps_tables else pd.DataFrame()
    row = dict(run=str(run), train_s=train_s, probe_jobs=probe_jobs, probe_s=probe_s,
               probe_over_train=probe_s / train_s if train_s else float("nan"), probe_points=len(points))
    if len(points):
        landscape_points = _probe_table(steps_tables[:1], "landscape")["eta"].nunique()
        layers = _probe_table(steps_tables, "ics")["layer"].nunique()
        curvature = _probe_table(steps_tables, "curvature")
        hvps = curvature["iterations"].median() if len(curvature) else 0.0
        manifest = json.loads((results / run / "train" / "manifest.json").read_text())
        step_s = manifest["wall_time_s"] / max(manifest["steps_completed"], 1)
        row.update(
            forwards=points["forwards"].median(), min_forwards=1 + landscape_points + (layers - 1) + 1,
            backwards=points["backwards"].median(),
            min_backwards=1 + landscape_points + (layers - 1) + 2 * hvps, hvps=hvps,
            point_s=points["seconds"].median(), step_s=step_s,
            point_in_steps=points["seconds"].median() / step_s,
        )
    return row


def main(args) -> int:
    table = run_costs(Path(args.results), Path(args.logs), args.net)
    if table.empty:
        print(f"no training benchmarks under {args.logs}/benchmarks/train: run the workflow first")
        return 1
    with pd.option_context("display.width", 250, "display.max_columns", 30, "display.float_format", "{:.3g}".format):
        print(table.to_string(index=False))
    total = table["probe_s"].sum() / table["train_s"].sum()
    print(f"\nall runs: probe jobs {table['probe_s'].sum():.0f} s vs training {table['train_s'].sum():.0f} s "
          f"= {total:.2f}x; median per run {table['probe_over_train'].median():.2f}x")
    if "point_in_steps" in table:
        for net_name, sub in table.dropna(subset=["point_in_steps"]).groupby(table["run"].str.split("/").str[0]):
            print(f"{net_name}: a probe point costs {sub['point_in_steps'].median():.1f} training steps (median over "
                  f"runs; range {sub['point_in_steps'].min():.1f}-{sub['point_in_steps'].max():.1f}), "
                  f"{sub['forwards'].median():.0f} forward and {sub['backwards'].median():.0f} backward passes "
                  f"({sub['hvps'].median():.0f} Hessian-vector products), {sub['probe_points'].median():.0f} points "
                  "per run")
    return 0
