"""Lever: channels_last for the quick config's VGG (VGG-11/8 on digits, 400 steps, its
checkpoints and probe points): one training job's work and one probe job's work (the whole
run's probe segment), NCHW against NHWC, interleaved, 1 thread; per variant:
    python tests/levers/channels_last.py batchnorm standard"""
import os, sys, time, tempfile, statistics
from pathlib import Path
import torch, yaml
REPO = __import__("pathlib").Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "workflow"))
from snakemake.utils import validate
from bnopt.runs import Run, train_spec, probe_settings
from bnopt.training.train import run_training
from bnopt.training.data import prepare_digits
from bnopt.measure.replay import probe_segment

torch.set_num_threads(1)
config = yaml.safe_load(open(REPO / "config" / "quick.yaml"))
validate(config, str(REPO / "workflow" / "schemas" / "config.schema.yaml"))
tmp = Path(tempfile.mkdtemp())
data = tmp / "digits.pt"
prepare_digits(data)
def once(variant, channels_last, k):
    run = Run("vgg", variant, 0.1, 0)
    spec = train_spec(config, run)
    spec = dict(spec, model={**spec["model"], "channels_last": channels_last})
    folder = tmp / f"{variant}-{channels_last}-{k}"
    out = dict(metrics=folder / "metrics.parquet", evals=folder / "test.parquet", manifest=folder / "manifest.json",
               checkpoints=folder / "checkpoints")
    folder.mkdir()
    t0 = time.perf_counter()
    run_training(spec, str(data), out, folder / "state", device="cpu", threads=1, log=open(os.devnull, "w"))
    t1 = time.perf_counter()
    probe_segment(spec, probe_settings(config, run), str(data), out["checkpoints"], out["metrics"], 0, 400,
                  device="cpu")
    t2 = time.perf_counter()
    final = __import__("pandas").read_parquet(out["evals"])["test_accuracy"].iloc[-1]
    return t1 - t0, t2 - t1, final
for variant in sys.argv[1:] or ["batchnorm", "standard"]:
    res = {False: [], True: []}
    for k in range(2):
        for cl in (False, True):
            res[cl].append(once(variant, cl, k))
    (tb, pb, ab), (tn, pn, an) = [[statistics.median(x[i] for x in res[cl]) for i in range(3)] for cl in (False, True)]
    print(f"{variant}: train {tb:.1f} s -> {tn:.1f} s ({tb / tn:.2f}x); probe job {pb:.1f} s -> {pn:.1f} s "
          f"({pb / pn:.2f}x); final test accuracy {ab:.3f} -> {an:.3f}", flush=True)
