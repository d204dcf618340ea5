"""The paper's DLN curves, read from the vector paths of its PDF rather than by eye.

    python -m bnopt digitize PAPER.pdf [--out workflow/resources/paper_curves.csv]

The figures of arXiv:1805.11604v5 are matplotlib vector graphics: each curve is a
path whose vertices are the plotted points (matplotlib drops a vertex only where the
line through its neighbours passes within a fraction of a pixel of it), and each
panel's gridlines sit at its tick values. So a curve's points map exactly back to
(step, value) by the panel's two axes, calibrated on its gridlines. Read here:

- Fig. 5b: the DLN's training loss, one line per variant (log axis 1e2-1e4).
- Fig. 10a, b: the band of the loss, and of the gradient change, along the gradient
  (min and max over the probe's step lengths), standard and BatchNorm.
- Fig. 10c: the effective beta-smoothness, standard and BatchNorm.

Fig. 10's lines have vertices every 50 steps (the paper probed every 50 steps); they
are resampled at those steps, Fig. 5b's at every 10, by linear interpolation in the
plotted (log) scale, which restores the vertices matplotlib dropped. The output is
one tidy table (figure, panel, variant, quantity, step, value), from which
:func:`paper_values` derives the scorecard's DLN numbers with the very measures the
scorecard applies to a run (bnopt.analysis.scorecard.MEASURES).

Needs PyMuPDF (``pip install pymupdf``; not a dependency of the pipeline) and the
paper's PDF (arXiv:1805.11604v5, also in AlexeyGB/batch-norm-helps-optimization
under references/).
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

CURVES = Path(__file__).resolve().parents[2] / "resources" / "paper_curves.csv"
# matplotlib's default colour cycle in the paper's figures: standard red, BatchNorm
# blue, l1 green, l2 purple, l_inf pink.
COLOURS = {(0.89, 0.1, 0.11): "standard", (0.12, 0.47, 0.71): "batchnorm", (0.01, 0.93, 0.23): "l1",
           (0.54, 0.17, 0.89): "l2", (0.96, 0.17, 0.55): "linf"}


@dataclass(frozen=True)
class Panel:
    """One panel: its page (0-based), the box its curves lie in, and its axes: x from
    the gridline of step 0 to that of `steps`, y (log10) from `decades[0]` at the
    lowest labelled gridline to `decades[1]` at the highest."""
    figure: str
    panel: str
    quantity: str
    page: int
    box: tuple[float, float, float, float]  # x0, y0, x1, y1 in PDF points
    decades: tuple[int, int]
    steps: int = 10_000
    every: int = 50  # resampling step: the paper's probe interval (Fig. 10), finer for Fig. 5b
    band: bool = False  # a filled band (min and max) rather than a line


PANELS = (
    Panel("5b", "training loss", "loss", 6, (333.0, 76.0, 485.0, 150.2), (2, 4), every=10),
    Panel("10a", "loss along the gradient", "loss", 15, (128.4, 91.7, 232.3, 170.4), (4, 14), band=True),
    Panel("10b", "gradient predictiveness", "grad_change", 15, (257.8, 91.7, 361.7, 170.4), (2, 16), band=True),
    Panel("10c", "effective beta-smoothness", "effective_beta", 15, (398.5, 92.1, 502.0, 170.5), (7, 15)),
)


def _points(drawing: dict) -> np.ndarray:
    """A path's vertices in order, consecutive duplicates removed."""
    out = []
    for item in drawing["items"]:
        if item[0] == "l":
            out += [(item[1].x, item[1].y), (item[2].x, item[2].y)]
        elif item[0] == "c":
            out += [(item[1].x, item[1].y), (item[4].x, item[4].y)]
    points = np.array(out, dtype=float).reshape(-1, 2)
    keep = np.ones(len(points), dtype=bool)
    keep[1:] = np.any(np.abs(np.diff(points, axis=0)) > 1e-9, axis=1)
    return points[keep]


def _inside(rect, box) -> bool:
    x0, y0, x1, y1 = box
    return rect.x0 >= x0 - 1 and rect.x1 <= x1 + 1 and rect.y0 >= y0 - 1 and rect.y1 <= y1 + 1


def _colour(drawing: dict) -> str | None:
    colour = drawing.get("fill") if drawing.get("fill") else drawing.get("color")
    return COLOURS.get(tuple(round(c, 2) for c in colour)) if colour else None


def _axes(drawings: list[dict], panel: Panel):
    """(step of x, log10 value of y) from the panel's white gridlines."""
    x0, y0, x1, y1 = panel.box
    white = [d for d in drawings if d.get("color") and all(c > 0.99 for c in d["color"]) and _inside(d["rect"], panel.box)]
    vertical = sorted({round(d["rect"].x0, 2) for d in white if abs(d["rect"].x1 - d["rect"].x0) < 1e-6})
    horizontal = sorted({round(d["rect"].y0, 2) for d in white if abs(d["rect"].y1 - d["rect"].y0) < 1e-6})
    if len(vertical) < 2 or len(horizontal) < 2:
        raise ValueError(f"Fig. {panel.figure}: no gridlines found in the box {panel.box}; is this arXiv v5?")
    left, right = vertical[0], vertical[-1]
    bottom, top = horizontal[-1], horizontal[0]  # PDF y grows downwards
    low, high = panel.decades
    return (lambda x: (x - left) / (right - left) * panel.steps,
            lambda y: low + (bottom - y) / (bottom - top) * (high - low))


def _resample(steps: np.ndarray, logs: np.ndarray, grid: np.ndarray) -> np.ndarray:
    order = np.argsort(steps, kind="stable")
    return np.interp(grid, steps[order], logs[order])


def read_panel(page, panel: Panel) -> pd.DataFrame:
    """One panel's curves as tidy rows (variant, quantity, step, value); a band gives
    a `<quantity>_min` and a `<quantity>_max` row per step."""
    drawings = page.get_drawings()
    to_step, to_log = _axes(drawings, panel)
    grid = np.arange(0, panel.steps + 1, panel.every)
    rows = []
    for drawing in drawings:
        variant = _colour(drawing)
        if variant is None or not _inside(drawing["rect"], panel.box):
            continue
        points = _points(drawing)
        if len(points) < 8:  # a legend's sample line or patch
            continue
        steps, logs = to_step(points[:, 0]), to_log(points[:, 1])
        if panel.band:
            # fill_between: along one edge forwards, then along the other backwards
            turn = int(np.argmax(steps)) + 1
            edges = [_resample(steps[:turn], logs[:turn], grid), _resample(steps[turn:], logs[turn:], grid)]
            curves = {f"{panel.quantity}_min": np.minimum(*edges), f"{panel.quantity}_max": np.maximum(*edges)}
        else:
            curves = {panel.quantity: _resample(steps, logs, grid)}
        for quantity, values in curves.items():
            rows += [(panel.figure, panel.panel, variant, quantity, int(s), float(10.0**v)) for s, v in zip(grid, values)]
    return pd.DataFrame(rows, columns=["figure", "panel", "variant", "quantity", "step", "value"])


def digitize(pdf: str | Path) -> pd.DataFrame:
    import pymupdf  # optional: only this tool needs it

    document = pymupdf.open(str(pdf))
    return pd.concat([read_panel(document[p.page], p) for p in PANELS], ignore_index=True)


def load_curves(path: str | Path = CURVES) -> pd.DataFrame:
    return pd.read_csv(path)


def paper_tables(curves: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """The digitized curves as the tables a run's measures read (one seed of each
    variant at lr 1e-6): ``training`` (step, loss) from Fig. 5b, ``landscape_steps``
    (step, loss_min/max, grad_change_min/max, effective_beta) from Fig. 10."""
    base = dict(net="dln", lr=1e-6, seed=0)
    five = curves[curves["figure"] == "5b"]
    training = pd.DataFrame({**base, "variant": five["variant"], "step": five["step"], "loss": five["value"],
                             "accuracy": np.nan})
    ten = curves[curves["figure"].isin(["10a", "10b", "10c"])]
    wide = ten.pivot_table(index=["variant", "step"], columns="quantity", values="value").reset_index()
    landscape_steps = wide.assign(**base)
    return dict(training=training.reset_index(drop=True), landscape_steps=landscape_steps)


def paper_values(curves: pd.DataFrame, numbers: pd.DataFrame) -> dict[str, float]:
    """{id: value} for every scorecard number whose measure the digitized curves hold:
    the scorecard's own measure applied to the paper's curve."""
    from ..analysis.scorecard import MEASURES, TABLES

    tables = paper_tables(curves)
    empty = pd.DataFrame(columns=["net", "variant", "lr", "seed", "step", "layer", "cosine"])
    out = {}
    for n in numbers[numbers["net"] == "dln"].itertuples():
        run = {name: tables.get(name, empty) for name in TABLES}
        value = MEASURES[n.measure]({name: t[t["variant"] == n.variant] for name, t in run.items()})
        if np.isfinite(value):  # a measure of a table the figures do not show is NaN
            out[n.id] = float(value)
    return out


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("pdf", help="the paper's PDF (arXiv:1805.11604v5)")
    parser.add_argument("--out", default=str(CURVES), help="the tidy CSV of curves to write")


def main(args) -> int:
    from ..analysis.scorecard import load_paper_numbers

    if not Path(args.pdf).is_file():
        raise FileNotFoundError(2, "No such file", str(args.pdf))
    curves = digitize(args.pdf)
    curves.to_csv(args.out, index=False, float_format="%.6g")
    print(f"{len(curves)} points of {curves.groupby(['figure', 'variant', 'quantity']).ngroups} curves -> {args.out}")
    for key, value in paper_values(curves, load_paper_numbers()).items():
        print(f"{key}: {value:.4g}")
    return 0
