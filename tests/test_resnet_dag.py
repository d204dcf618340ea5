"""Integration (issue 22): a ResNet config through the real DAG. Its runs train (Fixup,
the plain net without skips and Adam included), are probed layer by layer and
surfaced, and the tables, claims (claim 8 among them) and figures name them."""

import pandas as pd
import pytest

from workflow_helpers import REPO, snakemake

pytestmark = pytest.mark.slow
RESNET = REPO / "tests" / "configs" / "resnet.yaml"


@pytest.fixture(scope="module")
def resnet_run(tmp_path_factory, snakemake_bin):
    workdir = tmp_path_factory.mktemp("resnet")
    snakemake(snakemake_bin, workdir, configfile=RESNET)
    return workdir


def test_every_resnet_run_trains_and_is_probed(resnet_run):
    runs = pd.read_parquet(resnet_run / "results/tables/runs.parquet")
    assert sorted(runs["variant"]) == ["batchnorm", "batchnorm", "fixup", "standard", "standard"]
    assert sorted(runs["recipe"]) == ["", "", "", "adam", "noskip"]
    assert (resnet_run / "results/resnet/standard+noskip/lr~0.1/seed~0/train/manifest.json").exists()
    assert set(runs["net"]) == {"resnet"} and set(runs["optimizer"]) == {"sgd", "adam"}
    assert (resnet_run / "results/resnet/batchnorm+adam/lr~0.001/seed~0/train/manifest.json").exists()
    training = pd.read_parquet(resnet_run / "results/tables/training.parquet")
    assert (training.groupby(["variant", "recipe", "lr", "seed"]).size() == 20).all()  # every step of every run
    assert (runs["steps_completed"] == 20).all()
    ics = pd.read_parquet(resnet_run / "results/tables/ics.parquet")
    assert sorted(ics["layer"].unique()) == list(range(1, 9))  # 7 convs and the classifier
    activations = pd.read_parquet(resnet_run / "results/tables/activations.parquet")
    assert sorted(activations["layer"].unique()) == [1, 2, 7]
    steps = pd.read_parquet(resnet_run / "results/tables/landscape_steps.parquet")
    assert steps["effective_beta"].notna().all()


def test_resnet_surfaces_are_measured(resnet_run):
    surface = pd.read_parquet(resnet_run / "results/tables/surface.parquet")
    assert sorted(surface["variant"].unique()) == ["batchnorm", "fixup", "standard"]
    assert len(surface) == 3 * 3 * 3


def test_the_claims_ask_the_resnet_what_they_ask_the_vgg(resnet_run):
    """Claims 1 and 3-8 have ResNet rows beside the paper's nets' (those not measured
    here: the config has no VGG or DLN); claim 2 (noisy BN) stays the VGG's."""
    claims = pd.read_csv(resnet_run / "results/tables/claims.csv")
    resnet = claims[claims["net"] == "resnet"]
    assert set(resnet["claim"]) == {1, 3, 4, 5, 6, 7, 8}
    measured = resnet["verdict"] != "not measured by this config"
    # 5 and 7 need l_p / today's norms runs, 6 an lr grid; 8 compares fixup with batchnorm and the skips
    assert set(resnet.loc[measured, "claim"]) == {1, 3, 4, 8}
    eight = claims[(claims["claim"] == 8) & (claims["recipe"].fillna("") == "")].set_index("comparison")
    assert {"standard ResNet vs no skips", "fixup vs batchnorm"} <= set(eight.index)
    assert "VGG" not in " ".join(eight.index)  # this config has no VGG to compare with
    assert "effective beta RESNET standard [noskip]" in eight.loc["standard ResNet vs no skips", "numbers"]
    assert set(claims.loc[claims["net"] != "resnet", "verdict"]) == {"not measured by this config"}
    assert (resnet_run / "reports/report.html").stat().st_size > 0
    assert "RESNET" in (resnet_run / "reports/report.html").read_text()  # the matrix's column


def test_the_resnet_figures_are_drawn_or_say_why_not(resnet_run):
    index = pd.read_csv(resnet_run / "reports/figures/index.csv").set_index("stem")
    for stem in ("fig01_training_resnet", "fig03_ics_resnet", "fig04_landscape_resnet", "surface_resnet",
                 "surface_variants_resnet", "interpolation_resnet", "curvature_resnet"):
        assert index.loc[stem, "status"] == "rendered", (stem, index.loc[stem, "reason"])
        assert (resnet_run / "reports/figures" / f"{stem}.png").stat().st_size > 0
    assert "fixup" in index.loc["fig01_training_resnet", "caption"]
    # claim 8's figure needs the VGG beside the ResNet; the paper's figures need their nets
    assert index.loc["skips_resnet", "status"] == "skipped"
    assert "standard VGG" in index.loc["skips_resnet", "reason"]
    assert index.loc["fig01_training_vgg", "reason"].startswith("this config has no vgg runs")
