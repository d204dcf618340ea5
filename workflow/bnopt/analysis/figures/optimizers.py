"""Beyond the paper: the same networks under another optimizer (SGD with momentum in
config/extensions.yaml, Adam in config/architectures.yaml). Does BN still train faster,
and is its landscape still smoother, along the gradient and along the step the
optimizer takes? Each optimizer at its own learning rates (Adam's are not SGD's), the
paper's SGD at the paper's lr beside them."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from ...tasks import is_classifier, metric_of
from ...training.optim import PAPER_TOKEN
from .. import measures
from ..measures import fmt
from ..tables import of_optimizer, optimizers
from .choices import PAPER_LRS, Spec
from .style import PALETTE, NoData, across_seeds, apply_theme, at_lrs, legend, smooth, variants_in

OPTIMIZER_STYLES = ["-", "--", ":", "-."]  # the paper's SGD solid, then each other optimizer in turn


def optimizer_comparison(training: pd.DataFrame, steps: pd.DataFrame, net: str, lrs: list[float],
                         variants: list[str], tokens: list[str]) -> plt.Figure:
    """Beyond the paper: the same variants under each optimizer, one row per lr. Left:
    the training curve (VGG smoothed accuracy, DLN loss); middle: the effective beta
    along the gradient (the paper's direction); right: along the update each optimizer
    took (where measured). Colour = variant, line style = optimizer (every optimizer
    that ran at a row's lr); medians over seeds."""
    apply_theme()
    update = ("update_effective_beta" in steps
              and np.isfinite(steps.loc[steps["net"] == net, "update_effective_beta"].astype(float)).any())
    columns = 3 if update else 2
    fig, axes = plt.subplots(len(lrs), columns, figsize=(4.5 * columns, 3.5 * len(lrs)), squeeze=False)
    metric = metric_of(net)
    for row, lr in zip(axes, lrs):
        train = at_lrs(training[training["net"] == net], [lr])
        probed = at_lrs(steps[steps["net"] == net], [lr]) if len(steps) else steps
        for variant in variants_in(train, variants):
            for token, style in zip(tokens, OPTIMIZER_STYLES):
                runs = train[(train["variant"] == variant) & (train["optimizer"] == token)]
                runs = runs.sort_values(["seed", "step"])
                if runs.empty:
                    continue
                smoothed = pd.concat([run.assign(smoothed=smooth(run, metric).to_numpy())
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
        if not is_classifier(net):
            row[0].set_yscale("log")
        row[0].set_title(f"{net.upper()}, lr = {lr:g}")
        for ax, title in zip(row[1:], ["effective beta along -grad (the paper's)", "effective beta along the update"]):
            ax.set_title(f"{title}, lr = {lr:g}", fontsize=10)
            ax.set_yscale("log")
            ax.set_ylabel("max over eta of beta_eta")
        for ax in row:
            ax.set_xlabel("step")
        drawn = update and any(np.isfinite(np.asarray(line.get_ydata(), dtype=float)).any() for line in row[2].lines)
        if update and not drawn:  # only plain SGD at this lr: its update is -lr grad
            row[2].clear()
            row[2].axis("off")
            row[2].text(0.5, 0.5, f"lr = {lr:g}: no run here is measured along its update\n(plain SGD's "
                        "update is -lr grad: the panel to the left)", ha="center", va="center",
                        transform=row[2].transAxes, fontsize=9)
    fig.tight_layout()
    legend(fig)
    return fig


def _lrs_of(training: pd.DataFrame, net: str, variants: list[str], token: str) -> list[float]:
    """The lrs at which every one of `variants` has runs with the optimizer `token`."""
    return measures.lrs_with(of_optimizer(training, token), net, variants)


def _optimizer_summary(t: dict, net: str, lr: float, variants: list[str], tokens: list[str]) -> str:
    metric = metric_of(net)
    parts = []
    for token in tokens:
        training, steps = (of_optimizer(t[name], token) for name in ("training", "landscape_steps"))
        for variant in variants:
            runs = measures.runs_at(training[training["net"] == net], net, variant, lr)
            if runs.empty:
                continue
            finals = [measures.final_value(run, metric) for _, run in runs.groupby("seed")]
            probed = measures.runs_at(steps[steps["net"] == net], net, variant, lr) if len(steps) else steps
            diverged = measures.runs_at(of_optimizer(t["runs"], token), net, variant, lr)["diverged"].sum()
            text = (f"{variant} with {token}: final {metric} {fmt(float(np.median(finals)))}"
                    + (f" ({diverged} of {len(finals)} seeds diverged)" if diverged else ""))
            if len(probed):
                text += f", effective beta {fmt(float(probed['effective_beta'].median()))}"
                update = probed["update_effective_beta"].astype(float) if "update_effective_beta" in probed else None
                if update is not None and np.isfinite(update).any():
                    cos = probed["update_cosine"].astype(float).median()
                    text += f" (along the update taken {fmt(float(update.median()))}; cos(update, -grad) {cos:.2f})"
            parts.append(text)
    claims_rows = t.get("claims")
    verdicts = ""
    if claims_rows is not None and "optimizer" in claims_rows:
        # the rows of the recipes this figure draws (not the ResNet's plain net's, say)
        drawn = set(t["training"].loc[t["training"]["net"] == net, "recipe"].astype(str)) if "recipe" in t["training"] \
            else {""}
        recipe = claims_rows["recipe"].astype(object).where(claims_rows["recipe"].notna(), "").astype(str) \
            if "recipe" in claims_rows else pd.Series("", index=claims_rows.index)
        mine = claims_rows[(claims_rows["net"] == net) & (claims_rows["optimizer"].isin(tokens[1:]))
                           & recipe.isin(drawn) & np.isclose(claims_rows["lr"].astype(float), lr)]
        verdicts = "".join(f" Claim {int(r.claim)} ({r.comparison}): {r.verdict}"
                           + (f" ({r.holds_in})" if r.n else "") + "." for r in mine.itertuples())
    return (f" This run, lr {lr:g} (medians over seeds and probe steps): " + "; ".join(parts) + "." + verdicts)


def _rows_shown(training: pd.DataFrame, net: str, variants: list[str], others: list[str],
                steps: pd.DataFrame | None = None) -> list[float]:
    """The figure's rows: every lr of the other optimizers (each at its own: Adam's lrs
    are not SGD's), and the paper's SGD at the paper's lr (else its first) beside them;
    where two optimizers share an lr, both are drawn in that row. With landscape probes
    (`steps`), only probed lrs (a trained-only lr would leave two panels empty)."""
    def lrs(token):
        probed = _lrs_of(steps, net, variants, token) if steps is not None and len(steps) else []
        return probed or ([] if steps is not None and len(steps) and _probed_any(steps, net, others)
                          else _lrs_of(training, net, variants, token))

    theirs = {lr for token in others for lr in lrs(token)}
    sgd = lrs(PAPER_TOKEN)
    paper = [lr for lr in PAPER_LRS.get(net, ()) if any(np.isclose(lr, s) for s in sgd)]
    reference = paper[:1] or sgd[:1]
    if any(np.isclose(lr, r) for lr in theirs for r in reference):
        reference = []
    return sorted(theirs | set(reference))


def _probed_any(steps: pd.DataFrame, net: str, tokens: list[str]) -> bool:
    """Whether `steps` holds landscape probes of `net` under any of `tokens`."""
    return "optimizer" in steps and bool(((steps["net"] == net) & steps["optimizer"].isin(tokens)).any())


def _optimizers(net):
    def draw(t, config):
        variants = ["standard", "batchnorm"]
        training = t["training"][t["training"]["net"] == net]
        tokens = optimizers(training)
        others = [tok for tok in tokens[1:] if _lrs_of(training, net, variants, tok)]
        if not others:
            raise NoData(f"needs {net} runs of standard and batchnorm with an optimizer other than the "
                         "paper's SGD: add a run group with optimizer: {momentum: 0.9} "
                         "(config/extensions.yaml) or {name: adam} (config/architectures.yaml)")
        rows = _rows_shown(training, net, variants, others, t["landscape_steps"])
        shown = [PAPER_TOKEN, *others]
        fig = optimizer_comparison(t["training"], t["landscape_steps"], net, rows, variants, shown)
        return fig, "".join(_optimizer_summary(t, net, lr, variants, shown) for lr in rows)
    return draw


OPTIMIZERS_VGG = Spec(
    "optimizers_vgg", "Beyond the paper: VGG under other optimizers",
    "Not in the paper: it trains with plain SGD; here the same networks trained with another optimizer "
    "(momentum 0.9 in config/extensions.yaml, Adam in config/architectures.yaml), each at its own lrs beside "
    "plain SGD at the paper's. Does BN still train faster, and is its landscape still smoother, along the "
    "gradient and along the step the optimizer actually takes?", _optimizers("vgg"), every_optimizer=True)
OPTIMIZERS_DLN = Spec(
    "optimizers_dln", "Beyond the paper: DLN under other optimizers",
    "Not in the paper: the DLN under another optimizer, as for VGG.", _optimizers("dln"), every_optimizer=True)
OPTIMIZERS_RESNET = Spec(
    "optimizers_resnet", "Beyond the paper: ResNet under other optimizers",
    "Not in the paper: the ResNet under another optimizer (Adam in config/architectures.yaml), as for VGG.",
    _optimizers("resnet"), every_optimizer=True)
