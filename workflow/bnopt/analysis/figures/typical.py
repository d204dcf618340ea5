"""How typical is the paper's DLN? Its numbers among many draws of each run, per
reading of the choices the paper leaves open (bnopt.analysis.draws draws the figure;
this module is its catalogue entry and caption)."""

from __future__ import annotations

import pandas as pd

from .. import draws
from .choices import Spec
from .style import NoData


def _typical_dln(t, config):
    card = t.get("scorecard", pd.DataFrame())
    if card.empty or draws.drawn(card).empty:
        raise NoData("needs DLN runs of standard and batchnorm at lr 1e-6 with "
                     f"{draws.MIN_DRAWS} or more seeds of one recipe (config/dln-draws.yaml)")
    summary = draws.settings_summary(card, t.get("claims", pd.DataFrame()), t["scorecard_values"])
    fig = draws.figure(card, t["scorecard_values"])
    said = "; ".join(f"{r.setting} ({r.draws} draws): {r.inside} of {r.numbers} inside"
                     + (f" (outside: {r.outside})" if r.outside else "")
                     + f", claim 4 {r.claim4}, {r.rough} of {r.rough_of} draws as rough as the paper's"
                     for r in summary.itertuples())
    best = draws.closest(summary)
    verdict = (f" Closest to the paper: {draws.recipe_label(best)} ({draws.CLOSEST_RULE})." if best is not None else
               f" No reading is closest to the paper ({draws.CLOSEST_RULE}).")
    return fig, (f" This config, per reading (the paper's numbers inside the draws' central 90%; claim 4 for "
                 f"the DLN at lr 1e-6 over the draws; draws whose standard net's effective beta reaches "
                 f"{draws.ROUGH:.0e}): {said}." + verdict)


TYPICAL_DLN = Spec(
    "typical_dln", "How typical is the paper's DLN? Its numbers among many draws",
    "The paper shows one draw of each DLN run and leaves two choices open: \"standard Glorot initialization\" "
    "(uniform or normal) and the loss's factor (its formula has no 1/2). Here, per reading, many seeds of "
    "each run: each of the paper's DLN numbers beside the distribution of the draws, with its percentile.",
    _typical_dln, every_recipe=True)
