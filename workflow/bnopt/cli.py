"""Command line: run a bnopt step outside Snakemake (debugging, tests, benchmarks).

    python -m bnopt train --spec spec.json --out DIR [--data PATH] [--state DIR]
    python -m bnopt bench-train [--arch vgg16 --width 0.125 --steps 60 ...]
    python -m bnopt bench-train --net dln [--steps 500 --repeats 3 --threads 1]
    python -m bnopt bench-probes [--net vgg]     (after a workflow run)
    python -m bnopt bench-surface [--net vgg --samples 512 --grid 21]
    python -m bnopt bench-gpu [--arch vgg16 --width 1.0 --procs 1 2 4]   (on a GPU)
    python -m bnopt typical [--tables results/tables]   (the paper's DLN among a run's draws, Markdown)
    python -m bnopt digitize PAPER.pdf   (the paper's DLN curves from its PDF; needs pymupdf)
    python -m bnopt docs snapshot --workdir DIR --configs CONFIG... --name NAME   (a finished run -> docs/data/NAME)
    python -m bnopt docs render   (docs/results.md, the claims-matrix picture, README's configs table)
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def _train(args) -> int:
    from .training.train import run_training

    spec = json.loads(Path(args.spec).read_text())
    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    out = dict(metrics=out_dir / "metrics.parquet", evals=out_dir / "test.parquet",
               manifest=out_dir / "manifest.json", checkpoints=out_dir / "checkpoints")
    state = args.state or str(out_dir / ".resume")
    manifest = run_training(spec, args.data, out, state, device=args.device, threads=args.threads, log=sys.stderr)
    print(json.dumps({k: manifest[k] for k in ("steps_completed", "diverged", "resumed_from_step", "wall_time_s")}))
    return 0


def _bench(args) -> int:
    from .tools.bench import main as bench_main

    return bench_main(args)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bnopt", description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    train = sub.add_parser("train", help="train one run from a JSON spec (resumes from --state)")
    train.add_argument("--spec", required=True, help="JSON file: the run spec (see bnopt.runs.train_spec)")
    train.add_argument("--data", default=None, help="prepared dataset file (VGG runs)")
    train.add_argument("--out", required=True, help="output folder")
    train.add_argument("--state", default=None, help="resume folder (default: OUT/.resume)")
    train.add_argument("--device", default="auto")
    train.add_argument("--threads", type=int, default=None)
    train.set_defaults(func=_train)

    bench = sub.add_parser("bench-train", help="VGG: images/s of the bare step, bnopt's loop and a DataLoader loop; "
                                               "--net dln: ms per step of every variant, eager vs bnopt, and the floor")
    from .tools.bench import add_arguments

    add_arguments(bench)
    bench.set_defaults(func=_bench)
    costs = sub.add_parser("bench-probes", help="probe jobs' cost relative to training, and passes and seconds per "
                                                "probe point, from a finished workflow")
    from .tools.costs import add_arguments as add_cost_arguments, main as costs_main

    add_cost_arguments(costs)
    costs.set_defaults(func=costs_main)
    surface = sub.add_parser("bench-surface", help="loss-surface grid points per second, per variant, and the cost "
                                                   "of a grid at that rate")
    from .tools.benchsurface import add_arguments as add_surface_arguments, main as surface_main

    add_surface_arguments(surface)
    surface.set_defaults(func=surface_main)
    gpu = sub.add_parser("bench-gpu", help="VGG step lever by lever (channels_last, CUDA graph, TF32, several runs "
                                           "per GPU): images/s, fraction of the float32 peak, exact replay kept")
    from .tools.benchgpu import add_arguments as add_gpu_arguments, main as gpu_main

    add_gpu_arguments(gpu)
    gpu.set_defaults(func=gpu_main)
    typical = sub.add_parser("typical", help="where the paper's DLN numbers fall among a finished run's draws, as "
                                             "Markdown (the report's 'How typical is the paper's DLN?')")
    from .tools.typical import add_arguments as add_typical_arguments, main as typical_main

    add_typical_arguments(typical)
    typical.set_defaults(func=typical_main)
    digitize = sub.add_parser("digitize", help="read the paper's DLN curves (Fig. 5b, 10) from the vector paths of "
                                               "its PDF into workflow/resources/paper_curves.csv (needs pymupdf)")
    from .tools.digitize import add_arguments as add_digitize_arguments, main as digitize_main

    add_digitize_arguments(digitize)
    digitize.set_defaults(func=digitize_main)
    docs = sub.add_parser("docs", help="the docs' generated numbers: snapshot a finished run, render the pages")
    from .tools.docsgen import add_arguments as add_docs_arguments, main as docs_main

    add_docs_arguments(docs)
    docs.set_defaults(func=docs_main, hint="--workdir is the folder of a finished run; run this from the repository root")
    train.set_defaults(hint="--spec takes a run spec, JSON (bnopt.runs.train_spec), --data a prepared dataset")
    for command in (costs, typical):
        command.set_defaults(hint="run this in the folder the workflow ran in, after it finished")
    digitize.set_defaults(hint="give the paper's PDF (references/ of AlexeyGB/batch-norm-helps-optimization)")
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except FileNotFoundError as missing:
        # One line, not a traceback: which file is missing and what to do.
        hint = getattr(args, "hint", None)
        parser.exit(2, f"bnopt {args.command}: no such file: {missing.filename}" + (f"; {hint}" if hint else "") + "\n")


if __name__ == "__main__":
    sys.exit(main())
