"""What the probes cost, read from a finished workflow's Snakemake benchmark files
and probe tables.

    python -m bnopt bench-probes [--net vgg] [--results results] [--logs logs]

Per run: the training job's wall time, the sum of its probe jobs' wall times and
their ratio; per probe point: the forward and backward passes spent against the
minimum the measurements need (1 gradient, one gradient per step length, one
per layer after the first for ICS, and the Hessian-vector products of the power
iteration, each one forward and two backward passes).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd


def add_arguments(parser) -> None:
    parser.add_argument("--results", default="results")
    parser.add_argument("--logs", default="logs")
    parser.add_argument("--net", default=None, help="only this net (vgg or dln)")


def _seconds(tsv: Path) -> float:
    return float(pd.read_csv(tsv, sep="\t")["s"].iloc[-1])


def run_costs(results: Path, logs: Path, net: str | None = None) -> pd.DataFrame:
    rows = []
    for train_tsv in sorted((logs / "benchmarks" / "train").glob("*/*/lr~*/seed~*.tsv")):
        run = train_tsv.relative_to(logs / "benchmarks" / "train").with_suffix("")
        if net and run.parts[0] != net:
            continue
        probe_tsvs = sorted((logs / "benchmarks" / "probe" / run).glob("segment~*.tsv"))
        steps_tables = sorted((results / run / "probe").glob("segment~*/landscape_steps.parquet"))
        points = pd.concat([pd.read_parquet(p) for p in steps_tables]) if steps_tables else pd.DataFrame()
        ics = pd.concat([pd.read_parquet(p.with_name("ics.parquet")) for p in steps_tables]) if steps_tables else None
        curvature = pd.concat([pd.read_parquet(p.with_name("curvature.parquet")) for p in steps_tables]) \
            if steps_tables else None
        train_s = _seconds(train_tsv)
        probe_s = sum(_seconds(t) for t in probe_tsvs)
        row = dict(run=str(run), train_s=train_s, probe_jobs=len(probe_tsvs), probe_s=probe_s,
                   probe_over_train=probe_s / train_s if train_s else float("nan"), probe_points=len(points))
        if len(points):
            landscape_points = pd.read_parquet(steps_tables[0].with_name("landscape.parquet"))["eta"].nunique()
            layers = ics["layer"].nunique()
            hvps = curvature["iterations"].mean() if len(curvature) else 0.0
            row.update(
                forwards_per_point=points["forwards"].mean(), backwards_per_point=points["backwards"].mean(),
                minimum_forwards=1 + landscape_points + (layers - 1) + hvps,
                minimum_backwards=1 + landscape_points + (layers - 1) + 2 * hvps,
            )
        rows.append(row)
    return pd.DataFrame(rows)


def main(args) -> int:
    table = run_costs(Path(args.results), Path(args.logs), args.net)
    if table.empty:
        print(f"no training benchmarks under {args.logs}/benchmarks/train: run the workflow first")
        return 1
    with pd.option_context("display.width", 200, "display.max_columns", 20, "display.float_format", "{:.2f}".format):
        print(table.to_string(index=False))
    total = table["probe_s"].sum() / table["train_s"].sum()
    print(f"\nall runs: probe jobs {table['probe_s'].sum():.0f} s vs training {table['train_s'].sum():.0f} s "
          f"= {total:.2f}x; median per run {table['probe_over_train'].median():.2f}x")
    return 0
