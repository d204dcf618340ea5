"""Integration (issue 22): a ResNet config through the real DAG. Its runs train (Fixup
and Adam included), are probed layer by layer and surfaced, and the tables name them;
the claims and figures of the ResNet are the next step (claim 8), so here they only
must not fail on its runs."""

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
    assert sorted(runs["variant"]) == ["batchnorm", "batchnorm", "fixup", "standard"]
    assert set(runs["net"]) == {"resnet"} and set(runs["optimizer"]) == {"sgd", "adam"}
    assert (resnet_run / "results/resnet/batchnorm+adam/lr~0.001/seed~0/train/manifest.json").exists()
    training = pd.read_parquet(resnet_run / "results/tables/training.parquet")
    assert (training.groupby(["variant", "optimizer", "lr", "seed"]).size() == 20).all()  # every step of every run
    assert (runs["steps_completed"] == 20).all()
    ics = pd.read_parquet(resnet_run / "results/tables/ics.parquet")
    assert sorted(ics["layer"].unique()) == list(range(1, 9))  # 7 convs and the classifier
    activations = pd.read_parquet(resnet_run / "results/tables/activations.parquet")
    assert sorted(activations["layer"].unique()) == [1, 2, 7]
    steps = pd.read_parquet(resnet_run / "results/tables/landscape_steps.parquet")
    assert steps["effective_beta"].notna().all()


def test_resnet_surfaces_are_measured(resnet_run):
    surface = pd.read_parquet(resnet_run / "results/tables/surface.parquet")
    assert sorted(surface["variant"].unique()) == ["fixup", "standard"]
    assert len(surface) == 2 * 3 * 3


def test_the_claims_and_report_finish_beside_the_resnet_runs(resnet_run):
    assert (resnet_run / "reports/report.html").stat().st_size > 0
    assert (resnet_run / "results/tables/claims.csv").exists()
    assert (resnet_run / "results/tables/scorecard.csv").exists()
