"""How the config's runs become jobs: stacks of DLN runs, and probe segments.

A VGG run is one training job and one probe job per segment of ``steps_per_job``
steps. The deep linear net's runs train stacked (bnopt.training.stacked): a run group's
runs that share variant and recipe (its seeds and lrs) are one training job, and its
probed runs of one lr one probe job per segment; their outputs are each run's own files
(workflow/rules/train.smk, probe.smk).
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from .measure.replay import segment_steps
from .runs import Run, expand_runs, probe_settings, probed_runs, run_groups


def run_segments(config: dict, run: Run) -> list[tuple[int, int]]:
    """The [start, end) step spans of a run's probe jobs: ``steps_per_job`` steps each
    (by default the span between two checkpoints)."""
    section = config["nets"][run.net]
    return segment_steps(section["steps"], probe_settings(config, run).get("steps_per_job", section["checkpoint_every"]))


# The nets whose runs train stacked (bnopt.training.stacked), many seeds to a job.
STACKED_NETS = ("dln",)
RUNS_PER_JOB = 32


@dataclass(frozen=True)
class Stack:
    """Runs that one job trains (or one job per segment probes) together: runs of one
    run group that differ only in their seed and lr, ordered by lr, then seed."""

    runs: tuple[Run, ...]

    @property
    def name(self) -> str:
        """Its folder-like name for logs: ``dln/standard/lr~1e-06/seeds~0-29``, and for
        several lrs ``dln/standard/lrs~1.25e-07-1.6e-05x8/seeds~0-2`` (lowest, highest,
        how many)."""
        first, last = self.runs[0], self.runs[-1]
        lrs = {r.lr for r in self.runs}
        rate = f"lr~{first.lr_token}" if len(lrs) == 1 else f"lrs~{first.lr_token}-{last.lr_token}x{len(lrs)}"
        return f"{first.net}/{first.variant_folder}/{rate}/seeds~{seed_ranges({r.seed for r in self.runs})}"


def seed_ranges(seeds) -> str:
    """Seeds as ranges: 0, 1, 2, 5 -> ``0-2,5``."""
    parts, ordered = [], sorted(seeds)
    start = previous = ordered[0]
    for seed in [*ordered[1:], None]:
        if seed is not None and seed == previous + 1:
            previous = seed
            continue
        parts.append(str(start) if start == previous else f"{start}-{previous}")
        if seed is not None:
            start = previous = seed
    return ",".join(parts)


def train_stacks(config: dict) -> list[Stack]:
    """The stacks of every net that trains stacked: per run group (config order), its
    runs that no earlier group has, by variant folder (its lrs and seeds together,
    ordered by lr, then seed), at most ``runs_per_job`` runs to a stack. Adding a group
    adds stacks without touching the existing ones; adding a seed or an lr to a group
    retrains that group's stack of the variant."""
    stacks, seen = [], set()
    for net, section in config["nets"].items():
        if net not in STACKED_NETS:
            continue
        per_job = section.get("runs_per_job", RUNS_PER_JOB)
        for group_key, group in run_groups(section):
            fresh: dict[str, list[Run]] = {}
            for run in expand_runs({"nets": {net: {**section, "runs": {"only": group}}}}):
                if run not in seen:
                    seen.add(run)
                    fresh.setdefault(run.variant_folder, []).append(run)
            for runs in fresh.values():
                runs = sorted(runs, key=lambda r: (r.lr, r.seed))
                stacks += [Stack(tuple(runs[i:i + per_job])) for i in range(0, len(runs), per_job)]
    return stacks


def probe_stacks(config: dict) -> list[Stack]:
    """The probed runs of each training stack, those of one lr and probe setting
    probed together (one job per segment)."""
    probed = set(probed_runs(config))
    out = []
    for stack in train_stacks(config):
        alike: dict[tuple[float, str], list[Run]] = {}
        for run in stack.runs:
            if run in probed:
                alike.setdefault((run.lr, json.dumps(probe_settings(config, run), sort_keys=True)), []).append(run)
        out += [Stack(tuple(runs)) for runs in alike.values()]
    return out
