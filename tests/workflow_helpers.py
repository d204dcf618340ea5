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
    """Snakemake's "Job stats" table, as {rule: count} ({} when nothing is to be done)."""
    table = output.split("Job stats:", 1)[1] if "Job stats:" in output else ""
    table = table.split("\n\n", 1)[0]
    return {m.group(1): int(m.group(2)) for m in re.finditer(r"^(\w+)\s+(\d+)$", table, re.M) if m.group(1) != "total"}
