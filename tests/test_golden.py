"""What a user reads of the smoke config's run stays what it was: its claims table, its
scorecard and its figure index (every figure's title, status and caption, with the
numbers the captions quote), byte for byte, against the copies in tests/golden/smoke/.

A refactor or a speed change must leave them identical. A change that is meant to move
a result (a new rule, a fixed measure) updates them in the same commit, and the diff of
these three files shows the reviewer what moved:

    BNOPT_UPDATE_GOLDEN=1 bash envs/venv.sh pytest tests/test_golden.py
"""

import difflib
import os
import shutil
from pathlib import Path

import pytest

GOLDEN = Path(__file__).parent / "golden" / "smoke"
OUTPUTS = {"claims.csv": "results/tables/claims.csv", "scorecard.csv": "results/tables/scorecard.csv",
           "figures_index.csv": "reports/figures/index.csv"}


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(OUTPUTS))
def test_the_smoke_run_reads_as_before(smoke_run, name):
    workdir, _ = smoke_run
    made, kept = workdir / OUTPUTS[name], GOLDEN / name
    if os.environ.get("BNOPT_UPDATE_GOLDEN") == "1":
        shutil.copyfile(made, kept)
        pytest.skip(f"updated {kept}")
    got, want = made.read_text().splitlines(), kept.read_text().splitlines()
    diff = "\n".join(list(difflib.unified_diff(want, got, str(kept), str(made), lineterm="", n=0))[:40])
    assert got == want, (f"{OUTPUTS[name]} of the smoke run differs from {kept}; if the change is meant, update the "
                         f"copies (BNOPT_UPDATE_GOLDEN=1, see this module's docstring):\n{diff}")
