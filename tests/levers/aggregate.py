"""Lever: aggregate's concat (bnopt.analysis.tables.concat) on a finished workflow's per-run files, timed, and
checked equal to the table that workflow's aggregate wrote:
    python tests/levers/aggregate.py RUN_FOLDER activations landscape ics moments curvature metrics test"""
import sys, time, glob
REPO = __import__("pathlib").Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "workflow"))
import pandas as pd
from bnopt.analysis import tables
RUN = sys.argv[1]  # a finished workflow folder
for name in sys.argv[2:]:
    paths = sorted(glob.glob(f"{RUN}/results/*/*/lr~*/seed~*/probe/segment~*/{name}.parquet")) or \
        sorted(glob.glob(f"{RUN}/results/*/*/lr~*/seed~*/train/{name}.parquet"))
    t0 = time.perf_counter()
    new = tables.concat(paths)
    t1 = time.perf_counter()
    old = pd.read_parquet(f"{RUN}/results/tables/{ {'metrics': 'training', 'test': 'evals'}.get(name, name)}.parquet")
    pd.testing.assert_frame_equal(new, old, check_exact=True)
    print(f"{name}: {len(paths)} files, {len(new)} rows, new concat {t1 - t0:.1f} s; equal to the aggregate's table")
