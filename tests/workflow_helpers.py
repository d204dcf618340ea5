"""Running the real Snakemake DAG from the tests."""

import re
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SMOKE = REPO / "tests" / "configs" / "smoke.yaml"


def snakemake(snakemake_bin, workdir, *args, configfile=SMOKE, timeout=900, check=True, cores="2", repo=REPO):
    """Run snakemake on `repo`'s Snakefile (this repo's by default) in `workdir`.
    Targets and flags go before --configfile, which takes every word after it."""
    cmd = [snakemake_bin, "-s", str(Path(repo) / "Snakefile"), "-d", str(workdir), "--cores", cores, *args,
           "--configfile", str(configfile)]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    if check and done.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)} failed:\n{done.stdout[-4000:]}\n{done.stderr[-4000:]}")
    return done


def job_counts(output: str) -> dict[str, int]:
    """Snakemake's "Job stats" table, as {rule: count} ({} when nothing is to be done).
    The rules of DLN stacks (train_stack_3, probe_stack_0, ...: one rule per stack) count
    together, as "train_stack" and "probe_stack"."""
    table = output.split("Job stats:", 1)[1] if "Job stats:" in output else ""
    table = table.split("\n\n", 1)[0]
    counts: dict[str, int] = {}
    for m in re.finditer(r"^(\w+)\s+(\d+)$", table, re.M):
        if m.group(1) != "total":
            rule = re.sub(r"^(train_stack|probe_stack)_\d+$", r"\1", m.group(1))
            counts[rule] = counts.get(rule, 0) + int(m.group(2))
    return counts
