"""The paper's figures from the tidy tables (results/tables/*.parquet).

Plotting only: every function takes tables and returns a matplotlib Figure, so
restyling never recomputes anything. :func:`save` writes PNG and PDF.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402

VARIANT_ORDER = ["standard", "batchnorm", "noisy_batchnorm", "noisy_standard", "l1", "l2", "linf", "layernorm",
                 "groupnorm", "weightnorm"]
# colorblind's ten colours, but its tenth (light blue) reads as standard's blue: weight norm is black.
PALETTE = dict(zip(VARIANT_ORDER, [*sns.color_palette("colorblind", len(VARIANT_ORDER) - 1), (0.0, 0.0, 0.0)]))
SMOOTHING = 0.02  # rolling window for per-step curves, as a fraction of the run's steps


def _style() -> None:
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


def _legend(fig: plt.Figure) -> None:
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


def _require(table: pd.DataFrame, what: str) -> pd.DataFrame:
    if table.empty:
        raise NoData(f"no {what} in the tables: this config did not produce it")
    return table


def _smooth(run: pd.DataFrame, column: str) -> pd.Series:
    window = max(1, int(round(SMOOTHING * len(run))))
    return run[column].astype(float).rolling(window, min_periods=1).mean()


def at_lrs(table: pd.DataFrame, lrs: list[float]) -> pd.DataFrame:
    """The rows of `table` whose learning rate is (to float precision) one of `lrs`."""
    if len(table) == 0 or len(lrs) == 0:
        return table.iloc[0:0]
    return table[np.isclose(table["lr"].to_numpy(dtype=float)[:, None], list(lrs)).any(axis=1)]


def _variants(table: pd.DataFrame, wanted: list[str] | None) -> list[str]:
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


def _median_and_band(ax, summary: pd.DataFrame, colour, label=None, marker=None, band=True) -> None:
    """The across-seed median as a line; the seeds' range as a band where there are
    two or more seeds (one seed draws as a plain line)."""
    ax.plot(summary.index, summary["median"], color=colour, label=label, lw=1.4, marker=marker)
    several = summary["seeds"] > 1
    if band and several.any():
        ax.fill_between(summary.index, summary["low"].where(several), summary["high"].where(several), color=colour,
                        alpha=0.2, lw=0)


def _is_diverged(diverged: set, variant: str, lr: float, seed) -> bool:
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


def _mark_cut_off(ax, variant_colour) -> None:
    ax.annotate("axis fitted to the runs that trained; a diverged run is cut off", xy=(0.02, 0.98),
                xycoords="axes fraction", va="top", fontsize=7, color=variant_colour)


def training_curves(training: pd.DataFrame, evals: pd.DataFrame, net: str = "vgg",
                    variants: list[str] | None = None, lrs: list[float] | None = None) -> plt.Figure:
    """Fig. 1 / 5: training accuracy (VGG; loss for the DLN) and test accuracy per lr,
    one colour per variant. Each seed's curve is smoothed over 2% of the run; with
    several seeds the line is their median and the band their range. A diverged
    seed's curve ends at the step it diverged, marked with an x; the loss axis is
    fitted to the seeds that did not diverge."""
    _style()
    train = training[training["net"] == net]
    if lrs is not None:
        train = at_lrs(train, lrs)
    train = _require(train[train["variant"].isin(_variants(train, variants))], f"{net} training runs")
    test = evals[evals["net"] == net]
    lrs = sorted(train["lr"].unique())
    metric = "accuracy" if net == "vgg" else "loss"
    columns = 2 if net == "vgg" else 1
    fig, axes = plt.subplots(columns, len(lrs), figsize=(4.2 * len(lrs), 3.4 * columns), squeeze=False)
    for j, lr in enumerate(lrs):
        ax, kept, cut = axes[0, j], [], False
        for variant in _variants(train[train["lr"] == lr], variants):
            runs = train[(train["lr"] == lr) & (train["variant"] == variant)].sort_values(["seed", "step"])
            smoothed = []
            for seed, run in runs.groupby("seed"):
                run = run.assign(smoothed=_smooth(run, metric).to_numpy())
                smoothed.append(run)
                finite = np.isfinite(run["loss"].to_numpy(dtype=float)) & np.isfinite(run["smoothed"].to_numpy())
                if not finite.all():
                    last = run[finite].iloc[-1] if finite.any() else run.iloc[0]
                    ax.plot(last["step"], last["smoothed"] if metric == "loss" else 0, "x", color=PALETTE[variant],
                            ms=9, mew=2)
                    cut = True
                else:
                    kept.append(run["smoothed"].to_numpy())
            _median_and_band(ax, across_seeds(pd.concat(smoothed), "step", "smoothed"), PALETTE[variant], variant)
            if net == "vgg":
                t = test[(test["lr"] == lr) & (test["variant"] == variant)]
                _median_and_band(axes[1, j], across_seeds(t, "step", "test_accuracy"), PALETTE[variant], marker=".")
        ax.set_title(f"{net.upper()}, lr = {lr:g}")
        ax.set_ylabel("training accuracy" if net == "vgg" else "training loss")
        if net == "dln":
            ax.set_yscale("log")
            if cut and clip_to_trained(ax, kept):
                _mark_cut_off(ax, "black")
        else:
            axes[1, j].set_ylabel("test accuracy")
            axes[1, j].set_xlabel("step")
        axes[-1, j].set_xlabel("step")
    fig.tight_layout()
    _legend(fig)
    return fig


def landscape(steps: pd.DataFrame, net: str, lrs: float | list[float],
              variants: list[str] | None = None, diverged: set = frozenset()) -> plt.Figure:
    """Fig. 4 / 10 / 12 / 13: along the gradient, per probe step, the range of the loss
    and of the gradient change over the step lengths (shaded bands; with several seeds
    the median over seeds of each seed's band), and the effective beta-smoothness
    (median over seeds, band: their range), log scales as in the paper; one row per lr.
    `diverged` holds (variant, lr, seed) of runs that diverged: the axes are fitted to
    the others and the diverged runs' values are cut off at the axis."""
    _style()
    lrs = [lrs] if np.isscalar(lrs) else list(lrs)
    wanted = at_lrs(steps[steps["net"] == net], lrs)
    table = _require(wanted, f"{net} landscape probes at lr {', '.join(f'{lr:g}' for lr in lrs)}")
    present = [lr for lr in lrs if np.isclose(table["lr"], lr).any()]
    fig, axes = plt.subplots(len(present), 3, figsize=(13, 3.6 * len(present)), squeeze=False)
    titles = ["loss landscape", "gradient predictiveness", "effective beta-smoothness"]
    labels = ["loss along the gradient", "||g - grad L(x - eta g)||", "max over eta of beta_eta"]
    bands = [("loss_min", "loss_max"), ("grad_change_min", "grad_change_max")]
    for i, lr in enumerate(present):
        sub = table[np.isclose(table["lr"], lr)]
        kept, cut = [[], [], []], False
        for variant in _variants(sub, variants):
            runs = sub[sub["variant"] == variant]
            colour = PALETTE[variant]
            for k, (low, high) in enumerate(bands):
                band = runs.groupby("step")[[low, high]].median()
                axes[i, k].fill_between(band.index, band[low], band[high], color=colour, alpha=0.35,
                                        label=variant if k == 0 else None)
            _median_and_band(axes[i, 2], across_seeds(runs, "step", "effective_beta"), colour, marker=".")
            for seed, run in runs.groupby("seed"):
                if _is_diverged(diverged, variant, lr, seed):
                    cut = True
                    continue
                for k, columns in enumerate([*bands, ("effective_beta",)]):
                    kept[k].append(run[list(columns)].to_numpy())
        for k, (ax, title, label) in enumerate(zip(axes[i], titles, labels)):
            ax.set_title(f"{title} ({net.upper()}, lr = {lr:g})")
            ax.set_yscale("log")
            ax.set_xlabel("step")
            ax.set_ylabel(label)
            if cut and clip_to_trained(ax, kept[k]):
                _mark_cut_off(ax, "black")
    fig.tight_layout()
    _legend(fig)
    return fig


def internal_covariate_shift(ics: pd.DataFrame, net: str, layers: list[int]) -> plt.Figure:
    """Fig. 3: ||G - G'|| and cos(G, G') over training, standard vs BN, per lr and layer
    (median over seeds, band: their range)."""
    _style()
    table = _require(ics[(ics["net"] == net) & ics["layer"].isin(layers)], f"{net} ICS probes at layers {layers}")
    lrs = sorted(table["lr"].unique())
    fig, axes = plt.subplots(2, max(1, len(lrs) * len(layers)), figsize=(3.6 * max(1, len(lrs) * len(layers)), 6),
                             squeeze=False)
    for k, (lr, layer) in enumerate((lr, layer) for lr in lrs for layer in layers):
        for variant in _variants(table, ["standard", "batchnorm"]):
            runs = table[np.isclose(table["lr"], lr) & (table["layer"] == layer) & (table["variant"] == variant)]
            _median_and_band(axes[0, k], across_seeds(runs, "step", "l2"), PALETTE[variant], variant, marker=".")
            _median_and_band(axes[1, k], across_seeds(runs, "step", "cosine"), PALETTE[variant], marker=".")
        axes[0, k].set_title(f"{net.upper()} layer #{layer}, lr = {lr:g}")
        axes[0, k].set_yscale("log")
        axes[0, k].set_ylabel("||G - G'||")
        axes[1, k].set_ylabel("cos(G, G')")
        axes[1, k].set_xlabel("step")
    fig.tight_layout()
    _legend(fig)
    return fig


def curvature(curv: pd.DataFrame, net: str) -> plt.Figure:
    """Beyond the paper: the top Hessian eigenvalue over training with 2/lr (the
    stability threshold of gradient descent) as a dashed line, per lr (median over
    seeds, band: their range), on a log axis (symmetric log where a value is negative, so it shows below zero)."""
    _style()
    table = _require(curv[curv["net"] == net], f"{net} curvature probes")
    lrs = sorted(table["lr"].unique())
    fig, axes = plt.subplots(1, max(1, len(lrs)), figsize=(4.2 * max(1, len(lrs)), 3.4), squeeze=False)
    for j, lr in enumerate(lrs):
        ax = axes[0, j]
        sub = table[np.isclose(table["lr"], lr)]
        for variant in _variants(sub, None):
            _median_and_band(ax, across_seeds(sub[sub["variant"] == variant], "step", "top_eigenvalue"),
                             PALETTE[variant], variant, marker=".")
        ax.axhline(2.0 / lr, color="black", ls="--", lw=1, label="2 / lr")
        if (sub["top_eigenvalue"] > 0).all():
            ax.set_yscale("log")
        else:
            # The top eigenvalue can be negative (e.g. at initialization): a symmetric
            # log axis shows it below zero instead of dropping it.
            magnitudes = sub["top_eigenvalue"].abs()
            smallest = magnitudes[magnitudes > 0].min() if (magnitudes > 0).any() else 1.0
            ax.set_yscale("symlog", linthresh=10 ** np.floor(np.log10(min(smallest, 2.0 / lr))))
        ax.set_title(f"{net.upper()}, lr = {lr:g}")
        ax.set_xlabel("step")
        ax.set_ylabel("top Hessian eigenvalue")
    fig.tight_layout()
    _legend(fig)
    return fig


def moment_drift(moments: pd.DataFrame, net: str, lr: float, layers: list[int],
                 variants: list[str] | None = ("standard", "batchnorm", "noisy_batchnorm")) -> plt.Figure:
    """Fig. 8: how the per-unit mean and variance move. Rows 1-2: between two
    successive steps, |mu_t+1 - mu_t| and |var_t+1 - var_t| (step t+1 after step t's
    update, on its own minibatch and noise); rows 3-4: since the start, |mu_t - mu_0|
    and |var_t - var_0|. Each point is the median over the layer's units (then the
    median over seeds, band: their range)."""
    _style()
    table = _require(moments[(moments["net"] == net) & np.isclose(moments["lr"], lr) & moments["layer"].isin(layers)],
                     f"{net} activation moments at lr {lr:g}")
    present = sorted(set(table["layer"]))
    rows = [("|mu_t+1 - mu_t|", "dmean"), ("|var_t+1 - var_t|", "dvar"), ("|mu_t - mu_0|", "mean0"),
            ("|var_t - var_0|", "var0")]
    fig, axes = plt.subplots(len(rows), len(present), figsize=(3.8 * len(present), 2.7 * len(rows)), squeeze=False)
    for j, layer in enumerate(present):
        for variant in _variants(table, list(variants) if variants else None):
            unit = table[(table["layer"] == layer) & (table["variant"] == variant)]
            unit = unit.sort_values(["seed", "unit", "step"])
            first = unit.groupby(["seed", "unit"])[["mean", "var"]].transform("first")
            drift = unit.assign(dmean=(unit["mean_next"] - unit["mean"]).abs(),
                                dvar=(unit["var_next"] - unit["var"]).abs(),
                                mean0=(unit["mean"] - first["mean"]).abs(), var0=(unit["var"] - first["var"]).abs())
            # Per seed, the median over the layer's units; then across seeds.
            per_step = drift.groupby(["seed", "step"])[[column for _, column in rows]].median().reset_index()
            since_start = per_step["step"] > per_step["step"].min()  # |x_0 - x_0| = 0 has no place on a log axis
            for i, (_, column) in enumerate(rows):
                shown = per_step if i < 2 else per_step[since_start]
                _median_and_band(axes[i, j], across_seeds(shown, "step", column), PALETTE[variant],
                                 variant if i == 0 else None, marker=".")
        axes[0, j].set_title(f"{net.upper()} layer #{layer}, lr = {lr:g}")
        for i, (label, _) in enumerate(rows):
            axes[i, j].set_ylabel(label)
            axes[i, j].set_yscale("log")
        axes[-1, j].set_xlabel("step")
    fig.tight_layout()
    _legend(fig)
    return fig


def gradient_change_vs_eta(landscape_table: pd.DataFrame, net: str, lr: float,
                           variants: list[str] | None = ("standard", "batchnorm")) -> plt.Figure:
    """Fig. 11: ||g - grad L(x - eta g)|| against the step length eta, one curve per
    probed training step (darker = later), per variant; with several seeds, the
    median over seeds (bands would hide the steps)."""
    _style()
    table = _require(landscape_table[(landscape_table["net"] == net) & np.isclose(landscape_table["lr"], lr)],
                     f"{net} landscape probes at lr {lr:g}")
    shown = _variants(table, list(variants) if variants else None)
    fig, axes = plt.subplots(1, len(shown), figsize=(4.4 * len(shown), 3.6), squeeze=False, sharey=True)
    steps = sorted(table["step"].unique())
    colours = sns.color_palette("viridis_r", len(steps))
    for j, variant in enumerate(shown):
        ax = axes[0, j]
        for colour, step in zip(colours, steps):
            run = table[(table["variant"] == variant) & (table["step"] == step)]
            curve = run.groupby("eta")["grad_change"].median()
            ax.plot(curve.index, curve.to_numpy(), color=colour, marker=".", lw=1)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_title(f"{variant} ({net.upper()}, lr = {lr:g})")
        ax.set_xlabel("step length eta")
        ax.set_ylabel("||g - grad L(x - eta g)||")
    mappable = plt.cm.ScalarMappable(cmap="viridis_r", norm=plt.Normalize(min(steps), max(steps)))
    fig.colorbar(mappable, ax=axes[0, :].tolist(), label="training step")
    return fig


HISTOGRAMS_PER_ROW = 4


def activation_histograms(activations: pd.DataFrame, net: str, lr: float, layers: list[int],
                          variants: list[str] | None = ("standard", "batchnorm", "noisy_batchnorm"),
                          bins: int = 60) -> plt.Figure:
    """Fig. 1c / 2 / 6 / 9: the distribution of one recorded unit's values (after
    normalization and noise, before the ReLU) at each probe step, stacked as a
    ridgeline with training going down; the lowest seed of each variant."""
    _style()
    table = _require(activations[(activations["net"] == net) & np.isclose(activations["lr"], lr)
                                 & activations["layer"].isin(layers)], f"{net} activations at lr {lr:g}")
    # One seed's distributions (the lowest seed each variant has): histograms of
    # several seeds would blur the shapes the figure is about.
    table = table[table["seed"] == table.groupby("variant")["seed"].transform("min")]
    shown = _variants(table, list(variants) if variants else None)
    present = sorted(set(table["layer"]))
    # One row per variant and one column per layer; a single layer puts the variants side by
    # side, HISTOGRAMS_PER_ROW to a row (every normalization would make one row too wide to read).
    side_by_side = len(present) == 1
    if side_by_side:
        columns = min(len(shown), HISTOGRAMS_PER_ROW)
        rows = -(-len(shown) // columns)
    else:
        rows, columns = len(shown), len(present)
    fig, axes = plt.subplots(rows, columns, figsize=(3.4 * columns, 3.0 * rows), squeeze=False)
    for ax in axes.flat[len(shown):] if side_by_side else []:
        ax.set_axis_off()
    for i, variant in enumerate(shown):
        for j, layer in enumerate(present):
            ax = axes[i // columns, i % columns] if side_by_side else axes[i, j]
            sub = table[(table["variant"] == variant) & (table["layer"] == layer)]
            if sub.empty:
                ax.set_axis_off()
                continue
            unit = sorted(sub["unit"].unique())[0]
            sub = sub[sub["unit"] == unit]
            steps = sorted(sub["step"].unique())
            low, high = np.nanpercentile(sub["value"], [0.5, 99.5])
            edges = np.linspace(low, high, bins + 1)
            for k, step in enumerate(steps):
                counts, _ = np.histogram(sub.loc[sub["step"] == step, "value"], bins=edges, density=True)
                counts = counts / counts.max() if counts.max() > 0 else counts
                offset = (len(steps) - 1 - k) * 0.6
                ax.fill_between(edges[:-1], offset, offset + counts, step="post", color=PALETTE[variant], alpha=0.6,
                                lw=0.5, edgecolor="black")
            ax.set_yticks([(len(steps) - 1 - k) * 0.6 for k in range(len(steps))], [str(s) for s in steps],
                          fontsize=7)
            ax.set_title(f"{variant}, layer #{layer}, unit {unit}", fontsize=9)
            if ax in axes[:, 0]:
                ax.set_ylabel("step")
            ax.grid(False)
    fig.suptitle(f"{net.upper()} activations before the non-linearity, lr = {lr:g}", y=1.0)
    fig.tight_layout()
    return fig


def lr_sensitivity(scores: pd.DataFrame, steps: pd.DataFrame, net: str, paper_lrs: list[float], level: float,
                   variants: list[str] | None = None) -> plt.Figure:
    """The learning-rate sensitivity of each variant: its final score (VGG: smoothed
    training accuracy, and test accuracy dashed; DLN: smoothed training loss, log
    axis) against the learning rate (log axis), median over seeds with their range as
    a band, a diverged seed marked x at the panel's edge; beside it, the steps until
    the run is trained, i.e. reaches `level` (see bnopt.sensitivity.steps_to_level).
    Dotted lines: the paper's learning rates."""
    _style()
    table = _require(scores, f"{net} runs at several learning rates")
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.8), squeeze=False)
    score_ax, steps_ax = axes[0]
    for variant in _variants(table, variants):
        colour = PALETTE[variant]
        runs = table[table["variant"] == variant]
        _median_and_band(score_ax, across_seeds(runs, "lr", "score"), colour, variant, marker="o")
        if net == "vgg" and runs["test"].notna().any():
            test = across_seeds(runs.dropna(subset=["test"]), "lr", "test")
            score_ax.plot(test.index, test["median"], color=colour, ls="--", lw=1.1, marker=".")
        diverged = runs[runs["diverged"]]
        if len(diverged):
            edge = 0.0 if net == "vgg" else None
            y = edge if edge is not None else np.nanmax(np.where(np.isfinite(table["score"]), table["score"], np.nan))
            score_ax.plot(diverged["lr"], [y] * len(diverged), "x", color=colour, ms=9, mew=2)
        reached = steps[steps["variant"] == variant]
        _median_and_band(steps_ax, across_seeds(reached, "lr", "steps"), colour, marker="o")
    for ax in (score_ax, steps_ax):
        ax.set_xscale("log")
        ax.set_xlabel("learning rate")
        for lr in paper_lrs:
            ax.axvline(lr, color="grey", ls=":", lw=1)
    if net == "vgg":
        score_ax.set_ylabel("final accuracy (train solid, test dashed)")
        reached_at = f"smoothed accuracy >= {level:g}"
    else:
        score_ax.set_ylabel("final training loss")
        score_ax.set_yscale("log")
        reached_at = f"smoothed loss <= {level:,.0f}"
    steps_ax.set_ylabel("steps until trained")
    score_ax.set_title(f"{net.upper()}: final score against the learning rate")
    steps_ax.set_title(f"{net.upper()}: steps until {reached_at}\n(never: not drawn)", fontsize="medium")
    fig.tight_layout()
    _legend(fig)
    return fig


# --------------------------------------------------------------------------- loss surfaces


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


SURFACE_CMAP = "viridis"


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
    _style()
    runs = surfaces_at(surface, net, lr, step, seed)
    present = _variants(_require(runs, f"{net} surfaces at lr {lr:g}"), variants)
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
    _style()
    runs = surfaces_at(surface, net, lr, step, seed)
    present = _variants(_require(runs, f"{net} surfaces at lr {lr:g}"), None)
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
    _style()
    runs = _require(line[line["net"] == net], f"{net} interpolation lines")
    lrs = sorted(runs["lr"].unique())
    fig, axes = plt.subplots(1, len(lrs), figsize=(4.6 * len(lrs), 3.6), squeeze=False)
    for ax, lr in zip(axes[0], lrs):
        at = at_lrs(runs, [lr])
        seed, step = int(at["seed"].min()), int(at["step"].max())
        at = at[(at["seed"] == seed) & (at["step"] == step)]
        for variant in _variants(at, None):
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
    _legend(fig)
    return fig


OPTIMIZER_STYLES = ["-", "--", ":", "-."]  # the paper's SGD solid, then each other optimizer in turn


def optimizer_comparison(training: pd.DataFrame, steps: pd.DataFrame, net: str, lrs: list[float],
                         variants: list[str], tokens: list[str]) -> plt.Figure:
    """Beyond the paper: the same variants under each optimizer, one row per lr. Left:
    the training curve (VGG smoothed accuracy, DLN loss); middle: the effective beta
    along the gradient (the paper's direction); right: along the update each optimizer
    took (where measured). Colour = variant, line style = optimizer; medians over seeds."""
    _style()
    update = ("update_effective_beta" in steps
              and np.isfinite(steps.loc[steps["net"] == net, "update_effective_beta"].astype(float)).any())
    columns = 3 if update else 2
    fig, axes = plt.subplots(len(lrs), columns, figsize=(4.5 * columns, 3.5 * len(lrs)), squeeze=False)
    metric = "accuracy" if net == "vgg" else "loss"
    for row, lr in zip(axes, lrs):
        train = at_lrs(training[training["net"] == net], [lr])
        probed = at_lrs(steps[steps["net"] == net], [lr]) if len(steps) else steps
        for variant in _variants(train, variants):
            for token, style in zip(tokens, OPTIMIZER_STYLES):
                runs = train[(train["variant"] == variant) & (train["optimizer"] == token)]
                runs = runs.sort_values(["seed", "step"])
                if runs.empty:
                    continue
                smoothed = pd.concat([run.assign(smoothed=_smooth(run, metric).to_numpy())
                                      for _, run in runs.groupby("seed")])
                summary = across_seeds(smoothed, "step", "smoothed")
                row[0].plot(summary.index, summary["median"], style, color=PALETTE[variant], lw=1.4,
                            label=f"{variant}, {token}")
                mine = (probed[(probed["variant"] == variant) & (probed["optimizer"] == token)] if len(probed)
                        else probed)
                for ax, column in zip(row[1:], ["effective_beta", "update_effective_beta"]):
                    if len(mine) and column in mine:
                        beta = across_seeds(mine, "step", column)
                        ax.plot(beta.index, beta["median"], style, color=PALETTE[variant], marker=".", lw=1.2)
        row[0].set_ylabel(f"training {metric} (smoothed)")
        if net == "dln":
            row[0].set_yscale("log")
        row[0].set_title(f"{net.upper()}, lr = {lr:g}")
        for ax, title in zip(row[1:], ["effective beta along -grad (the paper's)", "effective beta along the update"]):
            ax.set_title(f"{title}, lr = {lr:g}", fontsize=10)
            ax.set_yscale("log")
            ax.set_ylabel("max over eta of beta_eta")
        for ax in row:
            ax.set_xlabel("step")
    fig.tight_layout()
    _legend(fig)
    return fig
