"""Beyond the paper: the loss around the trained weights, as the blog post pictures it.
2D loss surfaces along two filter-normalized random directions (Li et al. 2018) and
the 1D line from the initial to the trained weights (Goodfellow et al. 2015)."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from ...measure.surface import barrier, centre_loss, rise
from ..measures import fmt
from .choices import PAPER_LRS, Spec, diverged_runs, lrs_for, need
from .style import PALETTE, NoData, apply_theme, at_lrs, legend, require, variants_in

SURFACE_CMAP = "viridis"
# Filter normalization scales a direction's filter to the weight's: Fixup's zero-initialized
# layers (each branch's last conv, the classifier) get a zero direction at step 0.
FIXUP_AT_START = (" At step 0 Fixup's zero-initialized layers (each residual branch's last conv and the "
                  "classifier) are not moved by the filter-normalized directions: its surface there moves the "
                  "other layers only.")


def surfaces_at(surface: pd.DataFrame, net: str, lr: float, step: int, seed: int | None = None) -> pd.DataFrame:
    """The rows of every variant's surface of `net` at `lr` and `step` (and `seed`)."""
    rows = surface[(surface["net"] == net) & (surface["step"] == step)]
    if seed is not None:
        rows = rows[rows["seed"] == seed]
    return at_lrs(rows, [lr])


def _surface_grid(table: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One surface's (a, b, loss) as 2D arrays, rows along b; a non-finite loss (the
    network blew up there) is NaN, drawn as a hole."""
    grid = table.pivot_table(index="b", columns="a", values="loss", aggfunc="first", dropna=False)
    a, b = np.meshgrid(grid.columns.to_numpy(dtype=float), grid.index.to_numpy(dtype=float))
    loss = grid.to_numpy(dtype=float)
    return a, b, np.where(np.isfinite(loss), loss, np.nan)


def surface_levels(tables: list[pd.DataFrame], count: int = 15) -> np.ndarray:
    """Log-spaced contour levels spanning every surface in `tables`: one colour scale
    for all of them, so a smooth and a rugged surface compare by eye."""
    values = np.concatenate([t["loss"].to_numpy(dtype=float) for t in tables]) if tables else np.array([])
    values = values[np.isfinite(values) & (values > 0)]
    if not len(values):
        raise NoData("no finite positive loss on any surface")
    low, high = values.min(), values.max()
    if high <= low * 1.0001:
        high = low * 1.01
    return np.geomspace(low, high, count)


def _contour(ax, table: pd.DataFrame, levels: np.ndarray, title: str, ylabel: bool = True) -> None:
    from matplotlib.colors import LogNorm

    a, b, loss = _surface_grid(table)
    clipped = np.clip(loss, levels[0], levels[-1])
    ax.contourf(a, b, clipped, levels=levels, norm=LogNorm(levels[0], levels[-1]), cmap=SURFACE_CMAP)
    ax.contour(a, b, clipped, levels=levels, colors="white", linewidths=0.3, alpha=0.6)
    ax.plot([0], [0], marker="+", color="red", ms=10, mew=2)
    ax.set_aspect("equal")
    ax.xaxis.set_major_locator(plt.MaxNLocator(5))
    ax.yaxis.set_major_locator(plt.MaxNLocator(5))
    ax.set_xlabel("a (direction 1)")
    if ylabel:
        ax.set_ylabel("b (direction 2)")
    ax.set_title(title, fontsize="medium")
    ax.grid(False)


def _loss_colourbar(fig: plt.Figure, levels: np.ndarray, cax) -> None:
    """One log colour bar (ticks at decades) for every panel of a surface figure."""
    from matplotlib.cm import ScalarMappable
    from matplotlib.colors import LogNorm

    bar = fig.colorbar(ScalarMappable(norm=LogNorm(levels[0], levels[-1]), cmap=SURFACE_CMAP), cax=cax)
    bar.set_label("loss (one scale for every panel)")


def surfaces(surface: pd.DataFrame, net: str, lr: float, step: int, seed: int,
             variants: list[str]) -> plt.Figure:
    """Filled contours on log-spaced levels (top) and the 3D surface of log10 loss
    (bottom) of each variant's surface at `lr`, `step`, `seed`, side by side with one
    colour scale; the red + is the run's own weights."""
    apply_theme()
    runs = surfaces_at(surface, net, lr, step, seed)
    present = variants_in(require(runs, f"{net} surfaces at lr {lr:g}"), variants)
    tables = [runs[runs["variant"] == v] for v in present]
    levels = surface_levels(tables)
    fig = plt.figure(figsize=(4.4 * len(present) + 1.4, 8.6))
    fig.subplots_adjust(left=0.08, right=0.86, top=0.9, bottom=0.04, wspace=0.25, hspace=0.22)
    for k, (variant, table) in enumerate(zip(present, tables)):
        _contour(fig.add_subplot(2, len(present), k + 1), table, levels, f"{variant}: loss around step {step}",
                 ylabel=k == 0)
        ax3 = fig.add_subplot(2, len(present), len(present) + k + 1, projection="3d")
        a, b, loss = _surface_grid(table)
        z = np.log10(np.clip(loss, levels[0], levels[-1]))
        ax3.plot_surface(a, b, z, cmap=SURFACE_CMAP, linewidth=0, antialiased=True,
                         norm=plt.Normalize(np.log10(levels[0]), np.log10(levels[-1])))
        ax3.set_zlim(np.log10(levels[0]), np.log10(levels[-1]))
        ax3.set_xlabel("a")
        ax3.set_ylabel("b")
        ax3.set_zlabel("log10 loss")
    _loss_colourbar(fig, levels, fig.add_axes([0.9, 0.3, 0.018, 0.45]))
    fig.suptitle(f"{net.upper()} loss surface, lr = {lr:g}, seed {seed}: filter-normalized random directions")
    return fig


def surface_contours(surface: pd.DataFrame, net: str, lr: float, step: int, seed: int) -> plt.Figure:
    """Every variant's surface at `lr` as filled contours in a grid, one colour scale."""
    apply_theme()
    runs = surfaces_at(surface, net, lr, step, seed)
    present = variants_in(require(runs, f"{net} surfaces at lr {lr:g}"), None)
    tables = [runs[runs["variant"] == v] for v in present]
    levels = surface_levels(tables)
    cols = min(4, len(present))
    rows = int(np.ceil(len(present) / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(3.6 * cols + 1.2, 3.6 * rows + 0.6), squeeze=False)
    fig.subplots_adjust(right=0.86, wspace=0.3, hspace=0.35)
    for k, (ax, variant, table) in enumerate(zip(axes.flat, present, tables)):
        _contour(ax, table, levels, variant, ylabel=k % cols == 0)
    for ax in list(axes.flat)[len(present):]:
        ax.set_visible(False)
    _loss_colourbar(fig, levels, fig.add_axes([0.89, 0.25, 0.02, 0.5]))
    fig.suptitle(f"{net.upper()} loss surfaces of every variant, lr = {lr:g}, step {step}, seed {seed}")
    return fig


def interpolation_curves(line: pd.DataFrame, net: str) -> plt.Figure:
    """The loss along the straight line from the initial weights (alpha 0) to the
    chosen step's (alpha 1), one line per variant, one panel per learning rate (the
    lowest seed, the last step measured); log loss axis."""
    apply_theme()
    runs = require(line[line["net"] == net], f"{net} interpolation lines")
    lrs = sorted(runs["lr"].unique())
    fig, axes = plt.subplots(1, len(lrs), figsize=(4.6 * len(lrs), 3.6), squeeze=False)
    for ax, lr in zip(axes[0], lrs):
        at = at_lrs(runs, [lr])
        seed, step = int(at["seed"].min()), int(at["step"].max())
        at = at[(at["seed"] == seed) & (at["step"] == step)]
        for variant in variants_in(at, None):
            curve = at[at["variant"] == variant].sort_values("alpha")
            loss = curve["loss"].to_numpy(dtype=float)
            ax.plot(curve["alpha"], np.where(np.isfinite(loss), loss, np.nan), color=PALETTE[variant], label=variant,
                    lw=1.4)
        for x in (0.0, 1.0):
            ax.axvline(x, color="grey", ls=":", lw=1)
        ax.set_yscale("log")
        ax.xaxis.set_major_locator(plt.MaxNLocator(5))
        ax.set_xlabel(f"alpha (0: initial weights, 1: step {step})")
        ax.set_ylabel("loss")
        ax.set_title(f"{net.upper()} lr {lr:g}, seed {seed}")
    fig.tight_layout()
    legend(fig)
    return fig


# --------------------------------------------------------------------------- what they show


def _surface_choice(t, config, net, variants):
    """The surface to draw: the paper's lr among those with surfaces of every one of
    `variants`, the lowest seed, the last step measured."""
    table = t.get("surface", pd.DataFrame())
    if table.empty or net not in set(table["net"].unique()):
        raise NoData(f"no {net} loss surfaces: add nets.{net}.surface to the config")
    need(table, net, variants, "loss surfaces")
    (lr,), note = lrs_for(table, net, variants, PAPER_LRS[net], 1)
    at = at_lrs(table[table["net"] == net], [lr])
    seed = int(at["seed"].min())
    step = int(at.loc[at["seed"] == seed, "step"].max())
    return table, lr, seed, step, note


def surface_rises(table: pd.DataFrame, net: str, lr: float, step: int, radius: float) -> pd.DataFrame:
    """Per variant and seed: the median relative loss rise on the circles of radius r/2
    and r, the absolute rise at r/2 (bnopt.surface.rise), and the centre's loss."""
    rows = []
    for (variant, seed), one in surfaces_at(table, net, lr, step).groupby(["variant", "seed"]):
        rows.append(dict(variant=variant, seed=int(seed), centre=centre_loss(one),
                         half=rise(one, radius, 0.5), edge=rise(one, radius, 1.0),
                         half_absolute=rise(one, radius, 0.5, relative=False)))
    return pd.DataFrame(rows, columns=["variant", "seed", "centre", "half", "edge", "half_absolute"])


def _rises_said(rises: pd.DataFrame, radius: float, variants: list[str] | None = None) -> str:
    parts = []
    for variant in variants_in(rises, variants):
        mine = rises[rises["variant"] == variant]
        half = ", ".join(f"{fmt(v)}" for v in mine["half"])
        edge = ", ".join(f"{fmt(v)}" for v in mine["edge"])
        seeds = "" if len(mine) == 1 else f" (seeds {', '.join(str(s) for s in mine['seed'])})"
        centre = ", ".join(f"{fmt(v)}" for v in mine["centre"])
        absolute = ", ".join(f"{fmt(v)}" for v in mine["half_absolute"])
        parts.append(f"{variant} {half} at r/2, {edge} at r (centre loss {centre}; absolute rise at r/2 "
                     f"{absolute}){seeds}")
    return (f" Median relative loss rise (L - L_centre) / L_centre on the circle of radius r/2 = {radius / 2:g} "
            f"and r = {radius:g} around the weights: " + "; ".join(parts) + ".")


def _no_surface(t, config, net: str, lr: float, seed: int, drawn: set) -> str:
    """Which selected variants have no surface to draw, and why."""
    diverged = diverged_runs(t["runs"], net)
    missing = [v for v in config["nets"][net]["surface"]["variants"] if v not in drawn]
    if not missing:
        return ""
    why = [f"{v} ({'diverged before this step' if (v, float(lr), seed) in diverged else 'not run at this lr'})"
           for v in missing]
    return " No surface for " + ", ".join(why) + "."


def _surfaces(net):
    def draw(t, config):
        variants = ["standard", "batchnorm"]
        table, lr, seed, step, note = _surface_choice(t, config, net, variants)
        fig = surfaces(table, net, lr, step, seed, variants)
        radius = config["nets"][net]["surface"]["radius"]
        rises = surface_rises(table, net, lr, step, radius)
        return fig, (note + f" This run: lr {lr:g}, step {step}, seed {seed}." + _rises_said(rises, radius, variants)
                     + " The paper's claim (BatchNorm makes the landscape smoother) predicts a smaller rise for "
                     "batchnorm; the relative rise also grows as the centre's loss falls, so a better-trained "
                     "network shows a larger one: compare the absolute rise too. Directions are filter-normalized, "
                     "so batchnorm's scale invariance does not flatter it; biases and normalization parameters stay "
                     "fixed (Li et al.'s biasbn).")
    return draw


def _surface_variants(net):
    def draw(t, config):
        table, lr, seed, step, note = _surface_choice(t, config, net, ["standard", "batchnorm"])
        at = surfaces_at(table, net, lr, step, seed)
        if at["variant"].nunique() <= 2:
            raise NoData(f"only standard and batchnorm have {net} surfaces (the pair is the figure above); "
                         f"add variants to nets.{net}.surface.variants")
        fig = surface_contours(table, net, lr, step, seed)
        radius = config["nets"][net]["surface"]["radius"]
        return fig, (note + f" This run: lr {lr:g}, step {step}, seed {seed}."
                     + _rises_said(surface_rises(table, net, lr, step, radius), radius)
                     + _no_surface(t, config, net, lr, seed, set(at["variant"].unique()))
                     + (FIXUP_AT_START if step == 0 and "fixup" in set(at["variant"]) else ""))
    return draw


def _interpolation(net):
    def draw(t, config):
        line = t.get("interpolation", pd.DataFrame())
        if line.empty or net not in set(line["net"].unique()):
            raise NoData(f"no {net} interpolation lines: add nets.{net}.surface to the config")
        fig = interpolation_curves(line, net)
        parts = []
        for (lr, variant), one in line[line["net"] == net].groupby(["lr", "variant"]):
            one = one[(one["seed"] == one["seed"].min()) & (one["step"] == one["step"].max())]
            bump = barrier(one)
            parts.append(f"lr {lr:g} {variant}: highest loss between alpha 0 and 1 is {fmt(bump)}x the higher end")
        return fig, (" This run: " + "; ".join(parts) + ". A value of 1 means the loss falls monotonically along "
                     "the line (Goodfellow et al. found this for their networks); a bump is a barrier between the "
                     "initial and the trained weights.")
    return draw


SURFACE_VGG = Spec(
    "surface_vgg", "Beyond the paper: VGG loss surface, standard vs BN",
    "Not in the paper: the blog post's picture (Li et al. 2018), the loss over a 2D grid around the trained "
    "weights along two filter-normalized random directions, filled contours and a 3D view on one colour "
    "scale.", _surfaces("vgg"))
SURFACE_DLN = Spec(
    "surface_dln", "Beyond the paper: DLN loss surface, standard vs BN",
    "Not in the paper: the blog post's picture, as for VGG.", _surfaces("dln"))
SURFACE_VARIANTS_VGG = Spec(
    "surface_variants_vgg", "Beyond the paper: VGG loss surfaces of every variant",
    "Not in the paper: every variant's surface at one lr, one colour scale.", _surface_variants("vgg"))
SURFACE_VARIANTS_DLN = Spec(
    "surface_variants_dln", "Beyond the paper: DLN loss surfaces of every variant",
    "Not in the paper: every variant's surface at one lr, one colour scale.", _surface_variants("dln"))
INTERPOLATION_VGG = Spec(
    "interpolation_vgg", "Beyond the paper: VGG loss from the initial to the trained weights",
    "Not in the paper: the loss on the straight line theta_0 + alpha (theta_t - theta_0), alpha in "
    "[-0.5, 1.5] (Goodfellow et al. 2015).", _interpolation("vgg"))
INTERPOLATION_DLN = Spec(
    "interpolation_dln", "Beyond the paper: DLN loss from the initial to the trained weights",
    "Not in the paper: the 1D line, as for VGG.", _interpolation("dln"))
SURFACE_RESNET = Spec(
    "surface_resnet", "Beyond the paper: ResNet loss surface, standard vs BN",
    "Not in the paper: the blog post's picture, as for VGG, of a CIFAR ResNet (Li et al. 2018 drew theirs "
    "with and without skip connections).", _surfaces("resnet"))
INTERPOLATION_RESNET = Spec(
    "interpolation_resnet", "Beyond the paper: ResNet loss from the initial to the trained weights",
    "Not in the paper: the 1D line, as for VGG.", _interpolation("resnet"))
SURFACE_VARIANTS_RESNET = Spec(
    "surface_variants_resnet", "Beyond the paper: ResNet loss surfaces of every variant",
    "Not in the paper: every ResNet variant's surface at one lr (Fixup's among them), one colour scale.",
    _surface_variants("resnet"))
