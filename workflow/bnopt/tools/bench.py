"""Training throughput, measured in one run with interleaved repeats (median of
each, so a noisy machine affects every contender alike).

    python -m bnopt bench-train --arch vgg16 --width 0.125 --steps 60
    python -m bnopt bench-train --net dln

VGG: images/s of bnopt's loop against the bare model step and a conventional
torchvision Dataset + DataLoader loop. Targets: bnopt >= 0.9x the bare step, and
faster than the DataLoader loop.

DLN (:mod:`bnopt.benchdln`): ms per step of every variant, plain eager PyTorch
against bnopt's training loop, beside the arithmetic floor.
"""

from __future__ import annotations

import os
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from torch.nn import functional as F
from torch.utils.data import DataLoader
from torchvision import transforms
from torchvision.datasets import VisionDataset

from ..training.data import save_image_dataset
from ..training.problems import image_problem
from ..training.engine import ModuleEngine, build_run
from ..training.train import resolve_device, train, use_exact_numerics
from .timing import interleaved


def add_arguments(parser) -> None:
    parser.add_argument("--net", default="vgg", choices=("vgg", "dln"))
    parser.add_argument("--arch", default="vgg16")
    parser.add_argument("--width", type=float, default=0.125)
    parser.add_argument("--variant", default="batchnorm")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--steps", type=int, default=None,
                        help="timed steps per loop and repeat (default: VGG 60, DLN 500)")
    parser.add_argument("--warmup", type=int, default=None, help="untimed steps first (default: VGG 5, DLN 50)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--variants", nargs="+", default=None, help="DLN: the variants to time (default: all)")
    parser.add_argument("--stack", type=int, default=30, help="DLN: seeds per stack for the stacked column")
    parser.add_argument("--n-train", type=int, default=10000, help="synthetic CIFAR-shaped training images")
    parser.add_argument("--workers", type=int, default=0, help="DataLoader workers")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--threads", type=int, default=None)


class ArrayImageDataset(VisionDataset):
    """How torchvision's CIFAR10 serves an item: HWC uint8 array -> PIL -> transform."""

    def __init__(self, images: np.ndarray, labels: np.ndarray, transform):
        super().__init__(root="", transform=transform)
        self.images, self.labels = images, labels

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i):
        from PIL import Image

        return self.transform(Image.fromarray(self.images[i])), int(self.labels[i])


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _spec(args, steps: int) -> dict:
    return dict(net="vgg", variant=args.variant, lr=0.01, seed=0, steps=steps, batch_size=args.batch_size,
                eval_every=steps, checkpoint_every=steps, model=dict(arch=args.arch, width=args.width),
                dataset="synthetic")


def bare_step(args, problem, device) -> float:
    """The model's step on one batch already on the device: the ceiling."""
    model, optimizer = build_run(_spec(args, args.steps), device)
    model.train()
    x, y = problem.batch(0)
    for i in range(args.warmup + args.steps):
        if i == args.warmup:
            _sync(device)
            t0 = time.perf_counter()
        loss = F.cross_entropy(model(x), y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    _sync(device)
    return args.steps * args.batch_size / (time.perf_counter() - t0)


def bnopt_loop(args, problem, device) -> float:
    """bnopt's real training loop (sampling, metrics, divergence checks; one test
    evaluation and one checkpoint at each end), timed whole."""
    spec = _spec(args, args.warmup + args.steps)
    model, optimizer = build_run(spec, device)
    engine = ModuleEngine(spec, problem, model, optimizer)
    with tempfile.TemporaryDirectory() as state, open(os.devnull, "w") as quiet:
        warm = dict(spec, steps=args.warmup)
        train([warm], engine, [Path(state) / "warm"], log=quiet)
        _sync(device)
        t0 = time.perf_counter()
        train([spec], engine, [Path(state) / "warm"], log=quiet)  # resumes at `warmup`
        _sync(device)
    return args.steps * args.batch_size / (time.perf_counter() - t0)


def dataloader_loop(args, images, labels, mean, std, device) -> float:
    """A conventional loop: torchvision-style Dataset, per-item transforms, DataLoader."""
    model, optimizer = build_run(_spec(args, args.steps), device)
    model.train()
    transform = transforms.Compose([transforms.ToTensor(), transforms.Normalize(mean.tolist(), std.tolist())])
    loader = DataLoader(ArrayImageDataset(images, labels, transform), batch_size=args.batch_size, shuffle=True,
                        drop_last=True, num_workers=args.workers, generator=torch.Generator().manual_seed(0))
    done, t0 = 0, None
    while done < args.warmup + args.steps:
        for x, y in loader:
            if done == args.warmup:
                _sync(device)
                t0 = time.perf_counter()
            x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
            loss = F.cross_entropy(model(x), y)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            done += 1
            if done == args.warmup + args.steps:
                break
    _sync(device)
    return args.steps * args.batch_size / (time.perf_counter() - t0)


def main(args) -> int:
    if args.threads:
        torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    use_exact_numerics(device)  # what training runs with
    if args.net == "dln":
        from .benchdln import main as dln_main

        return dln_main(args, device)
    args.steps = 60 if args.steps is None else args.steps
    args.warmup = 5 if args.warmup is None else args.warmup
    gen = np.random.default_rng(0)
    images = gen.integers(0, 256, size=(args.n_train, 32, 32, 3), dtype=np.uint8)
    labels = gen.integers(0, 10, size=args.n_train).astype(np.int64)
    chw = torch.from_numpy(images).permute(0, 3, 1, 2).contiguous()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "synthetic.pt"
        data = save_image_dataset(path, "synthetic", chw, torch.from_numpy(labels), chw[:256],
                                  torch.from_numpy(labels[:256]), [str(i) for i in range(10)])
        problem = image_problem(str(path), seed=0, batch_size=args.batch_size, device=device)
    loops = {
        "bare step": lambda: bare_step(args, problem, device),
        "bnopt loop": lambda: bnopt_loop(args, problem, device),
        "DataLoader loop": lambda: dataloader_loop(args, images, labels, data["mean"], data["std"], device),
    }
    results = interleaved(loops, args.repeats)
    medians = {name: statistics.median(v) for name, v in results.items()}
    print(f"device: {device} | {args.arch} width {args.width} {args.variant} | batch {args.batch_size} | "
          f"{args.steps} steps x {args.repeats} repeats | threads {torch.get_num_threads()} | workers {args.workers}")
    print(f"{'loop':<18}{'images/s':>12}{'x bare':>10}   (each repeat)")
    for name, value in medians.items():
        each = ", ".join(f"{v:.0f}" for v in results[name])
        print(f"{name:<18}{value:>12.0f}{value / medians['bare step']:>10.3f}   ({each})")
    return 0
