"""The report's figures: the catalogue of which of the paper's figures to draw from the
tidy tables (results/tables/*.parquet), with which runs, and the caption of each (what
the paper claims, what this run shows, in numbers).

One module per group of figures, as the paper groups them: :mod:`.training`,
:mod:`.distributions`, :mod:`.ics`, :mod:`.landscape` (with the curvature),
:mod:`.sensitivity`, and beyond the paper :mod:`.surfaces`, :mod:`.optimizers`,
:mod:`.typical` and :mod:`.architectures` (claim 8: the ResNet's skips against BN). Each holds its plotting functions (tables in, a matplotlib Figure
out: restyling never recomputes anything) and its catalogue entries (:class:`Spec`).
Adding a figure is one entry in its group's module and one line in CATALOGUE below.
What they share is in :mod:`.style` (colours, saving, seeds pooled into a band) and
:mod:`.choices` (which lrs, layers and runs a figure shows; the captions' notes).

A config that lacks what a figure needs (no DLN, one learning rate, no noisy BN)
gets a :class:`Skipped` entry with the reason in place of that figure; a diverged
run is drawn (its curve ends in an x, its probes stop) and named in the caption.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # before any module of the package imports pyplot
import pandas as pd  # noqa: E402

from ...runs import own_recipe  # noqa: E402
from ...tasks import NETS  # noqa: E402
from ..tables import of_recipe  # noqa: E402
from . import (architectures, distributions, ics, landscape, optimizers, sensitivity, surfaces, training,  # noqa: E402
               typical)
from .choices import Spec, own_init_and_loss  # noqa: E402
from .style import NoData, save  # noqa: E402

CATALOGUE: list[Spec] = [
    training.FIG01_TRAINING_VGG,
    distributions.FIG01C_ACTIVATIONS_VGG,
    training.FIG02_TRAINING_NOISY_VGG,
    distributions.FIG02_ACTIVATIONS_NOISY_VGG,
    ics.FIG03_ICS_VGG,
    ics.FIG03_ICS_DLN,
    landscape.FIG04_LANDSCAPE_VGG,
    training.FIG05_TRAINING_LP_VGG,
    training.FIG05_TRAINING_LP_DLN,
    distributions.FIG06_ACTIVATIONS_LP_VGG,
    distributions.FIG08_MOMENT_DRIFT_VGG,
    landscape.FIG10_LANDSCAPE_DLN,
    landscape.FIG11_GRAD_CHANGE_VS_ETA_VGG,
    landscape.FIG11_GRAD_CHANGE_VS_ETA_DLN,
    landscape.FIG12_LANDSCAPE_ALL_VGG,
    landscape.FIG13_LANDSCAPE_ALL_DLN,
    sensitivity.LR_SENSITIVITY_VGG,
    sensitivity.LR_SENSITIVITY_DLN,
    surfaces.SURFACE_VGG,
    surfaces.SURFACE_DLN,
    surfaces.SURFACE_VARIANTS_VGG,
    surfaces.SURFACE_VARIANTS_DLN,
    surfaces.INTERPOLATION_VGG,
    surfaces.INTERPOLATION_DLN,
    optimizers.OPTIMIZERS_VGG,
    optimizers.OPTIMIZERS_DLN,
    typical.TYPICAL_DLN,
    landscape.CURVATURE_VGG,
    landscape.CURVATURE_DLN,
    # beyond the paper: the ResNet (issue 22), and claim 8's figure
    training.FIG01_TRAINING_RESNET,
    ics.FIG03_ICS_RESNET,
    landscape.FIG04_LANDSCAPE_RESNET,
    architectures.SKIPS_RESNET,
    surfaces.SURFACE_RESNET,
    surfaces.SURFACE_VARIANTS_RESNET,
    surfaces.INTERPOLATION_RESNET,
    landscape.CURVATURE_RESNET,
    optimizers.OPTIMIZERS_RESNET,
]


@dataclass(frozen=True)
class Rendered:
    stem: str
    title: str
    caption: str
    paths: list[Path] = field(default_factory=list)


@dataclass(frozen=True)
class Skipped:
    stem: str
    title: str
    reason: str


def render_all(tables: dict[str, pd.DataFrame], config: dict, folder: str | Path,
               catalogue: list[Spec] = CATALOGUE, workers: int = 1) -> list[Rendered | Skipped]:
    """Draw every figure of the catalogue the tables hold data for into `folder`
    (PNG + PDF); the others become Skipped entries with the reason. With `workers` > 1
    the figures are shared among that many forked processes (each draws whole figures,
    so every file is what one process would draw; where fork is not available, one
    process draws them all); the entries come back in catalogue order."""
    import multiprocessing

    if workers > 1 and len(catalogue) > 1 and "fork" in multiprocessing.get_all_start_methods():
        from concurrent.futures import ProcessPoolExecutor

        global _FORKED  # what the forked workers draw from (a Spec's draw function is not picklable)
        _FORKED = (tables, config, folder, catalogue)
        try:
            # A worker that dies (out of memory) raises BrokenProcessPool here rather than
            # leaving the report waiting.
            with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("fork")) as pool:
                done = list(pool.map(_render_share, [list(range(i, len(catalogue), workers))
                                                     for i in range(workers)]))
        finally:
            _FORKED = None
        drawn = {entry.stem: entry for share in done for entry in share}
        return [drawn[spec.stem] for spec in catalogue]
    out: list[Rendered | Skipped] = []
    for spec in catalogue:
        out.append(_render(spec, tables, config, folder))
    return out


_FORKED = None


def _render_share(indices: list[int]) -> list[Rendered | Skipped]:
    tables, config, folder, catalogue = _FORKED
    return [_render(catalogue[i], tables, config, folder) for i in indices]


def spec_net(spec: Spec) -> str:
    """The net a figure needs: its stem's last part (``fig04_landscape_resnet``)."""
    net = spec.stem.rsplit("_", 1)[-1]
    return net if net in NETS else "vgg"


def _render(spec: Spec, tables: dict[str, pd.DataFrame], config: dict, folder: str | Path) -> Rendered | Skipped:
    net = spec_net(spec)
    if net not in config["nets"]:
        return Skipped(spec.stem, spec.title, f"this config has no {net} runs (nets.{net} is absent)")
    if spec.every_recipe:
        seen = tables
    elif spec.every_optimizer:
        seen = own_init_and_loss(tables, config, net)
    else:
        seen = {name: of_recipe(t, own_recipe(config, net)) for name, t in tables.items()}
    try:
        fig, shows = spec.draw(seen, config)
    except NoData as error:
        return Skipped(spec.stem, spec.title, str(error))
    paths = save(fig, spec.stem, folder)
    return Rendered(spec.stem, spec.title, spec.paper + shows, paths)


def index_table(entries: list[Rendered | Skipped]) -> pd.DataFrame:
    """One row per catalogue entry: rendered (with the PNG/PDF names) or skipped (why)."""
    rows = []
    for e in entries:
        if isinstance(e, Rendered):
            rows.append(dict(stem=e.stem, title=e.title, status="rendered", caption=e.caption, reason="",
                             png=e.paths[0].name, pdf=e.paths[1].name))
        else:
            rows.append(dict(stem=e.stem, title=e.title, status="skipped", caption="", reason=e.reason, png="",
                             pdf=""))
    return pd.DataFrame(rows, columns=["stem", "title", "status", "caption", "reason", "png", "pdf"])
