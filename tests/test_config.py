"""Config: the schema with its defaults, the union-of-products runs, and bad values
that fail before any job starts, naming the key."""

import copy
import re
import subprocess
from pathlib import Path

import pytest
import yaml
from snakemake.utils import update_config, validate

from workflow_helpers import job_counts

from bnopt.norms import VARIANTS
from bnopt.jobs import train_stacks
from bnopt.checks import ConfigError, check_config, check_numbers_as_text, check_schema, load_schema
from bnopt.runs import Run, expand_runs, find_run, lr_grid, lr_token, probe_settings, probed_runs, train_spec

REPO = Path(__file__).resolve().parents[1]
SCHEMA = str(REPO / "workflow" / "schemas" / "config.schema.yaml")


def load(name):
    return yaml.safe_load((REPO / name).read_text())


def validated(config):
    config = copy.deepcopy(config)
    check_numbers_as_text(config)
    check_schema(config, load_schema(SCHEMA))
    validate(config, SCHEMA)
    check_config(config)
    return config


@pytest.mark.parametrize("name", ["config/config.yaml", "config/quick.yaml", "config/sweep.yaml", "config/architectures.yaml",
                                  "tests/configs/smoke.yaml"])
def test_shipped_configs_are_valid(name):
    validated(load(name))


def test_paper_config_is_the_paper():
    config = validated(load("config/config.yaml"))
    vgg, dln = config["nets"]["vgg"], config["nets"]["dln"]
    assert (vgg["dataset"], vgg["model"], vgg["steps"], vgg["batch_size"]) == \
        ("cifar10", {"arch": "vgg16", "width": 1.0, "groups": 32}, 15000, 128)
    assert (dln["steps"], dln["batch_size"], dln["model"]["depth"]) == (10000, 1000, 25)
    runs = probed_runs(config)  # the paper's runs; the learning-rate sweeps are not probed
    every = {"standard", "batchnorm", "noisy_batchnorm", "noisy_standard", "l1", "l2", "linf", "layernorm",
             "groupnorm", "weightnorm"}
    assert {r.variant for r in runs if r.net == "vgg" and r.lr == 0.1} == every
    assert {r.variant for r in runs if r.net == "vgg" and r.lr in (0.5, 0.01)} == {"standard", "batchnorm"}
    assert {r.variant for r in runs if r.net == "dln" and r.lr == 1e-6} == every
    assert {r.variant for r in runs if r.net == "dln" and r.lr == 1e-7} == {"standard", "batchnorm"}
    # Three seeds of every DLN run, of VGG standard/batchnorm at 0.1 and 0.5 and of today's norms.
    assert len(runs) == (11 + 8) + 9 * 3 + 2 * 3 * 3 and {r.optimizer for r in runs} == {"sgd"}
    seeds = {(r.net, r.variant, r.lr): set() for r in runs}
    for r in runs:
        seeds[(r.net, r.variant, r.lr)].add(r.seed)
    three = {k for k, v in seeds.items() if v == {0, 1, 2}}
    assert three == {("vgg", v, lr) for v in ("standard", "batchnorm") for lr in (0.1, 0.5)} | \
        {("vgg", v, 0.1) for v in ("layernorm", "groupnorm", "weightnorm")} | {k for k in seeds if k[0] == "dln"}
    # The sweeps: standard and batchnorm, three seeds, VGG at 9 lrs (8 + 0.5), DLN at 11 (10 + 1e-7).
    swept = set(expand_runs(config)) - set(runs)
    assert {r.variant for r in swept} == {"standard", "batchnorm"} and {r.seed for r in swept} == {0, 1, 2}
    grid = {net: sorted({r.lr for r in expand_runs(config) if r.net == net and r.variant == "standard"})
            for net in ("vgg", "dln")}
    assert grid["vgg"] == [0.003, 0.01, 0.03, 0.1, 0.2, 0.4, 0.5, 0.7, 1.0]
    assert len(grid["dln"]) == 11 and grid["dln"][0] == 1e-7 and 1e-6 in grid["dln"] and grid["dln"][-1] == 6.4e-5


def test_defaults_fill_in_the_paper_choices():
    config = validated({"nets": {"vgg": {"runs": [{"variants": ["batchnorm"], "lrs": [0.1]}]},
                                 "dln": {"runs": [{"variants": ["l2"], "lrs": [1e-6]}]}}})
    vgg, dln = config["nets"]["vgg"], config["nets"]["dln"]
    assert vgg["steps"] == 15000 and vgg["batch_size"] == 128
    assert vgg["model"] == {"arch": "vgg16", "width": 1.0, "groups": 32}
    assert vgg["runs"][0]["seeds"] == [0] and vgg["dataset"] == "cifar10"
    assert dln["model"] == {"depth": 25, "width": 10, "normalized_layers": 24, "groups": 2}
    assert dln["batch_size"] == 1000
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


def test_only_groupnorm_runs_depend_on_the_groups():
    config = validated({"nets": {"dln": {"runs": [{"variants": ["groupnorm", "layernorm"], "lrs": [1e-6]}]}}})
    group, layer = (train_spec(config, Run("dln", v, 1e-6, 0)) for v in ("groupnorm", "layernorm"))
    assert group["model"]["groups"] == 2 and "groups" not in layer["model"]
    config["nets"]["dln"]["model"]["groups"] = 5
    assert train_spec(config, Run("dln", "groupnorm", 1e-6, 0)) != group
    assert train_spec(config, Run("dln", "layernorm", 1e-6, 0)) == layer


def test_specs_do_not_depend_on_key_order():
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
    ("unknown variant", lambda c: c["nets"]["vgg"]["runs"][0]["variants"].append("instancenorm"),
     "instancenorm"),
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
    ("no groups", lambda c: c["nets"]["dln"].setdefault("model", {}).update(groups=0), "groups"),
    ("groups as a fraction", lambda c: c["nets"]["vgg"]["model"].update(groups=2.5), "2.5"),
    ("grid finer than 3 digits", lambda c: c["nets"]["dln"]["runs"][0].update(
        lrs={"geometric": [1.0e-6, 1.001e-6], "points": 5}), "repeats a value"),
    ("unknown initialization", lambda c: c["nets"]["dln"]["runs"][0].update(init="glorot_truncnormal"),
     "glorot_truncnormal"),
    ("unknown net initialization", lambda c: c["nets"]["vgg"].update(init="xavier"), "xavier"),
    ("unknown loss", lambda c: c["nets"]["dln"]["runs"][0].update(loss="mean"), "mean"),
    ("a DLN loss for the VGG", lambda c: c["nets"]["vgg"]["runs"][0].update(loss="sum"),
     "nets.vgg.runs[0].loss = 'sum': the VGG trains with cross_entropy only"),
    ("a dense window without its interval", lambda c: c["nets"]["dln"].update(probes={"dense": {"until": 500}}),
     "nets.dln.probes.dense: the key 'every' is missing"),
]


@pytest.mark.parametrize("what, mutate, named", BAD, ids=[b[0] for b in BAD])
def test_bad_values_fail_naming_the_key(what, mutate, named):
    config = load("tests/configs/smoke.yaml")  # its runs are a list; named groups: the test below
    mutate(config)
    with pytest.raises(Exception) as err:
        validated(config)
    assert named in str(err.value)


# A run group is what users edit most: each mistake in one is a single line with the
# key's path, the bad value, what is allowed and, when one is close, a "did you mean".
GROUP = "nets.vgg.runs.large_and_small_lr"
GROUP_MISTAKES = [
    ("variant typo", lambda g: g.update(variants=["standard", "batchnrom"]),
     f"{GROUP}.variants[1] = 'batchnrom' is not allowed; did you mean 'batchnorm'? (allowed: standard, batchnorm, "),
    ("lr for lrs", lambda g: g.update(lr=g.pop("lrs")),
     f"{GROUP}: unknown key 'lr'; did you mean 'lrs'? (keys here: init, loss, skip, optimizer, variants, lrs, "),
    ("optimizer typo", lambda g: g.update(optimizer={"momentun": 0.9}),
     f"{GROUP}.optimizer: unknown key 'momentun'; did you mean 'momentum'?"),
    ("unknown optimizer", lambda g: g.update(optimizer={"name": "adma"}),
     f"{GROUP}.optimizer.name = 'adma' is not allowed; did you mean 'adam'?"),
    ("init typo", lambda g: g.update(init="glorot_unifrom"),
     f"{GROUP}.init = 'glorot_unifrom' is not allowed; did you mean 'glorot_uniform'?"),
    ("unknown loss", lambda g: g.update(loss="mse"), f"{GROUP}.loss = 'mse' is not allowed (allowed: half_sum, sum)"),
    ("lr as a word", lambda g: g.update(lrs=[0.1, "fast"]), f"{GROUP}.lrs[1] = 'fast' is text: expected a number"),
    ("one lr, not a list", lambda g: g.update(lrs=0.1),
     f"{GROUP}.lrs = 0.1 is a number: expected a list or a mapping of keys"),
    ("seed as a fraction", lambda g: g.update(seeds=[0, 1.5]), f"{GROUP}.seeds[1] = 1.5 is a number: expected a whole number"),
    ("empty variants", lambda g: g.update(variants=[]), f"{GROUP}.variants is empty: give at least one value"),
    ("empty seeds", lambda g: g.update(seeds=[]), f"{GROUP}.seeds is empty: give at least one value"),
    ("grid without points", lambda g: g.update(lrs={"geometric": [0.01, 0.5]}),
     f"{GROUP}.lrs: the key 'points' is missing (required here: geometric, points)"),
    ("grid from high to low", lambda g: g.update(lrs={"geometric": [0.5, 0.01], "points": 3}),
     f"{GROUP}.lrs.geometric = [0.5, 0.01]: the first value (the lowest learning rate) must be below the second"),
]


@pytest.mark.parametrize("what, mutate, message", GROUP_MISTAKES, ids=[m[0] for m in GROUP_MISTAKES])
def test_a_mistake_in_a_run_group_is_one_line_naming_it(what, mutate, message):
    config = load("config/quick.yaml")
    mutate(config["nets"]["vgg"]["runs"]["large_and_small_lr"])
    with pytest.raises(ConfigError) as err:
        validated(config)
    assert message in str(err.value) and "\n" not in str(err.value)


@pytest.mark.parametrize("mutate, message", [
    (lambda c: c["nets"]["vgg"].update(eval_evry=5), "nets.vgg: unknown key 'eval_evry'; did you mean 'eval_every'?"),
    (lambda c: c["nets"].update(resnt={"steps": 10}), "nets: unknown key 'resnt'; did you mean 'resnet'?"),
    (lambda c: c["nets"].update(resnet={"steps": 10}), "nets.resnet: the key 'runs' is missing"),
    (lambda c: c["nets"].update(dln=None), "nets.dln is empty: give its settings, or remove the key"),
    (lambda c: c["nets"]["vgg"].update(runs=[]), "nets.vgg.runs is empty: give at least one value"),
])
def test_a_mistake_outside_the_run_groups_is_one_line_too(mutate, message):
    config = load("config/quick.yaml")
    mutate(config)
    with pytest.raises(ConfigError, match=re.escape(message)):
        validated(config)


def test_bad_config_stops_snakemake_before_any_job(tmp_path, snakemake_bin):
    config = load("tests/configs/smoke.yaml")
    config["nets"]["vgg"]["runs"][0]["variants"].append("instancenorm")
    (tmp_path / "bad.yaml").write_text(yaml.safe_dump(config))
    done = subprocess.run([snakemake_bin, "-s", str(REPO / "Snakefile"), "-d", str(tmp_path), "--cores", "1",
                           "--configfile", str(tmp_path / "bad.yaml")], capture_output=True, text=True, timeout=120)
    assert done.returncode != 0
    output = done.stdout + done.stderr
    assert "instancenorm" in output and "variants" in output
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


def test_named_run_groups_expand_like_a_list():
    listed = {"nets": {"dln": {"runs": [{"variants": ["standard"], "lrs": [1e-6]},
                                        {"variants": ["batchnorm"], "lrs": [1e-7], "seeds": [1], "probe": False}]}}}
    named = {"nets": {"dln": {"runs": {"paper": {"variants": ["standard"], "lrs": [1e-6]},
                                       "sweep": {"variants": ["batchnorm"], "lrs": [1e-7], "seeds": [1],
                                                 "probe": False}}}}}
    assert expand_runs(validated(named)) == expand_runs(validated(listed))
    assert probed_runs(validated(named)) == [Run("dln", "standard", 1e-6, 0)]


@pytest.mark.parametrize("mutate, named", [
    (lambda runs: runs["lr_sweep"].update(lrs={"geometric": [1e-5, 1e-6], "points": 3}), "nets.dln.runs.lr_sweep.lrs"),
    (lambda runs: runs["lr_sweep"]["lrs"].update(geometric=["1e-7", 1e-5]), "nets.dln.runs.lr_sweep.lrs.geometric"),
    (lambda runs: runs.update({"bad name!": {"variants": ["standard"], "lrs": [1e-6]}}), "bad name!"),
])
def test_a_bad_named_group_fails_naming_it(mutate, named):
    config = load("config/sweep.yaml")
    config["nets"]["vgg"]["dataset"] = "digits"
    mutate(config["nets"]["dln"]["runs"])
    with pytest.raises(Exception) as err:
        validated(config)
    assert named in str(err.value)


def test_the_sweep_file_adds_its_runs_to_the_quick_config():
    """Snakemake merges config files given together as update_config does: the quick
    config's runs stay, the sweep's are added, without probes."""
    quick = validated(load("config/quick.yaml"))
    both = load("config/quick.yaml")
    update_config(both, load("config/sweep.yaml"))
    both = validated(both)
    assert set(expand_runs(quick)) < set(expand_runs(both))
    assert probed_runs(both) == probed_runs(quick)
    added = set(expand_runs(both)) - set(expand_runs(quick))
    assert {(r.net, r.variant) for r in added} == {(n, v) for n in ("vgg", "dln") for v in ("standard", "batchnorm")}
    vgg = sorted({r.lr for r in expand_runs(both) if r.net == "vgg" and r.variant == "standard"})
    dln = sorted({r.lr for r in expand_runs(both) if r.net == "dln" and r.variant == "standard" and r.seed == 1})
    assert vgg == [0.003, 0.01, 0.03, 0.1, 0.3, 0.5, 1.0]
    assert dln == [1.25e-7, 2.5e-7, 5e-7, 1e-6, 2e-6, 4e-6, 8e-6, 1.6e-5, 3.2e-5, 6.4e-5]


@pytest.mark.parametrize("base", ["config/quick.yaml", "config/config.yaml"])
def test_the_extensions_add_momentum_runs_and_leave_the_others_alone(base):
    """config/extensions.yaml on the paper (or quick) config: standard and batchnorm
    with momentum 0.9, three seeds; every other run and its probe settings unchanged."""
    alone = validated(load(base))
    both = load(base)
    update_config(both, load("config/extensions.yaml"))
    both = validated(both)
    added = set(expand_runs(both)) - set(expand_runs(alone))
    assert set(expand_runs(alone)) < set(expand_runs(both))
    assert {r.optimizer for r in added} == {"sgd-m0.9"} and {r.variant for r in added} == {"standard", "batchnorm"}
    assert len(added) == 2 * 2 * 3 * 2  # 2 variants x 2 lrs x 3 seeds x 2 nets
    for run in expand_runs(alone):
        assert train_spec(both, run) == train_spec(alone, run)
        assert probe_settings(both, run) == probe_settings(alone, run)  # along_update: momentum runs only
    momentum = sorted(added)[0]
    assert train_spec(both, momentum)["optimizer"]["momentum"] == 0.9
    assert probe_settings(both, momentum)["landscape"]["along_update"] is True


def test_the_quick_config_has_the_runs_of_every_claim_on_both_nets():
    """Claim 6's learning-rate grids (DLN: standard and batchnorm at >= 8 lrs over >= 100x,
    3 seeds each; VGG: >= 5 lrs, unprobed beyond the paper's runs) and claim 7's
    normalizations (probed, at VGG 0.1 and DLN 1e-6) are in the quick config itself."""
    quick = validated(load("config/quick.yaml"))
    runs, probed = expand_runs(quick), set(probed_runs(quick))
    for net, least, seeds in (("dln", 8, 3), ("vgg", 5, 1)):
        for variant in ("standard", "batchnorm"):
            by_lr = {}
            for r in runs:
                if r.net == net and r.variant == variant:
                    by_lr.setdefault(r.lr, set()).add(r.seed)
            grid = sorted(lr for lr, have in by_lr.items() if len(have) >= seeds)
            assert len(grid) >= least and grid[-1] / grid[0] >= 100, (net, variant, grid)
    for net, lr in (("vgg", 0.1), ("dln", 1e-6)):
        for variant in ("layernorm", "groupnorm", "weightnorm"):
            assert Run(net, variant, lr, 0) in probed
    sweep = [r for r in runs if r.net == "dln" and r.lr not in (1e-6, 1e-7)]
    assert sweep and not any(r in probed for r in sweep)


def test_the_norms_file_adds_every_variants_dln_surface_to_the_quick_config():
    quick = validated(load("config/quick.yaml"))
    both = load("config/quick.yaml")
    update_config(both, load("config/norms.yaml"))
    both = validated(both)
    assert set(expand_runs(both)) == set(expand_runs(quick))  # the runs are the quick config's own now
    assert set(both["nets"]["dln"]["surface"]["variants"]) == set(VARIANTS)
    assert both["nets"]["dln"]["surface"]["grid"] == quick["nets"]["dln"]["surface"]["grid"]  # merged, not replaced


def test_a_groups_init_and_loss_name_its_runs_and_only_theirs():
    """Default-recipe runs keep their spec (and so their results); another init or loss
    is in the spec and the folder, per group or per net."""
    config = load("tests/configs/smoke.yaml")
    before = {run: train_spec(validated(config), run) for run in expand_runs(validated(config))}
    config["nets"]["dln"]["runs"].append(dict(variants=["l2"], lrs=[1e-4], seeds=[0], init="glorot_truncated_normal"))
    config = validated(config)
    runs = expand_runs(config)
    added = [run for run in runs if run not in before]
    assert [run.path for run in added] == ["dln/l2+glorot_truncated_normal/lr~0.0001/seed~0"]
    assert {run: train_spec(config, run) for run in before} == before
    assert train_spec(config, added[0])["init"] == "glorot_truncated_normal"
    recipe = train_spec(config, Run("dln", "standard", 1e-4, 1, init="glorot_normal", loss="half_sum"))
    assert recipe["init"] == "glorot_normal" and recipe["loss"] == "half_sum"
    assert find_run(config, "dln", "standard+glorot_normal+half_sum", "0.0001", "1").seed == 1
    default = [run for run in runs if run.recipe == ""]
    assert all("init" not in train_spec(config, run) for run in default)
    # A DLN spec names its loss, the default included (the default changed: half_sum, then sum).
    assert {train_spec(config, run)["loss"] for run in default if run.net == "dln"} == {"sum"}
    assert not any("loss" in train_spec(config, run) for run in runs if run.net == "vgg")
    config["nets"]["dln"]["loss"] = "half_sum"  # the net's own loss: every DLN run of a group without one
    halves = {run.path for run in expand_runs(validated(config)) if run.net == "dln" and run.loss == "half_sum"}
    assert "dln/standard+half_sum/lr~0.0001/seed~0" in halves
    assert len(halves) == len([run for run in expand_runs(config) if run.net == "dln"])


def test_a_groups_probes_override_the_nets_for_its_runs_only():
    config = load("tests/configs/smoke.yaml")
    config["nets"]["dln"]["runs"].append(dict(variants=["l1"], lrs=[1e-4], seeds=[0, 1],
                                              probes={"curvature": {"iterations": 0}, "dense": {"until": 30, "every": 5}}))
    config = validated(config)
    mine, other = Run("dln", "l1", 1e-4, 1), Run("dln", "standard", 1e-4, 0)
    settings = probe_settings(config, mine)
    assert settings["curvature"] == {"iterations": 0, "tol": 1e-3} and settings["dense"] == {"until": 30, "every": 5}
    assert settings["landscape"] == probe_settings(config, other)["landscape"]  # the rest is the net's
    assert probe_settings(config, other)["curvature"]["iterations"] == 5 and "dense" not in probe_settings(config, other)
    stacks = [stack for stack in train_stacks(config) if stack.runs[0].variant == "l1"]
    assert [stack.name for stack in stacks] == ["dln/l1/lr~0.0001/seeds~0-1"]


def test_an_optimizer_that_cannot_be_fails_naming_the_key():
    config = load("tests/configs/smoke.yaml")
    config["nets"]["dln"]["runs"][1]["optimizer"] = {"name": "rmsprop"}
    with pytest.raises(Exception, match="rmsprop"):
        validated(config)
    config["nets"]["dln"]["runs"][1]["optimizer"] = {"name": "adam", "momentum": 0.9}
    with pytest.raises(ConfigError, match=r"nets.dln.runs\[1\].optimizer: optimizer 'adam' has no setting 'momentum'"):
        validated(config)
    config["nets"]["dln"]["runs"][1]["optimizer"] = {"name": "adam", "betas": [0.9, 1.0]}
    with pytest.raises(Exception, match="1.0"):
        validated(config)
    config["nets"]["dln"]["runs"][1]["optimizer"] = {"momentum": 0.0, "nesterov": True}
    with pytest.raises(ConfigError, match=r"nets.dln.runs\[1\].optimizer: nesterov: true needs a momentum"):
        validated(config)
    config["nets"]["dln"]["runs"][1]["optimizer"] = {"momentum": 1.5}
    with pytest.raises(Exception, match="1.5"):
        validated(config)


def test_a_configfile_replaces_the_paper_config_rather_than_extending_it(tmp_path, snakemake_bin):
    """Run from a folder holding config/config.yaml (as the repo root does), a config
    without a VGG section trains no VGG: Snakemake's default would merge the paper's
    VGG-16 runs into it. Without --configfile, the paper's config is the one used."""
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "config.yaml").write_text((REPO / "config" / "config.yaml").read_text())
    config = load("tests/configs/smoke.yaml")
    del config["nets"]["vgg"]
    (tmp_path / "dln.yaml").write_text(yaml.safe_dump(config))
    base = [snakemake_bin, "-s", str(REPO / "Snakefile"), "-d", str(tmp_path), "-n", "--cores", "1"]
    done = subprocess.run([*base, "--configfile", str(tmp_path / "dln.yaml")], capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "results/dln/" in done.stdout and "results/vgg/" not in done.stdout
    paper = subprocess.run(base, capture_output=True, text=True, timeout=300)
    assert paper.returncode == 0, paper.stderr[-3000:]
    paper_config = validated(load("config/config.yaml"))
    counts = job_counts(paper.stdout)
    vgg = [run for run in expand_runs(paper_config) if run.net == "vgg"]
    assert counts["train"] == len(vgg) and counts["train_stack"] == len(train_stacks(paper_config))
    assert sum(len(stack.runs) for stack in train_stacks(paper_config)) == len(expand_runs(paper_config)) - len(vgg)


@pytest.mark.parametrize("change, named", [
    (lambda s: s.update(grid=20), "nets.dln.surface.grid = 20: use an odd number"),
    (lambda s: s.update(steps=[45]), "nets.dln.surface.steps: 45 is not a checkpointed step"),
    (lambda s: s.update(steps=[90]), "nets.dln.surface.steps: 90 is not a checkpointed step"),
    (lambda s: s.update(lrs=[0.5]), "nets.dln.surface selects no configured run"),
    (lambda s: s.update(radius=0), "radius"),
    (lambda s: s.update(steps=["first"]), "steps"),
])
def test_a_bad_surface_setting_fails_naming_the_key(change, named):
    config = load("tests/configs/smoke.yaml")  # DLN: 60 steps, checkpoints every 30
    change(config["nets"]["dln"]["surface"])
    with pytest.raises(Exception) as err:
        validated(config)
    assert named in str(err.value)


def test_surface_runs_are_the_selected_configured_runs_at_their_steps():
    from bnopt.runs import surface_runs

    config = validated(load("tests/configs/smoke.yaml"))
    config["nets"]["dln"]["surface"]["steps"] = [30, "last"]
    chosen = surface_runs(config)
    assert (Run("vgg", "standard", 0.1, 0), 40) in chosen and (Run("vgg", "batchnorm", 0.1, 1), 40) not in chosen
    dln = sorted((r.variant, r.lr, step) for r, step in chosen if r.net == "dln")
    assert dln == sorted((v, lr, s) for v, lr in [("standard", 1e-4), ("batchnorm", 1e-4), ("l2", 1e-4),
                                                   ("standard", 1.0)] for s in (30, 60))


def test_a_resnet_config_is_checked_naming_the_key():
    config = load("tests/configs/resnet.yaml")
    validated(config)
    config["nets"]["resnet"]["model"]["depth"] = 18
    with pytest.raises(ConfigError, match=r"nets.resnet.model.depth = 18: a CIFAR ResNet has depth 6n \+ 2"):
        validated(config)
    config = load("tests/configs/resnet.yaml")
    config["nets"]["resnet"]["model"]["skip"] = False
    with pytest.raises(ConfigError, match=r"nets.resnet.runs\[0\].variants: fixup needs the skip connections"):
        validated(config)
    config = load("tests/configs/resnet.yaml")
    del config["nets"]["resnet"]["probes"]["activations"]["layers"]
    assert validated(config)["nets"]["resnet"]["probes"]["activations"]["layers"] == [2, 3, 5, 7]  # depth 8
    config["nets"]["resnet"]["model"]["depth"] = 20
    assert validated(config)["nets"]["resnet"]["probes"]["activations"]["layers"] == [2, 7, 13, 19]
    config = load("tests/configs/smoke.yaml")
    config["nets"]["vgg"]["runs"][0]["variants"].append("fixup")
    with pytest.raises(ConfigError, match=r"nets.vgg.runs\[0\].variants: fixup is a ResNet variant"):
        validated(config)
    config = load("tests/configs/smoke.yaml")
    config["nets"]["vgg"]["surface"]["variants"] = ["standard", "fixup"]
    with pytest.raises(ConfigError, match=r"nets.vgg.surface.variants: fixup is a ResNet variant"):
        validated(config)


def test_a_groups_skip_switch_names_its_resnet_runs_and_their_specs():
    config = load("tests/configs/resnet.yaml")
    config["nets"]["resnet"]["runs"].append({"variants": ["standard", "batchnorm"], "lrs": [0.1], "skip": False})
    config = validated(config)
    plain = [run for run in expand_runs(config) if not run.skip]
    assert [(r.variant, r.recipe, r.path) for r in plain] == [
        ("standard", "noskip", "resnet/standard+noskip/lr~0.1/seed~0"),
        ("batchnorm", "noskip", "resnet/batchnorm+noskip/lr~0.1/seed~0")]
    # the skip switch reaches the model through the spec, and the ResNet with skips says so too
    assert train_spec(config, plain[0])["model"]["skip"] is False
    assert train_spec(config, Run("resnet", "standard", 0.1, 0))["model"]["skip"] is True
    assert find_run(config, "resnet", "standard+noskip", "0.1", "0") == plain[0]
    # the skip switch only where there are skips to remove, and never under fixup
    with_fixup = copy.deepcopy(config)
    with_fixup["nets"]["resnet"]["runs"][-1]["variants"].append("fixup")
    last = len(with_fixup["nets"]["resnet"]["runs"]) - 1
    with pytest.raises(ConfigError, match=rf"nets.resnet.runs\[{last}\].variants: fixup needs the skip connections, "
                                          rf"and nets.resnet.runs\[{last}\].skip is false"):
        check_config(with_fixup)
    smoke = load("tests/configs/smoke.yaml")
    smoke["nets"]["vgg"]["runs"][0]["skip"] = False
    with pytest.raises(ConfigError, match=r"nets.vgg.runs\[0\].skip: only the ResNet has skip connections"):
        validated(smoke)


@pytest.mark.parametrize("base, overlay", [("config/quick.yaml", "config/architectures.yaml"),
                                           ("config/config.yaml", "config/architectures-paper.yaml")])
def test_the_architectures_overlay_adds_the_resnet_and_adam_and_leaves_the_others_alone(base, overlay):
    """The ResNet's standard, batchnorm and fixup nets with skips and the plain net's
    standard and batchnorm over 3 seeds at a shared lr with the VGG (claim 8), and both
    nets under Adam at 2 probed lrs and a third trained; every run of the base config
    keeps its spec and probes."""
    alone = validated(load(base))
    both = load(base)
    update_config(both, load(overlay))
    both = validated(both)
    added = set(expand_runs(both)) - set(expand_runs(alone))
    assert set(expand_runs(alone)) < set(expand_runs(both))
    for run in expand_runs(alone):
        assert train_spec(both, run) == train_spec(alone, run)
        assert probe_settings(both, run) == probe_settings(alone, run)
    probed = set(probed_runs(both))
    sgd = [r for r in added if r.net == "resnet" and r.optimizer == "sgd"]
    vgg_lrs = {r.lr for r in probed if r.net == "vgg" and r.variant == "standard" and r.optimizer == "sgd"}
    claim_8 = [lr for lr in vgg_lrs
               if all({0, 1, 2} <= {r.seed for r in probed if (r.net, r.variant, r.lr, r.skip, r.optimizer)
                                    == ("resnet", v, lr, skip, "sgd")}
                      for v, skip in (("standard", True), ("batchnorm", True), ("fixup", True)))
               and {0, 1, 2} <= {r.seed for r in probed if (r.net, r.variant, r.lr) == ("vgg", "standard", lr)}]
    assert claim_8, "no lr at which claim 8 compares 3 probed seeds of each net"
    assert {r.variant for r in sgd if not r.skip} == {"standard", "batchnorm"}
    assert {r.seed for r in sgd if not r.skip} == {0, 1, 2}
    for net in ("vgg", "resnet"):  # Adam: claims 1 and 4 at 2 probed lrs, claim 6 over a grid of 3
        adam = {(r.variant, r.lr) for r in added if r.net == net and r.optimizer == "adam"}
        assert {v for v, _ in adam} == {"standard", "batchnorm"} and len({lr for _, lr in adam}) == 3
        assert len({r.lr for r in probed if r.net == net and r.optimizer == "adam"}) == 2
    with pytest.raises(ValueError, match="only the ResNet has skip connections to remove, not the VGG"):
        Run("vgg", "standard", 0.1, 0, skip=False)
