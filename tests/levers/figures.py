"""Where the report's time goes: each figure's draw, PNG and PDF save, on a finished run's tables:
    python tests/levers/figures.py RUN_FOLDER config/quick.yaml"""
import sys, time, json, tempfile
from pathlib import Path
REPO = __import__("pathlib").Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "workflow"))
import matplotlib; matplotlib.use("Agg")
import yaml
from bnopt.analysis import report
from bnopt.analysis.figures import CATALOGUE, style
from bnopt.analysis.figures import render_all
workdir = Path(sys.argv[1]); config = yaml.safe_load(open(sys.argv[2]))
from snakemake.utils import validate
validate(config, str(REPO / "workflow" / "schemas" / "config.schema.yaml"))
t0 = time.perf_counter()
data = report.load_tables(str(workdir / "results/tables"))
print(f"load tables {time.perf_counter() - t0:.1f} s")
times = {}
orig = style.save
import matplotlib.pyplot as plt
def timed_save(fig, stem, folder):
    t = time.perf_counter()
    fig.savefig(Path(folder) / f"{stem}.png", dpi=150, bbox_inches="tight"); t1 = time.perf_counter()
    fig.savefig(Path(folder) / f"{stem}.pdf", bbox_inches="tight"); t2 = time.perf_counter()
    plt.close(fig)
    times[stem] = (t1 - t, t2 - t1)
    return [Path(folder) / f"{stem}.png", Path(folder) / f"{stem}.pdf"]
import bnopt.analysis.figures as F
F.save = timed_save
out = tempfile.mkdtemp()
t0 = time.perf_counter()
marks = []
for spec in CATALOGUE:
    t = time.perf_counter()
    render_all(data, config, out, catalogue=[spec])
    marks.append((time.perf_counter() - t, spec.stem))
total = time.perf_counter() - t0
png = sum(v[0] for v in times.values()); pdf = sum(v[1] for v in times.values())
print(f"all figures {total:.1f} s: png saves {png:.1f} s, pdf saves {pdf:.1f} s, drawing {total - png - pdf:.1f} s")
for d, stem in sorted(marks, reverse=True)[:12]:
    p = times.get(stem, (0, 0))
    print(f"{d:6.1f} s {stem} (png {p[0]:.1f}, pdf {p[1]:.1f})")
