"""Lever: DLN stacking across lrs. The quick config's DLN lr sweep (7 new lrs x 3 seeds per
variant) trained as 7 stacks of 3 (one per lr: before) and as one stack of 21 (now), in one
process, interleaved, STEPS steps each; seconds per 10,000 steps projected:
    STEPS=2000 [ONLY=dln/standard] python tests/levers/stack_lrs.py"""
import os, sys, time, tempfile, statistics
from pathlib import Path
import torch, yaml
REPO = __import__("pathlib").Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "workflow"))
from snakemake.utils import validate
from bnopt.jobs import train_stacks
from bnopt.runs import train_spec
from bnopt.training.train import run_batch, run_outputs

STEPS = int(os.environ.get("STEPS", 2000))
torch.set_num_threads(1)
config = yaml.safe_load(open(REPO / "config" / "quick.yaml"))
validate(config, str(REPO / "workflow" / "schemas" / "config.schema.yaml"))
stacks = [s for s in train_stacks(config) if "lrs~" in s.name]
def timed(groups):
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        for i, specs in enumerate(groups):
            outs = [run_outputs(Path(tmp) / str(i) / str(k)) for k in range(len(specs))]
            for o in outs: o["metrics"].parent.mkdir(parents=True, exist_ok=True)
            run_batch(specs, None, outs, Path(tmp) / f"state{i}", device="cpu", threads=1, log=open(os.devnull, "w"))
        return time.perf_counter() - t0
for stack in [s for s in stacks if s.name.startswith(os.environ.get("ONLY", ""))]:
    specs = [dict(train_spec(config, run), steps=STEPS, eval_every=100, checkpoint_every=STEPS) for run in stack.runs]
    per_lr = {}
    for s in specs: per_lr.setdefault(s["lr"], []).append(s)
    before, now = [], []
    for _ in range(2):
        before.append(timed(list(per_lr.values())))
        now.append(timed([specs]))
    b, n = statistics.median(before), statistics.median(now)
    print(f"{stack.name}: {len(per_lr)} stacks of 3: {b:.1f} s, one stack of {len(specs)}: {n:.1f} s "
          f"({b / n:.2f}x) for {STEPS} steps; x {10000 // STEPS} = {b * 10000 / STEPS:.0f} s -> {n * 10000 / STEPS:.0f} s")
