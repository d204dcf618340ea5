"""Optimizers beside the paper's plain SGD: Adam and AdamW (issue 22). Their settings,
their tokens (a run's folder), clear errors, their state in checkpoints, and a DLN
run's numbers independent of its stack under them."""

import copy

import pytest
import torch

from bnopt.checks import ConfigError, check_config
from bnopt.training.engine import build_problem, build_run, make_engine, train_step
from bnopt.training.optim import OPTIMIZERS, make_optimizer, optimizer_token, resolved
from bnopt.runs import expand_runs, optimizer_settings, train_spec

CPU = torch.device("cpu")


@pytest.mark.parametrize("settings, token", [
    (None, "sgd"), ({"momentum": 0.9}, "sgd-m0.9"), ({"momentum": 0.9, "nesterov": True, "weight_decay": 5e-4},
                                                     "sgd-m0.9-nesterov-wd0.0005"),
    ({"name": "adam"}, "adam"), ({"name": "adam", "betas": [0.9, 0.999], "eps": 1e-8}, "adam"),
    ({"name": "adam", "betas": [0.5, 0.99]}, "adam-betas0.5_0.99"), ({"name": "adam", "eps": 1e-6}, "adam-eps1e-06"),
    ({"name": "adam", "weight_decay": 5e-4}, "adam-wd0.0005"), ({"name": "adamw"}, "adamw"),
    ({"name": "adamw", "weight_decay": 0.01}, "adamw"), ({"name": "adamw", "weight_decay": 0.0}, "adamw-wd0.0"),
    ({"name": "adamw", "weight_decay": 0.1}, "adamw-wd0.1"),
])
def test_a_token_names_the_optimizer_and_what_differs_from_its_defaults(settings, token):
    assert optimizer_token(settings) == token


def test_settings_take_their_optimizers_defaults():
    assert resolved(None) == {"name": "sgd", "momentum": 0.0, "nesterov": False, "weight_decay": 0.0}
    assert resolved({"name": "adamw"}) == {"name": "adamw", **OPTIMIZERS["adamw"]}
    assert resolved({"name": "adamw"})["weight_decay"] == 0.01  # torch's AdamW default


def test_an_unknown_optimizer_or_a_foreign_setting_is_named():
    with pytest.raises(ValueError, match=r"unknown optimizer 'rmsprop'; choose one of sgd, adam, adamw"):
        resolved({"name": "rmsprop"})
    with pytest.raises(ValueError, match=r"optimizer 'adam' has no setting 'momentum'"):
        resolved({"name": "adam", "momentum": 0.9})
    with pytest.raises(ValueError, match=r"optimizer 'sgd' has no setting 'betas'"):
        make_optimizer([torch.zeros(2, requires_grad=True)], 0.1, {"betas": [0.9, 0.99]})


def test_torch_makes_the_optimizer_the_settings_name():
    params = [torch.zeros(2, requires_grad=True)]
    adam = make_optimizer(params, 0.01, {"name": "adam", "betas": [0.5, 0.99], "eps": 1e-6})
    assert type(adam) is torch.optim.Adam
    assert adam.param_groups[0]["betas"] == (0.5, 0.99) and adam.param_groups[0]["eps"] == 1e-6
    adamw = make_optimizer(params, 0.01, {"name": "adamw"})
    assert type(adamw) is torch.optim.AdamW and adamw.param_groups[0]["weight_decay"] == 0.01


def _config():
    from test_config import load, validated

    return validated(load("config/quick.yaml"))


def test_a_group_naming_another_optimizer_starts_from_its_defaults():
    section = {"optimizer": {"momentum": 0.9}}
    assert optimizer_settings(section, {}) == resolved({"momentum": 0.9})
    assert optimizer_settings(section, {"optimizer": {"name": "adam"}}) == resolved({"name": "adam"})
    assert optimizer_settings({"optimizer": {"name": "adam", "eps": 1e-6}}, {"optimizer": {"betas": [0.5, 0.9]}}) == \
        resolved({"name": "adam", "eps": 1e-6, "betas": [0.5, 0.9]})


def test_a_config_with_a_foreign_optimizer_setting_fails_naming_the_key():
    config = _config()
    config["nets"]["vgg"]["runs"]["adam"] = {"variants": ["standard"], "lrs": [0.001], "seeds": [0],
                                             "optimizer": {"name": "adam", "momentum": 0.9}}
    with pytest.raises(ConfigError, match=r"nets.vgg.runs.adam.optimizer: optimizer 'adam' has no setting 'momentum'"):
        check_config(config)


def test_adam_runs_have_their_own_folder_and_spec():
    config = _config()
    config["nets"]["vgg"]["runs"]["adam"] = {"variants": ["standard", "batchnorm"], "lrs": [0.001], "seeds": [0],
                                             "optimizer": {"name": "adam"}}
    check_config(config)
    runs = [r for r in expand_runs(config) if r.optimizer == "adam"]
    assert len(runs) == 2 and runs[0].path == "vgg/standard+adam/lr~0.001/seed~0"
    assert train_spec(config, runs[0])["optimizer"] == resolved({"name": "adam"})


SPEC = dict(net="dln", variant="batchnorm", lr=1e-3, seed=0, steps=12, batch_size=100, eval_every=5,
            checkpoint_every=4, model=dict(depth=6, width=5, normalized_layers=5), data=dict(n_train=100, n_test=50))


def _steps(engine, steps):
    return torch.stack([engine.step(step)[0].clone() for step in range(steps)])


@pytest.mark.parametrize("optimizer", [{"name": "adam"}, {"name": "adamw", "weight_decay": 0.1}])
@pytest.mark.parametrize("variant", ["standard", "batchnorm", "layernorm", "weightnorm"])
def test_a_dln_runs_values_under_adam_do_not_depend_on_its_stack(optimizer, variant):
    """Seed 2 alone and among 5 seeds at 3 lrs: the same losses, weights and Adam moments,
    bit for bit; and equal to the unstacked network to float rounding."""
    alone = make_engine([dict(SPEC, variant=variant, seed=2, optimizer=optimizer)], None, CPU)
    specs = [dict(SPEC, variant=variant, lr=lr, seed=seed, optimizer=optimizer) for lr in (3e-4, 1e-3, 3e-3)
             for seed in range(5)]
    stack = make_engine(specs, None, CPU)
    a, s = _steps(alone, 6), _steps(stack, 6)
    assert torch.equal(a[:, 0], s[:, 7])
    mine, theirs = alone.run_state(0), stack.run_state(7)
    for name, tensor in mine["model"].items():
        assert torch.equal(tensor, theirs["model"][name]), name
    for index, entry in mine["optimizer"]["state"].items():
        for key, value in entry.items():
            assert torch.equal(value, theirs["optimizer"]["state"][index][key]), (index, key)
    spec = dict(SPEC, variant=variant, seed=2, optimizer=optimizer)
    model, opt = build_run(spec, CPU)
    problem = build_problem(spec, None, CPU)
    unstacked = torch.stack([train_step(model, opt, problem, step)[0] for step in range(6)])
    torch.testing.assert_close(a[:, 0], unstacked, rtol=2e-5, atol=0)
    assert type(opt) is (torch.optim.Adam if optimizer["name"] == "adam" else torch.optim.AdamW)


def test_adam_and_sgd_take_different_steps_from_the_same_start():
    losses = {}
    for name, optimizer in (("sgd", None), ("adam", {"name": "adam"})):
        spec = dict(SPEC, optimizer=optimizer) if optimizer else copy.deepcopy(SPEC)
        losses[name] = _steps(make_engine([spec], None, CPU), 4)[:, 0]
    assert losses["sgd"][0] == losses["adam"][0] and not torch.equal(losses["sgd"][1:], losses["adam"][1:])
