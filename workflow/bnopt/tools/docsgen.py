"""The documentation's numbers, generated from finished runs, never typed.

    python -m bnopt docs snapshot --workdir DIR --configs config/quick.yaml [...] --name quick [--log LOG]
    python -m bnopt docs render

``snapshot`` reads a finished run in DIR (its claims and scorecard tables, the report's
figure index, the per-job benchmark TSVs summed per rule, the wall time, job count and
cores of its Snakemake log, the commit of DIR) into a small committed folder,
docs/data/NAME/. ``render`` writes, from those snapshots only, docs/results.md,
docs/assets/claims-matrix.png and the README's configs table (between the markers
``<!-- generated: configs -->`` and ``<!-- /generated -->``). Run both from the
repository root; tests/test_docs.py checks that the committed pages are what
``render`` writes.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import re
import subprocess
import textwrap
from pathlib import Path

import pandas as pd

from ..analysis.tables import read_csv
from .costs import benchmark_seconds

DATA, RESULTS, PNG = Path("docs/data"), Path("docs/results.md"), Path("docs/assets/claims-matrix.png")
BEGIN, END = "<!-- generated: configs -->", "<!-- /generated -->"
# The README's configs table, one row per config and overlay, in this order; a
# snapshot of another combination of configs gets a row of its own after these.
ROWS = (("config/config.yaml",), ("config/quick.yaml",), ("config/quick.yaml", "config/sweep.yaml"),
        ("config/quick.yaml", "config/norms.yaml"), ("config/quick.yaml", "config/extensions.yaml"),
        ("config/quick.yaml", "config/dln-draws.yaml"), ("config/quick.yaml", "config/architectures.yaml"),
        ("config/config.yaml", "config/architectures-paper.yaml"), ("tests/configs/smoke.yaml",))
CLAIM_COLUMNS = ["claim", "statement", "net", "lr", "optimizer", "recipe", "comparison", "verdict", "k", "n", "effect",
                 "effect_median", "effect_ci_low", "effect_ci_high", "seed_verdicts", "moot_because"]
CARD_COLUMNS = ["id", "net", "variant", "lr", "recipe", "quantity", "paper", "this_median", "this_min", "this_max",
                "seeds", "agreement"]
STAMP = re.compile(r"^\[(\w{3} \w{3} +\d+ \d\d:\d\d:\d\d \d{4})\]$")


# --------------------------------------------------------------------------- reading a run

def parse_elapsed(text: str) -> float:
    """Seconds of Snakemake's "Elapsed time: H:MM:SS.ffffff" (hours may exceed 23)."""
    hours, minutes, seconds = text.strip().split(":")
    return int(hours) * 3600 + int(minutes) * 60 + float(seconds)


def parse_log(text: str) -> dict:
    """A Snakemake log's date, config files, cores, job count, wall time and jobs (each
    with its rule, benchmark file, and start and finish times)."""
    date, total, cores, configs = (re.search(p, text, re.M) for p in (
        r"^\s*Date: (.+)$", r"^total\s+(\d+)$", r"^Provided cores: (\d+)$", r"^\s*Config file\(s\): (.+)$"))
    elapsed = re.findall(r"^Elapsed time: (\S+)$", text, re.M)
    jobs, by_id, when = [], {}, None
    for line in text.splitlines():
        if stamp := STAMP.match(line):
            when = dt.datetime.strptime(" ".join(stamp[1].split()), "%a %b %d %H:%M:%S %Y")
        elif m := re.match(r"^(?:local)?rule (\S+):$", line):
            jobs.append({"rule": m[1], "start": when, "end": None, "benchmark": None})
        elif jobs and (m := re.match(r"^    (jobid|benchmark): (.+)$", line)):
            jobs[-1][m[1]] = m[2].strip()
            by_id.update({m[2].strip(): jobs[-1]} if m[1] == "jobid" else {})
        elif (m := re.match(r"^Finished jobid: (\d+)", line)) and m[1] in by_id:
            by_id[m[1]]["end"] = when
    return {"date": date and date[1].strip(), "jobs": int(total[1]) if total else len(jobs),
            "cores": cores and int(cores[1]), "wall_s": parse_elapsed(elapsed[-1]) if elapsed else None,
            "configs": re.findall(r"Path\('([^']+)'\)", configs[1]) if configs else [], "job_list": jobs}


def relative_configs(configs: list[str], workdir: Path) -> list[str]:
    """Config paths as the command line gives them: relative to the run's folder."""
    top = workdir.resolve()
    return [str(Path(c).relative_to(top)) if Path(c).is_relative_to(top) else c for c in configs]


def job_seconds(job: dict, workdir: Path) -> tuple[float, bool]:
    """A job's seconds: its benchmark TSV's, when the file exists and was written during
    the job (a later run overwrites it); else the log's start-to-finish (True)."""
    if job["benchmark"] and (path := workdir / job["benchmark"]).exists() and job["end"]:
        written = dt.datetime.fromtimestamp(path.stat().st_mtime)
        if job["start"] - dt.timedelta(seconds=5) <= written <= job["end"] + dt.timedelta(seconds=5):
            return benchmark_seconds(path), False
    return ((job["end"] - job["start"]).total_seconds() if job["start"] and job["end"] else 0.0), True


def rule_times(jobs: list[dict], workdir: Path) -> pd.DataFrame:
    """Per rule (a DLN stack's numbered rules as one): jobs, their summed seconds, and
    how many were timed by the log because their benchmark was missing or overwritten."""
    rows = [(re.sub(r"_\d+$", "", j["rule"]), *job_seconds(j, workdir)) for j in jobs]
    return (pd.DataFrame(rows, columns=["rule", "seconds", "from_log"]).groupby("rule", as_index=False)
            .agg(jobs=("seconds", "size"), seconds=("seconds", "sum"), from_log=("from_log", "sum"))
            .sort_values(["seconds", "rule"], ascending=[False, True]).round({"seconds": 1}))


def git(workdir: Path, *args: str) -> str:
    """The output of a git command in WORKDIR."""
    return subprocess.run(["git", "-C", str(workdir), *args], capture_output=True, text=True, check=True).stdout.strip()


def finished_logs(workdir: Path) -> list[Path]:
    """The folder's Snakemake logs of finished runs, oldest first."""
    return [p for p in sorted((workdir / ".snakemake" / "log").glob("*.snakemake.log"))
            if "Elapsed time:" in p.read_text(errors="replace")]


def log_configs(log: Path, workdir: Path) -> list[str]:
    return relative_configs(parse_log(log.read_text(errors="replace"))["configs"], workdir)


def snapshot(workdir: Path, configs: list[str], name: str, log: Path | None = None, data: Path = DATA) -> Path:
    """Write DATA/NAME/ from the finished run in WORKDIR timed by LOG (default: its
    newest finished log): run.json, claims.csv, scorecard.csv, rules.csv, figures.csv
    (when the report has an index) and typical.md (when the tables hold many DLN draws)."""
    logs = [p.resolve() for p in finished_logs(workdir)]
    log = (workdir / log if log and not Path(log).exists() else Path(log)).resolve() if log else (logs or [None])[-1]
    if log is None:
        raise FileNotFoundError(2, "no finished run", str(workdir / ".snakemake/log/*.snakemake.log"))
    parsed = parse_log(log.read_text(errors="replace"))
    if (ran := relative_configs(parsed["configs"], workdir)) and ran != list(configs):
        raise SystemExit(f"bnopt docs snapshot: {log.name} ran {' '.join(ran)}, not {' '.join(configs)}; give --log")
    out, tables = data / name, workdir / "results" / "tables"
    out.mkdir(parents=True, exist_ok=True)
    card, claims = read_csv(tables / "scorecard.csv"), read_csv(tables / "claims.csv")
    claims[CLAIM_COLUMNS].to_csv(out / "claims.csv", index=False)
    card[CARD_COLUMNS].to_csv(out / "scorecard.csv", index=False)
    rule_times(parsed["job_list"], workdir).to_csv(out / "rules.csv", index=False)
    for index in sorted((workdir / "reports").glob("**/figures/index.csv"))[:1]:
        pd.read_csv(index)[["stem", "title", "status", "reason"]].to_csv(out / "figures.csv", index=False)
    (out / "typical.md").unlink(missing_ok=True)
    if (values := tables / "scorecard_values.parquet").exists():
        from ..analysis.draws import settings_summary
        from .typical import markdown

        per_seed = pd.read_parquet(values)
        if not (summary := settings_summary(card, claims, per_seed)).empty:
            (out / "typical.md").write_text(markdown(card, per_seed, claims, summary) + "\n")
    earlier = logs[:logs.index(log)] if log in logs else []
    run = {"name": name, "configs": list(configs), "tables_from": (log_configs(logs[-1], workdir) if logs else ran)
           or list(configs), "commit": git(workdir, "rev-parse", "--short", "HEAD"),
           "dirty": bool(git(workdir, "status", "--porcelain", "--untracked-files=no")), "date": parsed["date"],
           "wall_s": parsed["wall_s"], "jobs": parsed["jobs"], "cores": parsed["cores"], "log": log.name,
           "earlier_runs": [" ".join(log_configs(p, workdir)) for p in earlier]}
    (out / "run.json").write_text(json.dumps(run, indent=1) + "\n")
    return out


# --------------------------------------------------------------------------- the pages

def load_snapshots(data: Path, root: Path) -> list[dict]:
    """Every snapshot under DATA, in the README table's row order, each with a
    fingerprint of its tables (snapshots of one folder share them)."""
    snaps = []
    for folder in sorted(p for p in data.glob("*") if (p / "run.json").exists()):
        tables = b"".join((folder / f).read_bytes() for f in ("claims.csv", "scorecard.csv"))
        snaps.append(dict(json.loads((folder / "run.json").read_text()), folder=folder,
                          where=folder.relative_to(root).as_posix(), tables_sha=hashlib.sha256(tables).hexdigest()))
    order = {row: i for i, row in enumerate(ROWS)}
    return sorted(snaps, key=lambda s: (order.get(tuple(s["configs"]), len(ROWS)), s["name"]))


def duration(seconds: float) -> str:
    """1042.9 -> "17 min 22 s" (whole seconds, as the log's clock reads)."""
    h, m = divmod(int(seconds) // 60, 60)
    return (f"{h} h " if h else "") + (f"{m} min " if h or m else "") + f"{int(seconds) % 60} s"


def anchor(name: str) -> str:
    """A snapshot's heading id, as MkDocs and GitHub both make it: "quick+dln-draws" ->
    "quickdln-draws"."""
    return re.sub(r"[-\s]+", "-", re.sub(r"[^\w\s-]", "", name).strip().lower())


def configs_text(configs: list[str]) -> str:
    return " + ".join(f"`{c}`" for c in configs)


def measured(snap: dict) -> str:
    """A snapshot's wall time, with what it covers and where it comes from."""
    after = f", after {' and '.join(f'`{c}`' for c in snap['earlier_runs'])} in the same folder" \
        if snap["earlier_runs"] else ""
    return (f"{duration(snap['wall_s'])} ({snap['jobs']} jobs, {snap['cores']} cores{after}; "
            f"{snap['commit']}{' (dirty)' if snap['dirty'] else ''}, {snap['date'][:10]})")


def leading_sentence(path: Path) -> str:
    """What a config adds: the first sentence of its leading comment."""
    comment = re.match(r"(?:#.*\n)*", path.read_text())[0]
    text = " ".join(line.lstrip("#").strip() for line in comment.splitlines())
    return re.split(r"(?<=[.?!])\s", text + " ", maxsplit=1)[0].strip()


def configs_table(snaps: list[dict], root: Path) -> str:
    """The README's table: each config or overlay, what it adds, its measured time."""
    lines = ["| configs | what it adds | measured wall time |", "|---|---|---|"]
    for row in list(ROWS) + [tuple(s["configs"]) for s in snaps if tuple(s["configs"]) not in ROWS]:
        adds = leading_sentence(root / row[-1]) if (root / row[-1]).exists() else ""
        time = "; ".join(f"[{measured(s)}](docs/results.md#{anchor(s['name'])})" for s in snaps
                         if tuple(s["configs"]) == row) or "not measured yet"
        lines.append(f"| {configs_text(list(row))} | {adds.replace('|', '/')} | {time} |")
    return "\n".join(lines)


def matrix_cells(claims: pd.DataFrame) -> tuple[list[str], dict]:
    """The report's claims matrix (bnopt.analysis.report.claims_matrix) folded to one
    column per net: {(claim, net): [(text, verdict)]}, a comparison named by its subject
    and qualifier ("batchnorm vs standard [half_sum]" -> "batchnorm [half_sum]"; claim 8's
    "standard ResNet vs VGG standard" keeps what it is compared with)."""
    from ..analysis.report import claims_matrix

    matrix, cells = claims_matrix(claims), {}
    for claim, row in matrix.iterrows():
        for setting, entries in row.items():
            net, _, lr = setting.partition(", ")
            for comparison, verdict, kn in entries if isinstance(entries, list) else []:
                # the usual references go (the column says the net); claim 8's are what it compares with
                subject = re.sub(r" vs (?:batchnorm and standard|batchnorm|standard)( ?)(?=[,\[]|$)", lambda m: m[1],
                                 comparison)
                cells.setdefault((claim, net), []).append((f"{lr + ': ' if lr else ''}{subject}: {verdict} ({kn})",
                                                           verdict))
    return list(dict.fromkeys(c.split(",")[0] for c in matrix.columns)), cells


def claims_png(claims: pd.DataFrame, title: str, path: Path) -> None:
    """Draw the claims matrix: rows claims, columns nets, one line per comparison in a
    cell, coloured by its verdict as in the report (VERDICT_COLOURS)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from ..analysis.report import VERDICT_COLOURS

    nets, cells = matrix_cells(claims)
    statements = claims.drop_duplicates("claim").set_index("claim")["statement"]
    label = {c: textwrap.wrap(f"{c}. {s}", 34) for c, s in statements.sort_index().items()}
    heights = [max([0.75 * len(label[c])] + [len(cells.get((c, n), [])) for n in nets]) + 0.6 for c in label]
    line, widths = 0.2, [3.0] + [4.6] * len(nets)
    fig = plt.figure(figsize=(sum(widths), line * (sum(heights) + 5)))
    ax = fig.add_axes((0, 0, 1, 1), xlim=(0, sum(widths)), ylim=(line * (sum(heights) + 5), 0))
    ax.axis("off")
    for x, y, text in [(0.1, line, title)] + [(sum(widths[:j + 1]) + 0.1, 2.2 * line, n) for j, n in enumerate(nets)]:
        ax.text(x, y, text, fontsize=9, weight="bold", va="center")
    y = 3 * line
    for claim, height in zip(label, heights):
        ax.axhline(y, color="#cccccc", lw=0.5)
        ax.text(0.1, y + 0.6 * line, "\n".join(label[claim]), fontsize=7, va="top", linespacing=1.25)
        for j, net in enumerate(nets):
            for i, (text, verdict) in enumerate(cells.get((claim, net), [])):
                x, top = sum(widths[:j + 1]) + 0.05, y + (0.3 + i) * line
                ax.add_patch(plt.Rectangle((x, top), widths[j + 1] - 0.1, 0.9 * line, color=VERDICT_COLOURS[verdict]))
                ax.text(x + 0.05, top + 0.45 * line, text, fontsize=6.5, va="center")
        y += height * line
    for i, (verdict, colour) in enumerate(VERDICT_COLOURS.items()):
        x = 0.1 + i * sum(widths) / len(VERDICT_COLOURS)
        ax.add_patch(plt.Rectangle((x, y + 0.4 * line), 0.25, 0.7 * line, color=colour))
        ax.text(x + 0.32, y + 0.75 * line, verdict, fontsize=6.5, va="center")
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=130, metadata={"Software": None})
    plt.close(fig)


def table(frame: pd.DataFrame) -> str:
    """A DataFrame as a Markdown table ("|" escaped, missing values empty)."""
    cells = frame.astype(object).where(frame.notna(), "").astype(str).map(lambda v: v.replace("|", "\\|"))
    return "\n".join(["| " + " | ".join(frame.columns) + " |", "|---" * len(frame.columns) + "|"]
                     + ["| " + " | ".join(r) + " |" for r in cells.itertuples(index=False)])


def claims_section(claims: pd.DataFrame) -> str:
    """The claims matrix (the picture's text, coloured as the report's) and every row
    with its effect: median over seeds [bootstrap interval]."""
    from ..analysis.draws import fmt_value
    from ..analysis.report import VERDICT_COLOURS

    nets, cells = matrix_cells(claims)
    statements = claims.drop_duplicates("claim").set_index("claim")["statement"].sort_index()
    matrix = pd.DataFrame([[f"**{c}** {s}"] + ["<br>".join(f'<span style="background:{VERDICT_COLOURS[v]}">{t}</span>'
                                                           for t, v in cells.get((c, n), [])) for n in nets]
                           for c, s in statements.items()], columns=["claim", *nets])
    detail = claims.assign(net=claims["net"].str.upper(), lr=claims["lr"].map(lambda v: "" if pd.isna(v) else f"{v:g}"),
                           kn=claims["k"].astype(str) + "/" + claims["n"].astype(str), value=[
        "" if pd.isna(r.effect_median) else fmt_value(r.effect_median) + (
            "" if pd.isna(r.effect_ci_low) else f" [{fmt_value(r.effect_ci_low)}, {fmt_value(r.effect_ci_high)}]")
        for r in claims.itertuples()])
    detail = detail[["claim", "net", "lr", "comparison", "verdict", "kn", "effect", "value", "moot_because"]].set_axis(
        ["claim", "net", "lr", "comparison", "verdict", "k/n seeds", "effect", "median [95% interval]", "moot because"],
        axis=1)
    return f"### Claims matrix\n\n{table(matrix)}\n\n### Claims in detail\n\n{table(detail)}\n"


def snapshot_section(snap: dict, shown: dict) -> str:
    """One snapshot's part of the results page; tables it shares with another snapshot
    are shown once, under the one whose own run wrote them."""
    from .typical import scorecard_markdown

    folder, me = snap["folder"], snap["name"]
    out = [f"## {snap['name']}\n", f"{configs_text(snap['configs'])}. Snapshot `{snap['where']}`: `snakemake --cores {snap['cores']} --configfile {' '.join(snap['configs'])}`"
           f"; wall time {measured(snap)}, log `{snap['log']}`.\n"]
    if snap["tables_from"] != snap["configs"]:
        out.append(f"The folder's tables are those of its latest run, of {configs_text(snap['tables_from'])}.\n")
    if (owner := shown.setdefault(snap["tables_sha"], me)) != me:
        out.append(f"Its tables are those shown under [{owner}](#{anchor(owner)}).\n")
    else:
        out += [claims_section(read_csv(folder / "claims.csv")),
                f"### Scorecard\n\n{scorecard_markdown(read_csv(folder / 'scorecard.csv'))}\n"]
        if (folder / "typical.md").exists():
            out.append(f"### How typical is the paper's DLN?\n\n{(folder / 'typical.md').read_text()}")
        if (folder / "figures.csv").exists():
            figures = pd.read_csv(folder / "figures.csv")
            out.append(f"### Figures\n\n{(figures['status'] == 'rendered').sum()} of {len(figures)} drawn. Skipped:\n\n"
                       + table(figures.loc[figures["status"] != "rendered", ["title", "reason"]]) + "\n")
    out.append(f"### Time per rule\n\nJob seconds summed per rule ({snap['cores']} cores run jobs side by side, so "
               "the sum exceeds the wall time); `from_log`: jobs timed by the log's clock, their benchmark file "
               f"missing or overwritten by a later run.\n\n{table(pd.read_csv(folder / 'rules.csv'))}\n")
    return "\n".join(out)


def results_page(snaps: list[dict]) -> str:
    """docs/results.md from the snapshots."""
    shown = {s["tables_sha"]: s["name"] for s in reversed(snaps) if s["tables_from"] == s["configs"]}
    return ("# Results\n\n<!-- Generated by `python -m bnopt docs render` from docs/data/: do not edit. -->\n\n"
            "Every number on this page is read from a finished run's tables by `python -m bnopt docs snapshot` "
            "and written by `python -m bnopt docs render` ([refreshing](developer.md#refreshing-the-generated-pages)"
            "); each section names the config files, the commit and the date of its run.\n\n"
            "![The claims matrix](assets/claims-matrix.png)\n\n| snapshot | configs | measured |\n|---|---|---|\n"
            + "".join(f"| [{s['name']}](#{anchor(s['name'])}) | {configs_text(s['configs'])} | {measured(s)} |\n"
                      for s in snaps) + "\n" + "\n".join(snapshot_section(s, shown) for s in snaps))


def replace_block(text: str, block: str) -> str:
    """TEXT with the part between BEGIN and END replaced by BLOCK."""
    return text[:text.index(BEGIN) + len(BEGIN)] + "\n" + block + "\n" + text[text.index(END):]


def render(root: Path = Path("."), readme: Path = Path("README.md")) -> None:
    """Write, under ROOT, the results page, the claims-matrix picture and README's configs
    table, from the snapshots under ROOT/docs/data."""
    snaps = load_snapshots(root / DATA, root)
    (root / RESULTS).write_text(results_page(snaps))
    if snaps:  # the picture of the tables a snapshot's own run wrote, else of the first
        pick = next((s for s in snaps if s["tables_from"] == s["configs"]), snaps[0])
        claims_png(read_csv(pick["folder"] / "claims.csv"), f"Claims matrix: {' + '.join(pick['configs'])}, commit "
                   f"{pick['commit']}, {pick['date'][:10]} (generated; k/n: holds in k of n seeds)", root / PNG)
    (root / readme).write_text(replace_block((root / readme).read_text(), configs_table(snaps, root)))


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="docs_command", required=True)
    snap = sub.add_parser("snapshot", help="read a finished run's tables and timings into docs/data/NAME/")
    snap.add_argument("--workdir", required=True, type=Path, help="the folder the workflow ran in")
    snap.add_argument("--configs", required=True, nargs="+", help="the config files that run used, in order")
    snap.add_argument("--name", required=True, help="the snapshot's name (docs/data/NAME)")
    snap.add_argument("--log", type=Path, help="the Snakemake log to time (default: the newest finished one)")
    sub.add_parser("render", help="write docs/results.md, docs/assets/claims-matrix.png and README.md's configs "
                                  "table from the snapshots")


def main(args) -> int:
    if args.docs_command == "snapshot":
        print(snapshot(args.workdir, args.configs, args.name, args.log))
    else:
        render()
    return 0
