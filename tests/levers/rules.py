"""Job seconds per rule (and net) of a finished workflow, from its benchmark TSVs:
    python tests/levers/rules.py RUN_FOLDER"""
import sys, glob, collections
REPO = __import__("pathlib").Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "workflow"))
from bnopt.tools.costs import benchmark_seconds
d = collections.defaultdict(float); n = collections.Counter()
for f in glob.glob(sys.argv[1] + '/logs/benchmarks/**/*.tsv', recursive=True):
    p = f.split('benchmarks/')[1].split('/')
    k = p[0] + '/' + p[1] if len(p) > 2 else p[0].removesuffix('.tsv')
    d[k] += benchmark_seconds(f); n[k] += 1
for k in sorted(d): print(f"{k:<22}{n[k]:>4}{d[k]:>9.1f}{d[k] / n[k]:>8.1f}")
print(f"{'total':<22}{sum(n.values()):>4}{sum(d.values()):>9.1f}")
