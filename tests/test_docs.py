"""The docs: the generated pages are what their committed snapshots give, the site
builds with no broken link or anchor, and a snapshot of a finished run (here a
synthetic one: a few tables, a benchmark file, two Snakemake logs) renders."""

import datetime as dt
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from bnopt.tools import docsgen

REPO = Path(__file__).resolve().parents[1]


def copy_for_render(root: Path) -> None:
    """What `docs render` reads: the snapshots, the configs' leading comments, README."""
    shutil.copytree(REPO / "docs" / "data", root / "docs" / "data")
    shutil.copytree(REPO / "config", root / "config")
    (root / "tests" / "configs").mkdir(parents=True)
    shutil.copy(REPO / "tests" / "configs" / "smoke.yaml", root / "tests" / "configs" / "smoke.yaml")
    shutil.copy(REPO / "README.md", root / "README.md")


def test_the_committed_pages_are_what_the_snapshots_render(tmp_path):
    copy_for_render(tmp_path)
    docsgen.render(tmp_path)
    hint = "run `python -m bnopt docs render` and commit what it writes"
    assert (tmp_path / "docs" / "results.md").read_text() == (REPO / "docs" / "results.md").read_text(), hint
    assert (tmp_path / "README.md").read_text() == (REPO / "README.md").read_text(), hint
    assert (tmp_path / "docs" / "assets" / "claims-matrix.png").stat().st_size > 10_000
    assert (REPO / "docs" / "assets" / "claims-matrix.png").exists()


def test_the_readme_stays_short_and_keeps_the_test_command():
    readme = (REPO / "README.md").read_text()
    assert len(readme.splitlines()) < 150
    assert "bash envs/venv.sh pytest" in readme  # .ci/run runs it as the README says
    assert docsgen.BEGIN in readme and docsgen.END in readme


def test_the_site_builds_strictly(tmp_path):
    build = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path / "site")],
                           cwd=REPO, capture_output=True, text=True, env={**os.environ, "NO_MKDOCS_2_WARNING": "1"})
    assert build.returncode == 0, build.stdout + build.stderr
    assert (tmp_path / "site" / "api" / "index.html").read_text().count('id="bnopt.') > 50  # mkdocstrings ran


# --------------------------------------------------------------------------- a synthetic run

T0 = dt.datetime(2026, 11, 29, 18, 0, 0)


def stamp(seconds: int) -> str:
    return (T0 + dt.timedelta(seconds=seconds)).strftime("[%a %b %d %H:%M:%S %Y]")


def snakemake_log(configs: list[str], workdir: Path, jobs: list[tuple[str, int, int, str | None]],
                  elapsed: str, start: int) -> str:
    """A log as Snakemake 9 writes it: header, job stats, each job's block and finish."""
    lines = ["SNAKEMAKE", f"  Date: {(T0 + dt.timedelta(seconds=start)):%Y-%m-%d %H:%M:%S}",
             "  Config file(s): [" + ", ".join(f"PosixPath('{workdir / c}')" for c in configs) + "]",
             "Provided cores: 2", "Job stats:", "job     count", f"total       {len(jobs)}", ""]
    for jobid, (rule, begin, end, benchmark) in enumerate(jobs):
        lines += [stamp(begin), f"localrule {rule}:", "    output: x", f"    jobid: {jobid}"]
        lines += [f"    benchmark: {benchmark}"] if benchmark else []
        lines += ["    resources: tmpdir=/tmp", stamp(end), f"Finished jobid: {jobid} (Rule: {rule})"]
    return "\n".join(lines + [f"Elapsed time: {elapsed}", ""])


def benchmark(workdir: Path, path: str, seconds: float, written: int) -> None:
    file = workdir / path
    file.parent.mkdir(parents=True, exist_ok=True)
    file.write_text(f"s\th:m:s\tmax_rss\n{seconds}\t0:00:{int(seconds):02d}\t100.0\n")
    when = (T0 + dt.timedelta(seconds=written)).timestamp()
    os.utime(file, (when, when))


@pytest.fixture
def workdir(tmp_path):
    """A finished run of config/a.yaml, then of config/a.yaml config/b.yaml, in a git
    clone: two claims rows, one scorecard row, a figure index, benchmarks, two logs."""
    run = tmp_path / "run"
    (run / "config").mkdir(parents=True)
    (run / "config" / "a.yaml").write_text("# A tiny config. It has two sentences.\nnets: {}\n")
    (run / "config" / "b.yaml").write_text("# Does it add an overlay? Yes.\nnets: {}\n")
    git = ["git", "-C", str(run), "-c", "user.name=t", "-c", "user.email=t@t"]
    subprocess.run([*git, "init", "-q"], check=True)
    subprocess.run([*git, "add", "."], check=True)
    subprocess.run([*git, "commit", "-qm", "configs"], check=True)
    tables = run / "results" / "tables"
    tables.mkdir(parents=True)
    claims = pd.DataFrame({c: [None, None] for c in docsgen.CLAIM_COLUMNS}).assign(
        claim=[1, 4], statement=["BN trains faster.", "BN is smoother: ||G||."], net=["vgg", "dln"], lr=[0.1, 1e-6],
        optimizer="sgd", recipe="", comparison=["batchnorm vs standard", "batchnorm vs standard [half_sum]"],
        verdict=["holds", "mixed"], k=[3, 15], n=[3, 30], effect="ratio", effect_median=[0.14, 0.73],
        effect_ci_low=[0.11, None], effect_ci_high=[0.15, None], seed_verdicts=["holds, holds, holds", "mixed"])
    claims.to_csv(tables / "claims.csv", index=False)
    pd.DataFrame([dict(id="A-bn", net="vgg", variant="batchnorm", lr=0.1, recipe="", quantity="test accuracy",
                       paper="83%", this_median=0.99, this_min=0.98, this_max=0.99, seeds=3,
                       agreement="above the paper's")]).to_csv(tables / "scorecard.csv", index=False)
    (run / "reports" / "figures").mkdir(parents=True)
    pd.DataFrame(dict(stem=["fig1", "fig2"], title=["Fig. 1", "Fig. 2"], status=["rendered", "skipped"],
                      reason=[None, "needs a DLN"], caption=["c", "d"], png="", pdf="")).to_csv(
        run / "reports" / "figures" / "index.csv", index=False)
    logs = run / ".snakemake" / "log"
    logs.mkdir(parents=True)
    first = [("train", 0, 30, "logs/benchmarks/train/a.tsv"), ("train_stack_0", 0, 20, "logs/benchmarks/s0.tsv"),
             ("train_stack_1", 20, 40, "logs/benchmarks/s1.tsv"), ("report", 40, 65, "logs/benchmarks/report.tsv")]
    (logs / "2026-11-29T180000.000000.snakemake.log").write_text(
        snakemake_log(["config/a.yaml"], run, first, "0:01:05.500000", 0))
    second = [("report", 100, 112, "logs/benchmarks/report.tsv"), ("all", 112, 112, None)]
    (logs / "2026-11-29T180140.000000.snakemake.log").write_text(
        snakemake_log(["config/a.yaml", "config/b.yaml"], run, second, "0:00:12.000000", 100))
    benchmark(run, "logs/benchmarks/train/a.tsv", 29.5, 30)
    benchmark(run, "logs/benchmarks/s0.tsv", 19.0, 20)
    benchmark(run, "logs/benchmarks/s1.tsv", 18.0, 40)
    benchmark(run, "logs/benchmarks/report.tsv", 11.5, 112)  # the second run overwrote the first's
    return run


def test_parse_elapsed():
    assert docsgen.parse_elapsed("0:46:51.365093") == pytest.approx(2811.365093)
    assert docsgen.parse_elapsed("25:00:01.5") == pytest.approx(90001.5)
    assert docsgen.duration(2811.37) == "46 min 51 s" and docsgen.duration(3601) == "1 h 0 min 1 s"


def test_snapshot_reads_tables_timings_and_commit(workdir, tmp_path):
    data = tmp_path / "docs" / "data"
    first = sorted((workdir / ".snakemake" / "log").iterdir())[0]
    out = docsgen.snapshot(workdir, ["config/a.yaml"], "a", log=first.relative_to(workdir), data=data)
    run = json.loads((out / "run.json").read_text())
    commit = subprocess.run(["git", "-C", str(workdir), "rev-parse", "--short", "HEAD"], capture_output=True,
                            text=True).stdout.strip()
    assert run | {"tables_from": None} == dict(
        name="a", configs=["config/a.yaml"], tables_from=None, commit=commit, dirty=False, date="2026-11-29 18:00:00",
        wall_s=65.5, jobs=4, cores=2, log=first.name, earlier_runs=[])
    assert run["tables_from"] == ["config/a.yaml", "config/b.yaml"]  # the newest run wrote the tables
    rules = pd.read_csv(out / "rules.csv").set_index("rule")
    assert rules.loc["train_stack"].to_dict() == dict(jobs=2, seconds=37.0, from_log=0)  # stacks as one rule
    assert rules.loc["train"].to_dict() == dict(jobs=1, seconds=29.5, from_log=0)
    assert rules.loc["report"].to_dict() == dict(jobs=1, seconds=25.0, from_log=1)  # its benchmark was overwritten
    assert list(pd.read_csv(out / "figures.csv")["status"]) == ["rendered", "skipped"]
    assert not (out / "typical.md").exists()

    second = docsgen.snapshot(workdir, ["config/a.yaml", "config/b.yaml"], "a+b", data=data)  # the newest log
    run = json.loads((second / "run.json").read_text())
    assert (run["wall_s"], run["jobs"], run["earlier_runs"]) == (12.0, 2, ["config/a.yaml"])
    assert pd.read_csv(second / "rules.csv").set_index("rule").loc["report", "seconds"] == 11.5
    with pytest.raises(SystemExit, match="ran config/a.yaml config/b.yaml, not config/a.yaml"):
        docsgen.snapshot(workdir, ["config/a.yaml"], "wrong", data=data)
    assert not (data / "wrong").exists()


def test_render_from_a_synthetic_snapshot(workdir, tmp_path):
    root = tmp_path / "site"
    shutil.copytree(workdir / "config", root / "config")
    (root / "README.md").write_text(f"# x\n\n{docsgen.BEGIN}\nold typed numbers\n{docsgen.END}\n\nrest\n")
    docsgen.snapshot(workdir, ["config/a.yaml", "config/b.yaml"], "a+b", data=root / docsgen.DATA)
    docsgen.render(root)
    readme = (root / "README.md").read_text()
    assert "old typed numbers" not in readme and readme.endswith(f"{docsgen.END}\n\nrest\n")
    row = next(line for line in readme.splitlines() if line.startswith("| `config/a.yaml` + `config/b.yaml`"))
    assert "Does it add an overlay?" in row and "12 s (2 jobs, 2 cores, after `config/a.yaml`" in row
    assert "(docs/results.md#ab)" in row
    assert "| `config/quick.yaml` | " in readme and "not measured yet" in readme  # every shipped row is there
    results = (root / "docs" / "results.md").read_text()
    assert "## a+b" in results and "(#ab)" in results
    assert "lr 0.1: batchnorm: holds (3/3)" in results and "lr 1e-06: batchnorm [half_sum]: mixed (15/30)" in results
    assert "\\|\\|G\\|\\|" in results  # a "|" in a cell is escaped, not a column
    assert "| A-bn: VGG batchnorm, test accuracy | 83% | 0.99 (0.98 - 0.99, 3) | above the paper's |" in results
    assert "1 of 2 drawn" in results and "needs a DLN" in results
    assert (root / docsgen.PNG).stat().st_size > 5_000
