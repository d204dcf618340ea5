"""DLN runs trained stacked: each run's values independent of its stack (bit for bit),
equal to the unstacked network's to float32 rounding, with per-run checkpoints that the
unstacked network loads, per-run divergence and exact resumption."""

import os

import pandas as pd
import pytest
import torch

from bnopt.norms import VARIANTS
from bnopt.training.engine import build_problem, build_run, make_engine, train_step
from bnopt.training.stacked import stackable
from bnopt.training.train import run_batch, run_outputs

SPEC = dict(net="dln", variant="batchnorm", lr=5e-5, seed=0, steps=12, batch_size=100, eval_every=5,
            checkpoint_every=4, model=dict(depth=6, width=5, normalized_layers=5), data=dict(n_train=100, n_test=50))
CPU = torch.device("cpu")


def _specs(variant, seeds, **extra):
    return [dict(SPEC, variant=variant, seed=seed, **extra) for seed in seeds]


def _steps(engine, steps):
    out = []
    for step in range(steps):
        losses, _ = engine.step(step)
        out.append(losses.clone())
    return torch.stack(out)  # (steps, runs)


@pytest.mark.parametrize("variant", VARIANTS)
def test_a_runs_values_do_not_depend_on_its_stack(variant):
    """Seed 2 alone, in a stack of 2 and in a stack of 5: the same losses and weights, bit for bit."""
    alone = make_engine(_specs(variant, [2]), None, CPU)
    pair = make_engine(_specs(variant, [7, 2]), None, CPU)
    five = make_engine(_specs(variant, [0, 1, 2, 3, 4]), None, CPU)
    a, p, f = _steps(alone, 6), _steps(pair, 6), _steps(five, 6)
    assert torch.equal(a[:, 0], p[:, 1]) and torch.equal(a[:, 0], f[:, 2])
    for name, tensor in alone.run_state(0)["model"].items():
        assert torch.equal(tensor, five.run_state(2)["model"][name]), name
    assert torch.equal(torch.tensor([x for x, _ in alone.evaluate()]), torch.tensor([five.evaluate()[2][0]]))


@pytest.mark.parametrize("variant", ["batchnorm", "noisy_batchnorm", "l1", "groupnorm", "weightnorm"])
def test_a_runs_values_do_not_depend_on_its_stack_on_several_threads(variant):
    """Jobs run with the config's threads: a probe replays a run alone what its training
    job computed in a stack, so the independence must hold there too (NaN equals NaN:
    a run that blows up does so alike)."""
    torch.set_num_threads(2)  # the autouse fixture restores 1
    alone = _steps(make_engine(_specs(variant, [3]), None, CPU), 5)
    stack = _steps(make_engine(_specs(variant, [0, 1, 2, 3, 4, 5, 6]), None, CPU), 5)
    torch.testing.assert_close(alone[:, 0], stack[:, 3], rtol=0, atol=0, equal_nan=True)


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("recipe", [{}, dict(init="glorot_normal", loss="half_sum"), dict(optimizer=dict(momentum=0.9))])
def test_stacked_runs_equal_the_unstacked_network_to_float_rounding(variant, recipe):
    specs = _specs(variant, [0, 1, 2], **recipe)
    stacked = _steps(make_engine(specs, None, CPU), 10)
    for r, spec in enumerate(specs):
        problem = build_problem(spec, None, CPU)
        model, optimizer = build_run(spec, CPU)
        alone = torch.stack([train_step(model, optimizer, problem, step)[0] for step in range(10)])
        torch.testing.assert_close(stacked[:, r], alone, rtol=2e-5, atol=0)


@pytest.mark.parametrize("variant", ["standard", "batchnorm", "noisy_batchnorm", "layernorm", "groupnorm"])
def test_stacked_minibatches_equal_the_unstacked_networks(variant):
    """Batches of 30 of 100 samples: each run gathers its own sampler's batch, in either
    layout (features-major for batch statistics, samples-major for per-sample ones)."""
    specs = _specs(variant, [0, 1], batch_size=30)
    stacked = _steps(make_engine(specs, None, CPU), 6)
    for r, spec in enumerate(specs):
        problem = build_problem(spec, None, CPU)
        assert not problem.sampler.full_batch
        model, optimizer = build_run(spec, CPU)
        alone = torch.stack([train_step(model, optimizer, problem, step)[0] for step in range(6)])
        torch.testing.assert_close(stacked[:, r], alone, rtol=2e-5, atol=0)


def test_a_stacked_runs_checkpoint_is_the_unstacked_networks():
    engine = make_engine(_specs("noisy_batchnorm", [0, 1]), None, CPU)
    _steps(engine, 3)
    model, optimizer = build_run(_specs("noisy_batchnorm", [1])[0], CPU)
    state = engine.run_state(1)
    model.load_state_dict(state["model"])  # strict: every name and shape
    optimizer.load_state_dict(state["optimizer"])
    problem = build_problem(_specs("noisy_batchnorm", [1])[0], None, CPU)
    torch.testing.assert_close(train_step(model, optimizer, problem, 3)[0], engine.step(3)[0][1], rtol=2e-5, atol=0)


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("optimizer", [None, dict(momentum=0.9)])
def test_a_runs_values_do_not_depend_on_the_lrs_beside_it(variant, optimizer):
    """A stack of three lrs (a parameter group each): every run's losses, weights,
    optimizer state and test loss are those of its lr's runs stacked alone, bit for bit,
    and its checkpoint is the unstacked network's format with its own lr."""
    extra = {} if optimizer is None else dict(optimizer=optimizer)
    lrs = (2e-5, 5e-5, 1e-4)
    mixed_specs = [dict(SPEC, variant=variant, lr=lr, seed=seed, **extra) for lr in lrs for seed in (0, 1)]
    mixed = make_engine(mixed_specs, None, CPU)
    m = _steps(mixed, 6)
    for k, lr in enumerate(lrs):
        alone = make_engine([dict(SPEC, variant=variant, lr=lr, seed=seed, **extra) for seed in (0, 1)], None, CPU)
        a = _steps(alone, 6)
        torch.testing.assert_close(m[:, 2 * k:2 * k + 2], a, rtol=0, atol=0, equal_nan=True)
        for r in (0, 1):
            mine, theirs = mixed.run_state(2 * k + r), alone.run_state(r)
            assert list(mine["model"]) == list(theirs["model"])
            for name, tensor in theirs["model"].items():
                torch.testing.assert_close(mine["model"][name], tensor, rtol=0, atol=0, equal_nan=True)
            assert mine["optimizer"]["param_groups"] == theirs["optimizer"]["param_groups"]
            assert mine["optimizer"]["param_groups"][0]["lr"] == lr
            assert mine["optimizer"]["state"].keys() == theirs["optimizer"]["state"].keys()
            for index, entry in theirs["optimizer"]["state"].items():
                for key, value in entry.items():
                    torch.testing.assert_close(mine["optimizer"]["state"][index][key], value, rtol=0, atol=0)
        torch.testing.assert_close(torch.tensor([x for x, _ in mixed.evaluate()[2 * k:2 * k + 2]]),
                                   torch.tensor([x for x, _ in alone.evaluate()]), rtol=0, atol=0, equal_nan=True)


def test_a_mixed_lr_stack_loads_its_runs_checkpoints_and_steps_on_exactly():
    """load_runs puts each run's checkpoint (momentum buffer included) into its lr group:
    the reloaded stack's next steps equal the unbroken stack's."""
    specs = [dict(SPEC, lr=lr, seed=seed, optimizer=dict(momentum=0.9)) for lr in (2e-5, 1e-4) for seed in (0, 1, 2)]
    unbroken = make_engine(specs, None, CPU)
    _steps(unbroken, 3)
    reloaded = make_engine(specs, None, CPU)
    reloaded.load_runs([unbroken.run_state(r) for r in range(len(specs))])
    later_unbroken = torch.stack([unbroken.step(step)[0] for step in range(3, 6)])
    later_reloaded = torch.stack([reloaded.step(step)[0] for step in range(3, 6)])
    assert torch.equal(later_unbroken, later_reloaded)


def test_only_runs_that_differ_in_their_seed_and_lr_stack():
    with pytest.raises(ValueError, match="must share 'variant'"):
        stackable([SPEC, dict(SPEC, seed=1, variant="standard")])
    with pytest.raises(ValueError, match="next to each other"):
        stackable([SPEC, dict(SPEC, seed=1, lr=1e-3), dict(SPEC, seed=2)])
    with pytest.raises(ValueError, match="only deep linear network runs"):
        stackable([dict(SPEC, net="vgg")])


def _run(specs, folder, state):
    outs = [run_outputs(folder / f"seed{s['seed']}") for s in specs]
    for out in outs:
        out["metrics"].parent.mkdir(parents=True, exist_ok=True)
    manifests = run_batch(specs, None, outs, state, device="cpu", threads=1, log=open(os.devnull, "w"))
    return manifests, [pd.read_parquet(out["metrics"]) for out in outs], [pd.read_parquet(out["evals"]) for out in outs]


def test_a_diverging_run_stops_alone_and_its_stack_trains_on(tmp_path):
    """At lr 4e-4 the standard net of seed 1 blows up while seeds 0 and 4 train: it is
    recorded as diverged at its step, its checkpoints stop, and the others finish as they
    would alone."""
    specs = _specs("standard", [0, 1, 4], lr=4e-4, steps=20, eval_every=5, checkpoint_every=5)
    manifests, metrics, _ = _run(specs, tmp_path / "stack", tmp_path / "state")
    diverged = [m["diverged"] for m in manifests]
    assert diverged == [False, True, False]
    for manifest, table in zip(manifests, metrics):
        if manifest["diverged"]:
            assert len(table) == manifest["diverged_step"] + 1 and not torch.isfinite(torch.tensor(table["loss"].iloc[-1]))
            assert max(manifest["checkpoint_steps"]) <= manifest["diverged_step"]
    _, alone, _ = _run(specs[2:], tmp_path / "alone", tmp_path / "state-alone")
    pd.testing.assert_frame_equal(alone[0], metrics[2])


def test_a_killed_stack_resumes_where_it_stopped(tmp_path, monkeypatch):
    """A stack interrupted at step 9 (its outputs never published) goes on from its
    checkpoints at step 8: the same tables as an unbroken stack, value for value."""
    import bnopt.training.train as train_module

    specs = _specs("l2", [0, 1], steps=12, optimizer=dict(momentum=0.9))
    _, whole, whole_evals = _run(specs, tmp_path / "whole", tmp_path / "state-whole")

    class Killed(Exception):
        pass

    def interrupted(*args, **kwargs):
        engine = make_engine(*args, **kwargs)
        step = engine.step

        def step_until_killed(t):
            if t == 9:
                raise Killed
            return step(t)

        engine.step = step_until_killed
        return engine

    monkeypatch.setattr(train_module, "make_engine", interrupted)
    with pytest.raises(Killed):
        _run(specs, tmp_path / "resumed", tmp_path / "state")
    monkeypatch.setattr(train_module, "make_engine", make_engine)
    manifests, resumed, resumed_evals = _run(specs, tmp_path / "resumed", tmp_path / "state")
    assert [m["resumed_from_step"] for m in manifests] == [8, 8]
    for a, b in zip(whole, resumed):
        pd.testing.assert_frame_equal(a, b)
    for a, b in zip(whole_evals, resumed_evals):
        pd.testing.assert_frame_equal(a, b)


def test_vgg_runs_do_not_stack():
    spec = dict(net="vgg", variant="batchnorm", lr=0.1, seed=0, steps=2, batch_size=8, eval_every=2,
                checkpoint_every=2, model=dict(arch="vgg11", width=0.0625), dataset="digits")
    with pytest.raises(ValueError, match="only DLN runs train stacked"):
        make_engine([spec, dict(spec, seed=1)], "unused", CPU)


def test_probing_a_stack_equals_probing_each_run_alone(tmp_path):
    """The probe job of a stack replays its runs together and measures each in turn: the
    same tables as a job per run (a run that diverged is measured up to its last step)."""
    from bnopt.measure.replay import probe_segment, probe_stack

    specs = _specs("standard", [0, 1, 4], lr=4e-4, steps=20, eval_every=5, checkpoint_every=5)
    manifests, _, _ = _run(specs, tmp_path / "runs", tmp_path / "state")
    assert [m["diverged"] for m in manifests] == [False, True, False]
    probe = dict(probe_every=5, dense=dict(until=5, every=2), landscape=dict(low=0.5, high=2.0, points=3),
                 activations=dict(layers=[1, 3], units=2, samples=50), curvature=dict(iterations=3, tol=1e-3))
    folders = [tmp_path / "runs" / f"seed{s['seed']}" for s in specs]
    together = probe_stack(specs, probe, None, [f / "checkpoints" for f in folders],
                           [f / "metrics.parquet" for f in folders], 0, 20, device="cpu", threads=1)
    for spec, folder, tables in zip(specs, folders, together):
        alone = probe_segment(spec, probe, None, folder / "checkpoints", folder / "metrics.parquet", 0, 20,
                              device="cpu", threads=1)
        for name in alone:
            a, b = (t.drop(columns=["seconds"], errors="ignore").reset_index(drop=True) for t in (alone[name], tables[name]))
            pd.testing.assert_frame_equal(a, b, check_dtype=False)
    steps = [set(t["landscape_steps"]["step"]) for t in together]
    assert steps[0] == {0, 2, 4, 5, 10, 15} and max(steps[1]) <= manifests[1]["diverged_step"]


def test_retiring_runs_shrinks_the_stack_and_the_others_go_on_exactly():
    """retire() (what training calls for runs that diverged): the stack computes only the
    others from then on, each exactly as without the retired ones; their losses read NaN."""
    specs = [dict(SPEC, lr=lr, seed=seed, optimizer=dict(momentum=0.9)) for lr in (2e-5, 1e-4) for seed in (0, 1)]
    full, reference = make_engine(specs, None, CPU), make_engine([specs[0], specs[3]], None, CPU)
    for step in range(3):
        full.step(step)
        reference.step(step)
    full.retire([1, 2])
    assert full.live == [0, 3] and full.runs == 4
    later = torch.stack([full.step(step)[0] for step in range(3, 6)])
    expected = torch.stack([reference.step(step)[0] for step in range(3, 6)])
    assert torch.equal(later[:, [0, 3]], expected) and later[:, [1, 2]].isnan().all()
    for r, mine in ((0, 0), (1, 3)):
        for name, tensor in reference.run_state(r)["model"].items():
            assert torch.equal(full.run_state(mine)["model"][name], tensor), name
    assert [loss for loss, _ in full.evaluate()][1] != [loss for loss, _ in full.evaluate()][1]  # NaN
