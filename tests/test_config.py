"""Config: the schema with its defaults, the union-of-products runs, and bad values
that fail before any job starts, naming the key."""

import copy
import subprocess
from pathlib import Path

import pytest
import yaml
from snakemake.utils import validate

from bnopt.runs import (Run, check_config, check_numbers_as_text, expand_runs, find_run, lr_grid, lr_token,
                        probed_runs)

REPO = Path(__file__).resolve().parents[1]
SCHEMA = str(REPO / "workflow" / "schemas" / "config.schema.yaml")


def load(name):
    return yaml.safe_load((REPO / name).read_text())


def validated(config):
    config = copy.deepcopy(config)
    check_numbers_as_text(config)
    validate(config, SCHEMA)
    check_config(config)
    return config


@pytest.mark.parametrize("name", ["config/config.yaml", "config/quick.yaml", "tests/configs/smoke.yaml"])
def test_shipped_configs_are_valid(name):
    validated(load(name))


def test_paper_config_is_the_paper():
    config = validated(load("config/config.yaml"))
    vgg, dln = config["nets"]["vgg"], config["nets"]["dln"]
    assert (vgg["dataset"], vgg["model"], vgg["steps"], vgg["batch_size"]) == \
        ("cifar10", {"arch": "vgg16", "width": 1.0}, 15000, 128)
    assert (dln["steps"], dln["batch_size"], dln["model"]["depth"]) == (10000, 1000, 25)
    runs = expand_runs(config)
    every = {"standard", "batchnorm", "noisy_batchnorm", "noisy_standard", "l1", "l2", "linf"}
    assert {r.variant for r in runs if r.net == "vgg" and r.lr == 0.1} == every
    assert {r.variant for r in runs if r.net == "vgg" and r.lr in (0.5, 0.01)} == {"standard", "batchnorm"}
    assert {r.variant for r in runs if r.net == "dln" and r.lr == 1e-6} == every
    assert {r.variant for r in runs if r.net == "dln" and r.lr == 1e-7} == {"standard", "batchnorm"}
    # Three seeds of every DLN run and of VGG standard/batchnorm at 0.1 and 0.5.
    assert len(runs) == (11 + 8) + 9 * 3
    seeds = {(r.net, r.variant, r.lr): set() for r in runs}
    for r in runs:
        seeds[(r.net, r.variant, r.lr)].add(r.seed)
    three = {k for k, v in seeds.items() if v == {0, 1, 2}}
    assert three == {("vgg", v, lr) for v in ("standard", "batchnorm") for lr in (0.1, 0.5)} | \
        {k for k in seeds if k[0] == "dln"}


def test_defaults_fill_in_the_paper_choices():
    config = validated({"nets": {"vgg": {"runs": [{"variants": ["batchnorm"], "lrs": [0.1]}]},
                                 "dln": {"runs": [{"variants": ["l2"], "lrs": [1e-6]}]}}})
    vgg, dln = config["nets"]["vgg"], config["nets"]["dln"]
    assert vgg["steps"] == 15000 and vgg["batch_size"] == 128 and vgg["model"] == {"arch": "vgg16", "width": 1.0}
    assert vgg["runs"][0]["seeds"] == [0] and vgg["dataset"] == "cifar10"
    assert dln["model"] == {"depth": 25, "width": 10, "normalized_layers": 24} and dln["batch_size"] == 1000
    assert config["data"]["cifar10"]["md5"] == "c58f30108f718f92721af3b95e74349a"
    assert config["device"] == "auto" and config["state_dir"] == "results/.resume"


def test_runs_are_a_union_of_products_without_duplicates():
    config = {"nets": {"vgg": {"runs": [
        {"variants": ["standard", "batchnorm"], "lrs": [0.1, 0.5], "seeds": [0, 1]},
        {"variants": ["batchnorm"], "lrs": [0.1], "seeds": [0]},  # already covered
    ]}}}
    runs = expand_runs(config)
    assert len(runs) == 8 and len(set(runs)) == 8
    assert find_run(config, "vgg", "batchnorm", "0.5", "1") == Run("vgg", "batchnorm", 0.5, 1)
    with pytest.raises(ValueError, match="not in the config's nets.vgg.runs"):
        find_run(config, "vgg", "l2", "0.1", "0")


def test_specs_do_not_depend_on_key_order():
    from bnopt.runs import train_spec

    config = validated(load("config/quick.yaml"))
    reordered = yaml.safe_load(yaml.safe_dump(config, sort_keys=True))
    for run in expand_runs(config):
        a, b = train_spec(config, run, code="x"), train_spec(reordered, run, code="x")
        assert a == b and list(a) == list(b) and repr(a) == repr(b)


@pytest.mark.parametrize("lr", [0.1, 0.5, 0.01, 1e-6, 1e-7, 0.123456789, 3e-4])
def test_lr_tokens_round_trip(lr):
    assert float(lr_token(lr)) == lr
    assert "/" not in lr_token(lr)


BAD = [
    ("unknown variant", lambda c: c["nets"]["vgg"]["runs"][0]["variants"].append("groupnorm"),
     "groupnorm"),
    ("negative lr", lambda c: c["nets"]["vgg"]["runs"][0]["lrs"].append(-0.1), "-0.1"),
    ("wrong type", lambda c: c["nets"]["vgg"].update(steps="many"), "many"),
    ("missing key", lambda c: c["nets"]["vgg"]["runs"][0].pop("lrs"), "lrs"),
    ("unknown key", lambda c: c["nets"]["vgg"].update(stpes=10), "stpes"),
    ("lr as text", lambda c: c["nets"]["dln"]["runs"][0]["lrs"].append("1e-6"), "write 1.0e-6"),
    ("activation layer beyond the net", lambda c: c["nets"]["vgg"].update(probes={"activations": {"layers": [9]}}),
     "nets.vgg.probes.activations.layers"),
    ("landscape grid of the wrong type", lambda c: c["nets"]["dln"].update(probes={"landscape": {"points": 0}}),
     "points"),
    ("eval interval too long", lambda c: c["nets"]["vgg"].update(eval_every=10**6), "nets.vgg.eval_every"),
    ("negative replay tolerance", lambda c: c.update(replay_rtol=-1e-4), "replay_rtol"),
    ("grid from high to low", lambda c: c["nets"]["dln"]["runs"][0].update(lrs={"geometric": [1e-5, 1e-6], "points": 3}),
     "nets.dln.runs[0].lrs.geometric"),
    ("grid bound as text", lambda c: c["nets"]["dln"]["runs"][0].update(lrs={"geometric": ["1e-7", 1e-5], "points": 3}),
     "write 1.0e-6"),
    ("grid of one point", lambda c: c["nets"]["dln"]["runs"][0].update(lrs={"geometric": [1e-7, 1e-5], "points": 1}),
     "points"),
    ("grid finer than 3 digits", lambda c: c["nets"]["dln"]["runs"][0].update(
        lrs={"geometric": [1.0e-6, 1.001e-6], "points": 5}), "repeats a value"),
]


@pytest.mark.parametrize("what, mutate, named", BAD, ids=[b[0] for b in BAD])
def test_bad_values_fail_naming_the_key(what, mutate, named):
    config = load("config/quick.yaml")
    mutate(config)
    with pytest.raises(Exception) as err:
        validated(config)
    assert named in str(err.value)


def test_bad_config_stops_snakemake_before_any_job(tmp_path, snakemake_bin):
    config = load("tests/configs/smoke.yaml")
    config["nets"]["vgg"]["runs"][0]["variants"].append("groupnorm")
    (tmp_path / "bad.yaml").write_text(yaml.safe_dump(config))
    done = subprocess.run([snakemake_bin, "-s", str(REPO / "Snakefile"), "-d", str(tmp_path), "--cores", "1",
                           "--configfile", str(tmp_path / "bad.yaml")], capture_output=True, text=True, timeout=120)
    assert done.returncode != 0
    output = done.stdout + done.stderr
    assert "groupnorm" in output and "variants" in output
    assert not (tmp_path / "results").exists() and not (tmp_path / "resources").exists()


def test_a_geometric_grid_gives_stable_readable_learning_rates():
    grid = lr_grid({"geometric": [1.0e-7, 3.2e-5], "points": 10})
    assert len(grid) == 10 and grid[0] == 1e-7 and grid[-1] == 3.2e-5
    assert grid == sorted(grid) and grid == lr_grid({"geometric": [1.0e-7, 3.2e-5], "points": 10})
    assert all(float(f"{lr:.3g}") == lr for lr in grid)  # 3 significant digits: short path tokens
    assert [lr_token(lr) for lr in grid[:3]] == ["1e-07", "1.9e-07", "3.6e-07"]
    ratios = [b / a for a, b in zip(grid, grid[1:])]
    assert max(ratios) / min(ratios) < 1.01  # a constant ratio, up to the rounding
    # A refined grid (2N - 1 points) keeps every old value: adding points only adds runs.
    assert set(grid) <= set(lr_grid({"geometric": [1.0e-7, 3.2e-5], "points": 19}))
    assert lr_grid([0.1, 0.5]) == [0.1, 0.5]


def test_a_group_without_probes_trains_without_probe_jobs():
    config = validated({"nets": {"dln": {"runs": [
        {"variants": ["standard", "batchnorm"], "lrs": [1e-6]},
        {"variants": ["standard", "batchnorm"], "lrs": {"geometric": [1e-7, 1e-5], "points": 3}, "probe": False},
    ]}}})
    runs, probed = expand_runs(config), probed_runs(config)
    assert {r.lr for r in runs} == {1e-7, 1e-6, 1e-5}
    # 1e-6 is in both groups: the probed one wins.
    assert {(r.variant, r.lr) for r in probed} == {("standard", 1e-6), ("batchnorm", 1e-6)}
