"""The scorecard's setting check and the part of the config it reads."""

from pathlib import Path

import yaml
from snakemake.utils import validate

from bnopt.analysis.scorecard import setting, setting_inputs

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
