"""What every figure shares: the variants' colours and order, the theme, saving (PNG +
PDF), one legend per figure, :class:`NoData`, and the helpers that pool seeds into a
median with a band and fit an axis to the runs that trained."""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns

VARIANT_ORDER = ["standard", "batchnorm", "noisy_batchnorm", "noisy_standard", "l1", "l2", "linf", "layernorm",
                 "groupnorm", "weightnorm", "fixup"]
# colorblind's ten colours, but its tenth (light blue) reads as standard's blue: weight norm is
# black, and the ResNet's Fixup (no normalization) a teal of its own.
PALETTE = dict(zip(VARIANT_ORDER, [*sns.color_palette("colorblind", len(VARIANT_ORDER) - 2), (0.0, 0.0, 0.0),
                                   (0.0, 0.55, 0.55)]))
SMOOTHING = 0.02  # rolling window for per-step curves, as a fraction of the run's steps


def apply_theme() -> None:
    sns.set_theme(style="whitegrid", context="paper", font_scale=1.1)


def save(fig: plt.Figure, stem: str, folder: str | Path) -> list[Path]:
    """Write `stem`.png (150 dpi) and `stem`.pdf into `folder`; returns both paths."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    paths = [folder / f"{stem}.png", folder / f"{stem}.pdf"]
    fig.savefig(paths[0], dpi=150, bbox_inches="tight")
    fig.savefig(paths[1], bbox_inches="tight")
    plt.close(fig)
    return paths


def legend(fig: plt.Figure) -> None:
    """One legend for the whole figure, with every label any panel drew, once,
    to the right of the panels (each panel may show a different set of variants)."""
    seen: dict[str, object] = {}
    for ax in fig.axes:
        for handle, label in zip(*ax.get_legend_handles_labels()):
            seen.setdefault(label, handle)
    if seen:
        fig.legend(list(seen.values()), list(seen), loc="center left", bbox_to_anchor=(1.0, 0.5), fontsize=9,
                   frameon=False)


class NoData(ValueError):
    """The tables hold nothing this figure could show (e.g. the config has no such net)."""


def require(table: pd.DataFrame, what: str) -> pd.DataFrame:
    if table.empty:
        raise NoData(f"no {what} in the tables: this config did not produce it")
    return table


def smooth(run: pd.DataFrame, column: str) -> pd.Series:
    window = max(1, int(round(SMOOTHING * len(run))))
    return run[column].astype(float).rolling(window, min_periods=1).mean()


def at_lrs(table: pd.DataFrame, lrs: list[float]) -> pd.DataFrame:
    """The rows of `table` whose learning rate is (to float precision) one of `lrs`."""
    if len(table) == 0 or len(lrs) == 0:
        return table.iloc[0:0]
    return table[np.isclose(table["lr"].to_numpy(dtype=float)[:, None], list(lrs)).any(axis=1)]


def variants_in(table: pd.DataFrame, wanted: list[str] | None) -> list[str]:
    """The variants `table` holds, in VARIANT_ORDER, among `wanted` (None: all)."""
    present = [v for v in VARIANT_ORDER if v in set(table["variant"].unique())]
    return [v for v in present if wanted is None or v in wanted]


SEED_BAND = "median over seeds, shaded from the lowest to the highest seed"


def across_seeds(frame: pd.DataFrame, x: str, column: str) -> pd.DataFrame:
    """Per value of `x`: the median of `column` over the seeds that have a finite value
    there, the lowest and highest of them, and how many seeds there are."""
    finite = frame[np.isfinite(frame[column].to_numpy(dtype=float))]
    if finite.empty:
        return pd.DataFrame(columns=["median", "low", "high", "seeds"], dtype=float)
    grouped = finite.groupby(x)[column]
    return pd.DataFrame(dict(median=grouped.median(), low=grouped.min(), high=grouped.max(), seeds=grouped.size()))


def median_and_band(ax, summary: pd.DataFrame, colour, label=None, marker=None, band=True, linestyle="-") -> None:
    """The across-seed median as a line; the seeds' range as a band where there are
    two or more seeds (one seed draws as a plain line)."""
    ax.plot(summary.index, summary["median"], color=colour, label=label, lw=1.4, marker=marker, ls=linestyle)
    several = summary["seeds"] > 1
    if band and several.any():
        ax.fill_between(summary.index, summary["low"].where(several), summary["high"].where(several), color=colour,
                        alpha=0.2, lw=0)


def is_diverged(diverged: set, variant: str, lr: float, seed) -> bool:
    return any(v == variant and np.isclose(l, lr) and s == seed for v, l, s in diverged)


def clip_to_trained(ax, kept: list[np.ndarray], log: bool = True) -> bool:
    """Fit `ax`'s y-axis to the values of the runs that trained (`kept`), so that a
    diverged run's huge last values do not flatten every other curve; what lies beyond
    is cut off at the axis. Returns whether the axis was narrowed."""
    values = np.concatenate([np.asarray(k, dtype=float).ravel() for k in kept]) if kept else np.array([])
    values = values[np.isfinite(values) & ((values > 0) if log else True)]
    if not len(values):
        return False
    low, high = values.min(), values.max()
    if log:
        low, high = low / 3, high * 3
    else:
        pad = 0.05 * (high - low or 1.0)
        low, high = low - pad, high + pad
    current = ax.get_ylim()
    if current[1] <= high * (1.0001 if log else 1) and current[0] >= low:
        return False
    ax.set_ylim(max(low, current[0]), min(high, current[1]))
    return True


def mark_cut_off(ax, variant_colour) -> None:
    ax.annotate("axis fitted to the runs that trained; a diverged run is cut off", xy=(0.02, 0.98),
                xycoords="axes fraction", va="top", fontsize=7, color=variant_colour)
