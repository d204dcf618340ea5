"""The scorecard: its setting check, the part of the config it reads, where the paper's numbers sit among
a config's seeds, and the DLN numbers read from the paper's digitized curves."""

import math
from pathlib import Path

import pandas as pd
import pytest
import yaml
from snakemake.utils import validate

from bnopt.analysis.scorecard import (central_interval, load_paper_numbers, paper_percentile, scorecard,
                                      scorecard_and_values, setting, setting_inputs)
from bnopt.tools.digitize import load_curves, paper_values

REPO = Path(__file__).resolve().parents[1]


def _config(name):
    config = yaml.safe_load((REPO / name).read_text())
    validate(config, str(REPO / "workflow" / "schemas" / "config.schema.yaml"))
    return config


def test_the_paper_config_is_the_papers_setting_and_the_quick_one_is_not():
    paper, quick = _config("config/config.yaml"), _config("config/quick.yaml")
    assert setting(paper, "vgg") == setting(paper, "dln") == "paper's setting"
    assert setting(quick, "dln") == "paper's setting"  # the quick config's DLN is the paper's
    assert setting(quick, "vgg").startswith("setting differs (dataset digits (paper: cifar10); model.arch vgg11")
    assert setting({"nets": {}}, "vgg") == "not in this config"


def test_the_scorecard_reads_only_the_setting_keys():
    """Its rule's param: runs, probes and surfaces may change without rerunning it."""
    quick = _config("config/quick.yaml")
    view = setting_inputs(quick)
    assert view["nets"]["vgg"] == {"dataset": "digits", "model": {"arch": "vgg11", "width": 0.125}, "steps": 400,
                                   "batch_size": 128}
    assert "runs" not in view["nets"]["dln"] and "surface" not in view["nets"]["dln"]
    for net in ("vgg", "dln"):
        assert setting(view, net) == setting(quick, net)


def test_the_papers_percentile_among_draws():
    """The share of draws below the paper's value, ties counted half; an overflow (inf)
    lies above any value; the central 90% spans the 5th to the 95th percentile."""
    draws = list(range(1, 101))  # 1..100
    assert paper_percentile(draws, 4.5) == 4.0 and paper_percentile(draws, 50) == 49.5
    assert paper_percentile(draws, 0) == 0.0 and paper_percentile(draws, 1e9) == 100.0
    assert paper_percentile([1.0, 2.0, math.inf, math.inf], 3.0) == 50.0  # the overflows are above it
    assert paper_percentile([1.0, math.inf], math.inf) == 75.0
    low, high = central_interval(draws)
    assert (low, high) == (pytest.approx(5.95), pytest.approx(95.05))
    assert central_interval([1.0] * 9 + [math.inf] * 11)[1] == math.inf


def _run_tables(values: dict[int, float], variant="standard", recipe=""):
    """Tables in which seed s's final smoothed loss is values[s] (a flat training curve)."""
    rows = [dict(net="dln", variant=variant, lr=1e-6, seed=s, recipe=recipe, optimizer="sgd", step=t, loss=v,
                 accuracy=math.nan) for s, v in values.items() for t in range(20)]
    empty = pd.DataFrame(columns=["net", "variant", "lr", "seed", "recipe", "optimizer", "step"])
    return dict(training=pd.DataFrame(rows), evals=empty, landscape=empty, landscape_steps=empty, ics=empty)


def test_the_scorecard_places_the_paper_among_ten_or_more_seeds_per_recipe():
    numbers = load_paper_numbers()
    numbers = numbers[numbers["id"] == "5b-std"]
    few = scorecard(_run_tables({s: 1000.0 + s for s in range(3)}), {"nets": {}}, numbers)
    assert few["seeds"].tolist() == [3] and few["paper_percentile"].isna().all()
    tables = _run_tables({s: 100.0 * (s + 1) for s in range(20)})  # 100, 200, ..., 2000
    other = _run_tables({s: 10.0 for s in range(12)}, recipe="glorot_normal+sum")
    both = {name: pd.concat([tables[name], other[name]]) for name in tables}
    card = scorecard(both, {"nets": {}}, numbers).set_index("recipe")
    paper = float(numbers["paper_value"].iloc[0])  # 1,661: 16 of 20 seeds below
    assert card.loc["", "paper_percentile"] == pytest.approx(80.0) and card.loc["", "seeds"] == 20
    assert card.loc["", "this_p05"] < paper < card.loc["", "this_p95"]
    assert card.loc["glorot_normal+sum", "paper_percentile"] == 100.0
    assert card.loc["glorot_normal+sum", "agreement"] == "below the paper's"


def test_the_dln_numbers_are_the_scorecards_measures_of_the_digitized_curves():
    """paper_numbers.csv's DLN values come from workflow/resources/paper_curves.csv (bnopt
    digitize), through the same measures the scorecard applies to a run: typed by no one."""
    numbers = load_paper_numbers()
    derived = paper_values(load_curves(), numbers)
    assert set(derived) == {"5b-start", "5b-std", "5b-bn", "5b-l2", "5b-linf", "5b-l1", "10-bn-beta",
                            "10-std-beta-early", "10-std-beta-late", "10-std-loss"}
    for key, value in derived.items():
        row = numbers.set_index("id").loc[key]
        assert row["paper_value"] == pytest.approx(value, rel=1e-3), key
        assert row["paper_low"] == pytest.approx(value / 2, rel=1e-2) and row["paper_high"] == pytest.approx(2 * value, rel=1e-2)
    # What the re-reading changed: the late median is back at 2/lr, the peak loss above 1e14.
    assert derived["10-std-beta-late"] == pytest.approx(2e6, rel=0.05)
    assert derived["10-std-loss"] > 3e14 and derived["10-std-beta-early"] > 5e14


def test_the_typical_summary_reads_the_runs_tables(tmp_path):
    """bnopt typical: per reading with many draws, how many of the paper's numbers lie in
    the draws' central 90%, claim 4's k/n and the rough draws; then per number. The
    default recipe's token ("") survives the CSV round trip."""
    from bnopt.analysis.tables import read_csv
    from bnopt.tools.typical import markdown, scorecard_markdown

    numbers = load_paper_numbers()
    numbers = numbers[numbers["id"].isin(["5b-std", "10-std-beta-early"])]
    rows = []
    for recipe, peak in (("", 2e14), ("half_sum", 1e9)):
        tables = _run_tables({s: 1000.0 + 100 * s for s in range(12)}, recipe=recipe)
        tables["landscape_steps"] = pd.DataFrame([dict(net="dln", variant="standard", lr=1e-6, seed=s, recipe=recipe,
                                                       optimizer="sgd", step=t, effective_beta=peak * (s + 1) if t else 1.0)
                                                  for s in range(12) for t in range(2)])
        rows.append(tables)
    both = {name: pd.concat([t[name] for t in rows]) for name in rows[0]}
    card, values = scorecard_and_values(both, {"nets": {}}, numbers)
    card.to_csv(tmp_path / "card.csv", index=False)
    card = read_csv(tmp_path / "card.csv")
    assert set(card["recipe"]) == {"", "half_sum"}
    claims = pd.DataFrame([dict(claim=4, net="dln", lr=1e-6, recipe="", verdict="mixed", k=6, n=12)])
    text = markdown(card, values, claims)
    assert "| Glorot uniform, sum | 12 | 2 of 2 | - | mixed (6/12) | 12 of 12 |" in text
    assert "| Glorot uniform, 1/2 sum | 12 | 1 of 2 | 10-std-beta-early | not measured | 0 of 12 |" in text
    assert "Closest to the paper: Glorot uniform, sum (the most of the numbers every reading" in text
    assert "| 5b-std: standard, final training loss" in text
    assert "5b-std: DLN standard" in scorecard_markdown(card) and "half_sum" not in scorecard_markdown(card)


def test_the_closest_reading_breaks_a_tie_by_where_the_paper_sits_among_the_draws():
    """Readings tied on how many shared numbers lie inside their central 90% are told
    apart by the paper's median distance from their draws' 50th percentile; numbers only
    one reading measures (l1, l2 under the default) do not count."""
    from bnopt.analysis.draws import closest

    summary = pd.DataFrame([dict(recipe="", shared_inside=4, inside=4, off_centre=33.0),
                            dict(recipe="half_sum", shared_inside=1, inside=1, off_centre=47.0),
                            dict(recipe="glorot_normal+half_sum", shared_inside=4, inside=4, off_centre=43.0)])
    assert closest(summary) == ""
    summary.loc[2, "off_centre"] = 33.0
    assert closest(summary) is None
    summary.loc[1, "shared_inside"] = 5
    assert closest(summary) == "half_sum"
