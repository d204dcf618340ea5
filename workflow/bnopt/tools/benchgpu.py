"""The VGG training step on a GPU, lever by lever: how far from the chip's float32 peak
each speed lever takes it, and whether a run stays exactly repeatable with it.

    python -m bnopt bench-gpu [--arch vgg16 --width 1.0 --steps 40 --repeats 3 --procs 1 2 4]

Levers, each alone and together (the first row is how every bnopt job trains today):

- exact: float32, NCHW, deterministic cuDNN/cuBLAS kernels, eager;
- channels_last: NHWC activations and weights, which cuDNN's fastest convolutions read;
- graph: the whole step (forward, backward, SGD update) captured once as a CUDA graph
  and replayed each step, the batch copied into its static input: no per-kernel launch
  cost on the host (VGG-16 at batch 128 launches ~200 kernels a step);
- tf32: the matrix units' float32 mode (10-bit mantissa products). It changes the
  function SGD descends, so it can only ever be opted into, never a default.

A lever keeps exact replay when two runs from the same start over the same batches end
at the same bits ("repeat exact"), which a resumed or replayed bnopt run needs. Beside
it, each lever's distance after the same steps from the exact row's parameters
(relative to how far the exact run moved): zero where it computes the very same arithmetic.

"Several runs per GPU" (--procs K): K processes each train the best exact lever at once
(a barrier starts their timing together); their images/s summed, as K Snakemake jobs
sharing one GPU would be.

Throughput is converted to a fraction of the float32 peak by counting the network's
multiply-adds (forward hooks on every convolution and linear layer; a training step =
3x the forward pass's 2 FLOPs per multiply-add) against --peak-tflops (67: the H100 and
H200 SXM datasheets' non-tensor float32 rate).
"""

from __future__ import annotations

import contextlib
import statistics
import time

import torch
from torch import nn
from torch.nn import functional as F

from ..training.engine import build_run
from ..training.train import resolve_device, use_exact_numerics

LEVERS = {  # name: (channels_last, graph, tf32)
    "exact (today)": (False, False, False),
    "channels_last": (True, False, False),
    "graph": (False, True, False),
    "channels_last + graph": (True, True, False),
    "tf32": (False, False, True),
    "channels_last + graph + tf32": (True, True, True),
}
BEST_EXACT = "channels_last + graph"


def add_arguments(parser) -> None:
    parser.add_argument("--arch", default="vgg16")
    parser.add_argument("--width", type=float, default=1.0)
    parser.add_argument("--variant", default="batchnorm")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--steps", type=int, default=40, help="timed steps per lever and repeat")
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--check-steps", type=int, default=10, help="steps of each repeat-exactness check")
    parser.add_argument("--procs", type=int, nargs="+", default=[1, 2, 4], help="runs per GPU to time (processes)")
    parser.add_argument("--levers", nargs="+", default=list(LEVERS), choices=list(LEVERS))
    parser.add_argument("--peak-tflops", type=float, default=67.0)
    parser.add_argument("--device", default="auto")


def _spec(args) -> dict:
    return dict(net="vgg", variant=args.variant, lr=0.01, seed=0, steps=1, batch_size=args.batch_size,
                eval_every=1, checkpoint_every=1, model=dict(arch=args.arch, width=args.width), dataset="synthetic")


def training_flops_per_image(model: nn.Module, x: torch.Tensor) -> float:
    """3 x the forward pass's FLOPs (2 per multiply-add of every conv and linear layer)
    per image: the usual count of a training step (backward = 2 forwards)."""
    macs = []

    def count(module, inputs, out):
        if isinstance(module, nn.Conv2d):
            kh, kw = module.kernel_size
            macs.append(out.numel() * module.in_channels // module.groups * kh * kw)
        else:
            macs.append(out.numel() * module.in_features)

    hooks = [m.register_forward_hook(count) for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    with torch.no_grad():
        was_training = model.training
        model.eval()
        model(x)
        model.train(was_training)
    for h in hooks:
        h.remove()
    return 3 * 2 * sum(macs) / len(x)


def _batches(args, device, count: int, seed: int = 0):
    gen = torch.Generator(device="cpu").manual_seed(seed)
    xs = torch.randn(count, args.batch_size, 3, 32, 32, generator=gen).to(device)
    ys = torch.randint(0, 10, (count, args.batch_size), generator=gen).to(device)
    return xs, ys


@contextlib.contextmanager
def _tf32(on: bool):
    before = (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32)
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = on
    try:
        yield
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = before


class Stepper:
    """One run's training step with a lever's settings: ``step(x, y)`` trains on a
    batch. With ``graph`` the first call captures the step, after the 3 eager warm-up
    steps on a side stream that torch.cuda.graphs requires; the warm-up's changes to
    the parameters and BatchNorm's buffers are then undone in place (plain SGD keeps no
    optimizer state), so that every call is one step and a graphed run sees the same
    batches as an eager one."""

    def __init__(self, args, device, channels_last: bool, graph: bool):
        self.model, self.optimizer = build_run(_spec(args), device)
        self.model.train()
        self.format = torch.channels_last if channels_last else torch.contiguous_format
        self.model.to(memory_format=self.format)
        self.graph, self.device, self._graph = graph and device.type == "cuda", device, None

    def _eager(self, x, y):
        loss = F.cross_entropy(self.model(x), y)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        return loss

    def step(self, x, y):
        x = x.contiguous(memory_format=self.format)
        if not self.graph:
            return self._eager(x, y)
        if self._graph is None:
            self.static_x, self.static_y = x.clone(), y.clone()
            start = {k: v.detach().clone() for k, v in self.model.state_dict().items()}
            side = torch.cuda.Stream()
            side.wait_stream(torch.cuda.current_stream())
            with torch.cuda.stream(side):
                for _ in range(3):
                    self._eager(self.static_x, self.static_y)
            torch.cuda.current_stream().wait_stream(side)
            self._graph = torch.cuda.CUDAGraph()
            self.optimizer.zero_grad(set_to_none=True)
            with torch.cuda.graph(self._graph):
                self.static_loss = F.cross_entropy(self.model(self.static_x), self.static_y)
                self.static_loss.backward()
                self.optimizer.step()
            with torch.no_grad():
                for key, value in self.model.state_dict().items():
                    value.copy_(start[key])
        self.static_x.copy_(x)
        self.static_y.copy_(y)
        self._graph.replay()
        return self.static_loss


def _sync(device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def images_per_second(args, device, lever: str, batches) -> float:
    channels_last, graph, tf32 = LEVERS[lever]
    xs, ys = batches
    with _tf32(tf32):
        stepper = Stepper(args, device, channels_last, graph)
        for i in range(args.warmup):
            stepper.step(xs[i % len(xs)], ys[i % len(ys)])
        _sync(device)
        t0 = time.perf_counter()
        for i in range(args.steps):
            stepper.step(xs[i % len(xs)], ys[i % len(ys)])
        _sync(device)
    return args.steps * args.batch_size / (time.perf_counter() - t0)


def parameters_along(args, device, lever: str, batches) -> list[torch.Tensor]:
    """The run's parameters, flattened, at the start, after one step and after
    --check-steps steps: the same batches, the same start, for every lever."""
    channels_last, graph, tf32 = LEVERS[lever]
    xs, ys = batches

    def flat():
        return torch.cat([p.detach().flatten() for p in stepper.model.parameters()]).double().cpu()

    with _tf32(tf32):
        stepper = Stepper(args, device, channels_last, graph)
        seen = [flat()]
        for i in range(args.check_steps):
            stepper.step(xs[i % len(xs)], ys[i % len(ys)])
            if i + 1 in (1, args.check_steps):
                _sync(device)
                seen.append(flat())
    return seen


def _worker(rank, args, device_str, lever, barrier, results):
    device = torch.device(device_str)
    use_exact_numerics(device)
    batches = _batches(args, device, 8, seed=rank)
    images_per_second(args, device, lever, batches)  # warm: cuDNN, the graph's capture
    barrier.wait()
    results[rank] = images_per_second(args, device, lever, batches)


def several_runs(args, device, lever: str, procs: int) -> float:
    """Summed images/s of `procs` processes training at once on one device."""
    import torch.multiprocessing as mp

    ctx = mp.get_context("spawn")
    with ctx.Manager() as manager:
        barrier, results = manager.Barrier(procs), manager.dict()
        workers = [ctx.Process(target=_worker, args=(r, args, str(device), lever, barrier, results))
                   for r in range(procs)]
        for w in workers:
            w.start()
        for w in workers:
            w.join()
        if len(results) != procs:
            raise RuntimeError(f"{procs - len(results)} of {procs} benchmark processes failed")
        return sum(results.values())


def main(args) -> int:
    if args.check_steps < 2:
        raise SystemExit("--check-steps must be at least 2 (the distance after 1 step and after N)")
    device = resolve_device(args.device)
    use_exact_numerics(device)  # what every bnopt job trains with; the tf32 lever opts out inside
    batches = _batches(args, device, 8)
    probe_model, _ = build_run(_spec(args), device)
    flops = training_flops_per_image(probe_model, batches[0][0])
    del probe_model
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"
    print(f"device: {device} ({name}) | torch {torch.__version__} | {args.arch} width {args.width} {args.variant} | "
          f"batch {args.batch_size} | {args.steps} steps x {args.repeats} repeats | "
          f"{flops / 1e9:.3f} GFLOP per training image | float32 peak {args.peak_tflops:g} TFLOP/s")
    levers = [lv for lv in args.levers if device.type == "cuda" or not LEVERS[lv][1]]

    runs = {lv: [] for lv in levers}
    for _ in range(args.repeats):  # interleaved: a noisy machine affects every lever alike
        for lv in levers:
            runs[lv].append(images_per_second(args, device, lv, batches))
    start, *reference = parameters_along(args, device, levers[0], batches)
    print(f"{'lever':<30}{'images/s':>10}{'x exact':>9}{'TFLOP/s':>9}{'of peak':>9}{'repeat exact':>14}"
          f"{'vs exact, 1 step':>18}{f'{args.check_steps} steps':>10}")
    base = statistics.median(runs[levers[0]])
    for lv in levers:
        rate = statistics.median(runs[lv])
        first, second = parameters_along(args, device, lv, batches), parameters_along(args, device, lv, batches)
        repeat = "yes" if all(torch.equal(a, b) for a, b in zip(first, second)) else "NO"
        distance = [float((mine - ref).norm() / (ref - start).norm()) for mine, ref in zip(first[1:], reference)]
        print(f"{lv:<30}{rate:>10.0f}{rate / base:>9.2f}{rate * flops / 1e12:>9.1f}"
              f"{rate * flops / 1e12 / args.peak_tflops:>9.2f}{repeat:>14}{distance[0]:>18.1e}{distance[1]:>10.1e}")
    print("vs exact: the distance from the exact row's parameters after as many steps, relative to how far the exact "
          "run moved from its start (||theta - theta_exact|| / ||theta_exact - theta_0||)")
    if device.type == "cuda":
        for lever in ("exact (today)", BEST_EXACT):
            for procs in args.procs:
                alone = procs == 1 and lever in runs
                rate = statistics.median(runs[lever]) if alone else several_runs(args, device, lever, procs)
                print(f"{procs} run(s) per GPU, {lever:<24}{rate:>10.0f} images/s{rate * flops / 1e12:>8.1f} TFLOP/s"
                      f"{rate * flops / 1e12 / args.peak_tflops:>7.2f} of peak")
    return 0
