"""Loss-surface throughput: grid points per second of bnopt.surface's evaluator (each
point a forward pass over the evaluation set, in minibatches of the training batch
size), per variant, and what a grid costs at that rate.

    python -m bnopt bench-surface --net vgg --arch vgg11 --width 0.125 --samples 512
    python -m bnopt bench-surface --net dln --samples 1000 --batch-size 1000
"""

from __future__ import annotations

import statistics
import time

import torch

from ..measure.surface import SurfaceEvaluator, directions
from ..nets.models import build_model
from ..training.problems import BatchSampler, Problem
from ..training.train import resolve_device, use_exact_numerics


def add_arguments(parser) -> None:
    parser.add_argument("--net", default="vgg", choices=("vgg", "dln"))
    parser.add_argument("--arch", default="vgg11")
    parser.add_argument("--width", type=float, default=0.125)
    parser.add_argument("--variants", nargs="+", default=["standard", "batchnorm"])
    parser.add_argument("--samples", type=int, default=512, help="evaluation samples per grid point")
    parser.add_argument("--batch-size", type=int, default=None, help="default: VGG 128, DLN 1000")
    parser.add_argument("--points", type=int, default=10, help="timed grid points per variant and repeat")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--grid", type=int, default=21, help="grid size to project the cost of (grid x grid)")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--threads", type=int, default=None)


def _problem(net: str, samples: int, batch_size: int, device) -> Problem:
    gen = torch.Generator().manual_seed(0)
    if net == "vgg":
        x = torch.randn(samples, 3, 32, 32, generator=gen)
        y = torch.randint(0, 10, (samples,), generator=gen)
        classification = True
    else:
        x = torch.randn(samples, 10, generator=gen)
        y = x @ torch.randn(10, 10, generator=gen).T
        classification = False
    x, y = x.to(device), y.to(device)
    return Problem(x, y, x[:1], y[:1], classification, BatchSampler(0, samples, batch_size, device))


def points_per_second(net: str, variant: str, args, device) -> float:
    model_cfg = {"arch": args.arch, "width": args.width} if net == "vgg" else {}
    model = build_model(net, variant, 0, model_cfg).to(device)
    batch_size = args.batch_size or (128 if net == "vgg" else 1000)
    problem = _problem(net, args.samples, batch_size, device)
    weights = [p.detach().clone() for p in model.parameters()]
    d1, d2 = directions(model, weights, 0, 0)
    evaluator = SurfaceEvaluator(model, problem, problem.train_x, problem.train_y, batch_size, 0)
    evaluator(weights)  # warm-up
    started = time.perf_counter()
    for k in range(args.points):
        a = b = k / max(1, args.points)
        evaluator([w + a * x + b * y for w, x, y in zip(weights, d1, d2)])  # returns floats: synced
    return args.points / (time.perf_counter() - started)


def main(args) -> int:
    if args.threads:
        torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    use_exact_numerics(device)
    rates = {v: [] for v in args.variants}
    for _ in range(args.repeats):  # interleaved: a noisy machine slows every variant alike
        for variant in args.variants:
            rates[variant].append(points_per_second(args.net, variant, args, device))
    what = f"{args.arch} width {args.width}" if args.net == "vgg" else "DLN 25 x 10"
    print(f"device: {device} | {what} | {args.samples} samples per point | threads {torch.get_num_threads()}")
    print(f"{'variant':<18}{'points/s':>10}{f'{args.grid}x{args.grid} grid (s)':>20}   (each repeat)")
    for variant, values in rates.items():
        rate = statistics.median(values)
        each = ", ".join(f"{v:.1f}" for v in values)
        print(f"{variant:<18}{rate:>10.2f}{args.grid ** 2 / rate:>20.1f}   ({each})")
    return 0
