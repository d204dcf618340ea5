"""The report's choices, on small hand-made tables: which layers and learning rates
a figure shows, and the reasons it gives when it cannot draw."""

import pandas as pd
import pytest

from bnopt.analysis import figures
from bnopt.analysis.figures import choices, landscape, style


def test_paper_layers_are_taken_by_position_from_the_configured_list():
    # The paper's VGG layers 2, 3, 9, 11, 13; a config with 2, 3, 5, 7, 8 maps #11 to 7.
    assert choices.layers_by_position([2, 3, 5, 7, 8], "vgg", (3, 11)) == [3, 7]
    assert choices.layers_by_position([2, 3, 5, 7, 8], "vgg", (2, 9, 13)) == [2, 5, 8]
    # A shorter list keeps what it has, and never comes back empty.
    assert choices.layers_by_position([2, 3], "vgg", (2, 9, 13)) == [2]
    assert choices.layers_by_position([4], "vgg", (11,)) == [4]


def test_ics_layers_sit_at_the_papers_relative_depths():
    vgg16 = pd.DataFrame({"net": "vgg", "layer": range(1, 17)})
    assert choices.ics_layers(vgg16, "vgg") == [5, 10]  # the paper's own
    dln25 = pd.DataFrame({"net": "dln", "layer": range(1, 26)})
    assert choices.ics_layers(dln25, "dln") == [9, 17]
    tiny = pd.DataFrame({"net": "dln", "layer": range(1, 4)})
    assert choices.ics_layers(tiny, "dln") == [2]  # never layer 1, whose G' is G


def _runs(rows):
    return pd.DataFrame(rows, columns=["net", "variant", "lr"])


def test_learning_rates_prefer_the_papers_and_say_when_they_are_absent():
    table = _runs([("vgg", v, lr) for v in ("standard", "batchnorm") for lr in (0.05, 0.1, 0.5)])
    assert choices.lrs_for(table, "vgg", ["standard", "batchnorm"], (0.1, 0.5)) == ([0.1, 0.5], "")
    assert choices.lrs_for(table, "vgg", ["standard", "batchnorm"], (0.1, 0.5), 1) == ([0.1], "")
    other = _runs([("vgg", v, 0.05) for v in ("standard", "batchnorm")])
    lrs, note = choices.lrs_for(other, "vgg", ["standard", "batchnorm"], (0.1,), 1)
    assert lrs == [0.05] and "The paper's lr (0.1) is not in this config; showing 0.05." in note


def test_variants_without_a_common_learning_rate_are_a_skip_not_a_crash():
    table = _runs([("vgg", "standard", 0.01), ("vgg", "batchnorm", 0.1)])
    with pytest.raises(figures.NoData, match="at one common learning rate"):
        choices.lrs_for(table, "vgg", ["standard", "batchnorm"], (0.1,), 1)


def test_a_diverged_run_is_named_in_the_caption():
    runs = pd.DataFrame([dict(net="dln", variant="standard", lr=1.0, seed=0, diverged=True, diverged_step=3),
                         dict(net="dln", variant="batchnorm", lr=1.0, seed=0, diverged=False, diverged_step=None)])
    note = choices.diverged_note(runs, "dln", [1.0], None)
    assert note.startswith(" Diverged, drawn up to that step: standard at lr 1 (seed 0) diverged at step 3; log axes "
                           "are fitted to the runs that trained")
    assert choices.diverged_note(runs, "dln", [0.5], None) == ""
    assert choices.diverged_note(runs, "vgg", [1.0], None) == ""


def test_a_net_missing_from_the_config_skips_its_figures_with_the_reason(tmp_path):
    spec = figures.Spec("curvature_dln", "DLN curvature", "Paper: -", lambda t, c: pytest.fail("must not draw"))
    (entry,) = figures.render_all({}, {"nets": {"vgg": {}}}, tmp_path, [spec])
    assert isinstance(entry, figures.Skipped)
    assert entry.reason == "this config has no dln runs (nets.dln is absent)"
    table = figures.index_table([entry])
    assert table.loc[0, "status"] == "skipped" and not list(tmp_path.iterdir())


def test_seeds_pool_into_a_median_and_a_band():
    table = pd.DataFrame(dict(seed=[0, 1, 2, 0, 1, 2], step=[0, 0, 0, 10, 10, 10],
                              value=[1.0, 2.0, 4.0, 3.0, float("inf"), 5.0]))
    summary = style.across_seeds(table, "step", "value")
    assert summary.loc[0].tolist() == [2.0, 1.0, 4.0, 3]
    assert summary.loc[10].tolist() == [4.0, 3.0, 5.0, 2]  # a non-finite value (a diverged seed) is left out


def test_a_diverged_run_does_not_flatten_the_landscape_axes():
    rows = []
    for variant, scale in (("standard", 1.0), ("batchnorm", 0.5), ("noisy_standard", 1e30)):
        for step in (0, 10, 20):
            big = scale if (variant != "noisy_standard" or step > 0) else 1.0
            rows.append(dict(net="dln", variant=variant, lr=1e-6, seed=0, step=step, loss_min=big, loss_max=2 * big,
                             grad_change_min=big, grad_change_max=3 * big, effective_beta=10 * big))
    steps = pd.DataFrame(rows)
    fig = landscape.landscape(steps, "dln", 1e-6, diverged={("noisy_standard", 1e-6, 0)})
    for ax in fig.axes:
        assert ax.get_ylim()[1] < 1e3, ax.get_title()
    unclipped = landscape.landscape(steps, "dln", 1e-6)
    assert unclipped.axes[0].get_ylim()[1] > 1e29


def test_a_figure_sees_its_nets_own_recipe_unless_it_asks_for_every_optimizer(tmp_path):
    """The paper's figures compare runs of one recipe only: a momentum run, or a run of
    another initialization or loss, at the same variant, lr and seed must not be pooled
    with them; the optimizer figures see every optimizer of the net's own init and loss."""
    recipes = [("sgd", "glorot_uniform", "sum", ""), ("sgd-m0.9", "glorot_uniform", "sum", "sgd-m0.9"),
               ("sgd", "glorot_normal", "half_sum", "glorot_normal+half_sum")]
    training = pd.DataFrame([dict(net="dln", variant="batchnorm", lr=1e-6, seed=0, optimizer=opt, init=init,
                                  objective=loss, recipe=recipe) for opt, init, loss, recipe in recipes])
    seen = {}

    def spy(name, every):
        def draw(t, config):
            seen[name] = sorted(t["training"]["recipe"])
            raise figures.NoData("spied")
        return figures.Spec(f"{name}_dln", name, "", draw, every_optimizer=every)

    config = {"nets": {"dln": {}}}
    figures.render_all({"training": training}, config, tmp_path, [spy("own", False), spy("every", True)])
    assert seen == {"own": [""], "every": ["", "sgd-m0.9"]}
    # A net whose own optimizer is momentum: its figures show the momentum runs.
    figures.render_all({"training": training}, {"nets": {"dln": {"optimizer": {"momentum": 0.9}}}}, tmp_path,
                      [spy("own", False)])
    assert seen["own"] == ["sgd-m0.9"]
    # A net whose own init and loss are another reading of the paper: those runs.
    figures.render_all({"training": training}, {"nets": {"dln": {"init": "glorot_normal", "loss": "half_sum"}}},
                      tmp_path, [spy("own", False), spy("every", True)])
    assert seen == {"own": ["glorot_normal+half_sum"], "every": ["glorot_normal+half_sum"]}


def test_every_figure_a_group_module_defines_is_in_the_catalogue_once():
    """Adding a figure is an entry in its group's module (named by its stem in capitals)
    and a line in figures.CATALOGUE: an entry left out of the catalogue, or listed twice,
    fails here."""
    import importlib
    import pkgutil

    defined = {}
    for info in pkgutil.iter_modules(figures.__path__):
        module = importlib.import_module(f"bnopt.analysis.figures.{info.name}")
        for name, value in vars(module).items():
            if isinstance(value, figures.Spec):
                assert name == value.stem.upper(), (info.name, name)
                defined[value.stem] = value
    stems = [spec.stem for spec in figures.CATALOGUE]
    assert len(stems) == len(set(stems))
    assert sorted(stems) == sorted(defined)
    assert all(spec is defined[spec.stem] for spec in figures.CATALOGUE)


def test_a_figure_needs_the_net_its_stem_ends_in():
    assert [figures.spec_net(spec) for spec in (figures.training.FIG01_TRAINING_RESNET,
                                                figures.landscape.CURVATURE_DLN, figures.ics.FIG03_ICS_VGG,
                                                figures.architectures.SKIPS_RESNET)] == ["resnet", "dln", "vgg",
                                                                                         "resnet"]


def test_the_optimizer_figure_shows_each_optimizer_at_its_own_lrs_beside_sgd_at_the_papers():
    from bnopt.analysis.figures.optimizers import _rows_shown

    def runs(optimizer, lrs):
        return [dict(net="vgg", variant=v, lr=lr, optimizer=optimizer) for v in ("standard", "batchnorm")
                for lr in lrs]

    # Adam at 1e-3 and 1e-2, SGD at 0.01 ... 1.0: Adam's two rows and SGD's at the paper's 0.1
    training = pd.DataFrame(runs("sgd", [0.01, 0.03, 0.1, 0.5, 1.0]) + runs("adam", [0.001, 0.01]))
    assert _rows_shown(training, "vgg", ["standard", "batchnorm"], ["adam"]) == [0.001, 0.01, 0.1]
    # with landscape probes, the probed lrs only (Adam's third lr and SGD's 0.1 trained, not probed)
    steps = pd.DataFrame(runs("sgd", [0.01]) + runs("adam", [0.001, 0.01]))
    assert _rows_shown(training, "vgg", ["standard", "batchnorm"], ["adam"], steps) == [0.001, 0.01]
    # momentum at the paper's lr itself: that row holds both
    training = pd.DataFrame(runs("sgd", [0.1, 0.5]) + runs("sgd-m0.9", [0.01, 0.1]))
    assert _rows_shown(training, "vgg", ["standard", "batchnorm"], ["sgd-m0.9"]) == [0.01, 0.1]


def test_the_optimizer_figures_of_a_resnet_leave_its_plain_nets_runs_out(tmp_path):
    rows = [("sgd", ""), ("adam", "adam"), ("sgd", "noskip"), ("adam", "noskip+adam")]
    training = pd.DataFrame([dict(net="resnet", variant="batchnorm", lr=0.01, seed=0, optimizer=opt,
                                  init="he_normal", objective="cross_entropy", recipe=recipe)
                             for opt, recipe in rows])
    seen = {}

    def draw(t, config):
        seen["every"] = sorted(t["training"]["recipe"])
        raise figures.NoData("spied")

    spec = figures.Spec("spy_resnet", "spy", "", draw, every_optimizer=True)
    figures.render_all({"training": training}, {"nets": {"resnet": {"model": {}}}}, tmp_path, [spec])
    assert seen["every"] == ["", "adam"]
    figures.render_all({"training": training}, {"nets": {"resnet": {"model": {"skip": False}}}}, tmp_path, [spec])
    assert seen["every"] == ["noskip", "noskip+adam"]


def _claim_8_tables():
    """Training and landscape rows of claim 8's networks at lr 0.01, seeds 0-2."""
    arms = [("vgg", "standard", "", 5.0), ("vgg", "batchnorm", "", 1.0), ("resnet", "standard", "", 2.0),
            ("resnet", "batchnorm", "", 0.5), ("resnet", "fixup", "", 1.5), ("resnet", "standard", "noskip", 9.0)]
    training, steps = [], []
    for net, variant, recipe, beta in arms:
        for seed in range(3):
            run = dict(net=net, variant=variant, lr=0.01, seed=seed, recipe=recipe, optimizer="sgd")
            training += [dict(run, step=s, accuracy=min(1.0, 0.1 + s / 50), loss=1.0) for s in range(60)]
            steps += [dict(run, step=s, effective_beta=beta * (1 + seed), grad_change_min=0.0,
                           grad_change_max=beta, loss_min=1.0, loss_max=1.0 + beta) for s in range(0, 60, 10)]
    runs = pd.DataFrame([dict(net=n, variant=v, lr=0.01, seed=s, diverged=False, diverged_step=None)
                         for n, v, _, _ in arms for s in range(3)])
    return {"training": pd.DataFrame(training), "landscape_steps": pd.DataFrame(steps), "runs": runs}


def test_claim_8s_figure_draws_every_net_and_says_their_numbers(tmp_path):
    tables = _claim_8_tables()
    config = {"nets": {"vgg": {}, "resnet": {"model": {}}}}
    (entry,) = figures.render_all(tables, config, tmp_path, [figures.architectures.SKIPS_RESNET])
    assert isinstance(entry, figures.Rendered), entry
    assert "RESNET standard (no skips) final smoothed accuracy" in entry.caption
    assert "VGG standard final smoothed accuracy 1, effective beta 10" in entry.caption  # median of 5, 10, 15
    assert "Dotted: the same ResNet without its skip connections." in entry.caption
    assert (tmp_path / "skips_resnet.png").stat().st_size > 0
    # without the VGG's probes there is nothing to compare the ResNet with
    no_vgg = dict(tables, landscape_steps=tables["landscape_steps"].query("net == 'resnet'"))
    (entry,) = figures.render_all(no_vgg, config, tmp_path, [figures.architectures.SKIPS_RESNET])
    assert isinstance(entry, figures.Skipped) and "the standard VGG" in entry.reason
