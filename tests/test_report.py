"""The report as a user sees it: the smoke config's report.html opened in headless
Chromium, its figure index, and a partial config (no DLN, one learning rate)."""

import os
import shutil

import pandas as pd
import pytest
import yaml

from workflow_helpers import SMOKE, job_counts, snakemake

pytestmark = pytest.mark.slow


def chromium_path() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
    if found is None:
        message = "headless Chromium is not installed (Debian: apt-get install chromium); .ci/run installs it"
        if os.environ.get("BNOPT_REQUIRE_BROWSER"):
            pytest.fail(message)
        pytest.skip(message)
    return found


def test_report_renders_in_headless_chromium(smoke_run):
    from playwright.sync_api import sync_playwright

    workdir, _ = smoke_run
    reports = workdir / "reports"
    index = pd.read_csv(reports / "figures" / "index.csv", keep_default_na=False)
    claims = pd.read_csv(workdir / "results" / "tables" / "claims.csv")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium_path(), args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        requests = []
        page.on("request", lambda r: requests.append(r.url))
        page.goto((reports / "report.html").as_uri())
        page.wait_for_load_state("load")
        images = page.evaluate("Array.from(document.images).map(i => ({alt: i.alt, ok: i.complete && i.naturalWidth > 0}))")
        claim_rows = page.locator("#claims-table tbody tr").count()
        matrix_rows = page.locator("#claims-matrix tbody tr").count()
        matrix_text = page.inner_text("#claims-matrix")
        scorecard_rows = page.locator("#scorecard tbody tr").count()
        # The report opens with the claims matrix, then the scorecard, then the runs.
        order = page.evaluate("""['claims-matrix', 'scorecard', 'claims-table'].map(
            id => document.getElementById(id).getBoundingClientRect().top + window.scrollY)""")
        text = page.inner_text("body")
        page.screenshot(path=str(reports / "screenshot.png"), full_page=True)
        browser.close()
    rendered = index[index["status"] == "rendered"]
    assert [i["alt"] for i in images] == rendered["title"].tolist()
    assert all(i["ok"] for i in images), [i["alt"] for i in images if not i["ok"]]
    assert claim_rows == len(claims) > 0
    assert matrix_rows == claims["claim"].nunique() == 8
    assert order == sorted(order)
    # The smoke config's two-seed pair (VGG standard/batchnorm at 0.1): a verdict per seed, and
    # the matrix shows each row's k/n (n counts the seeds not moot: in 40 steps the standard
    # network may stay at chance).
    vgg_01 = claims[(claims["net"] == "vgg") & (claims["lr"] == 0.1) & (claims["claim"].isin([1, 3, 4]))]
    assert len(vgg_01) >= 3 and (vgg_01["seeds"] == "0, 1").all(), vgg_01
    for r in vgg_01.itertuples():
        assert len(r.seed_verdicts.split(", ")) == 2
        shown = {"moot": f"moot ({r.seed_verdicts.count('moot')} of 2 seeds moot)"}.get(r.verdict, f"{r.verdict} (–)")
        assert (f"{r.verdict} ({r.k}/{r.n})" if r.n else shown) in matrix_text
    from bnopt.analysis.scorecard import load_paper_numbers

    assert scorecard_rows == len(load_paper_numbers()) > 20
    assert "setting differs" in text and "compare the direction, not the value" in text
    # Bands: the training figure's caption says how many seeds each curve pools.
    assert "Seeds per curve (lr 0.1: standard 2, batchnorm 2" in text
    # Self-contained: nothing but the file itself and its data: URIs is fetched.
    assert all(url.startswith(("file:", "data:")) for url in requests), requests
    for row in index[index["status"] == "skipped"].itertuples():
        assert row.reason in text
    assert "Diverged runs: dln standard lr 0.0004 seed 0 at step" in text  # the sweep's largest lr
    assert "dln standard lr 1 seed 0 at step" in text
    # The DLN learning-rate sweep and the loss surfaces are drawn, with their numbers.
    for stem in ("lr_sensitivity_dln", "surface_vgg", "surface_dln", "surface_variants_dln", "interpolation_dln"):
        assert index.set_index("stem").loc[stem, "status"] == "rendered", stem
    assert "Where the standard network breaks on this grid" in text
    assert text.count("Median relative loss rise") >= 3
    assert (reports / "screenshot.png").stat().st_size > 50_000
    print(f"screenshot: {reports / 'screenshot.png'}")


def test_every_figure_is_drawn_or_skipped_with_a_reason(smoke_run):
    from bnopt.analysis.figures import CATALOGUE

    workdir, _ = smoke_run
    figures = workdir / "reports" / "figures"
    index = pd.read_csv(figures / "index.csv", keep_default_na=False).set_index("stem")
    assert list(index.index) == [spec.stem for spec in CATALOGUE]
    for stem, row in index.iterrows():
        if row["status"] == "rendered":
            assert (figures / f"{stem}.png").stat().st_size > 5000 and (figures / f"{stem}.pdf").exists()
            assert row["caption"].startswith(("Paper", "Not in the paper:")) and "This run" in row["caption"]
        else:
            assert row["reason"] and not (figures / f"{stem}.png").exists()
    # The smoke config's VGG has no l_p runs but two of today's normalizations: Fig. 5 and 6 show
    # those, with claim 7's verdicts; it has no VGG momentum runs: that figure says how to add them.
    for stem in ("fig05_training_lp_vgg", "fig06_activations_lp_vgg", "fig12_landscape_all_vgg"):
        assert index.loc[stem, "status"] == "rendered", stem
    assert "groupnorm" in index.loc["fig05_training_lp_vgg", "caption"]
    assert "Claim 7 in the claims table: vgg lr 0.1, groupnorm vs batchnorm and standard" in \
        index.loc["fig12_landscape_all_vgg", "caption"]
    # its VGG's Adam pair (lr 0.001) is drawn beside plain SGD at the paper's lr (0.1)
    assert "batchnorm with adam" in index.loc["optimizers_vgg", "caption"]
    assert "lr 0.001" in index.loc["optimizers_vgg", "caption"] and "lr 0.1 " in index.loc["optimizers_vgg", "caption"]
    # claim 8's figure: the ResNet pair beside the VGG's at 0.1
    assert index.loc["skips_resnet", "status"] == "rendered" and "VGG standard" in index.loc["skips_resnet", "caption"]
    assert "batchnorm with sgd-m0.9" in index.loc["optimizers_dln", "caption"]
    # Its diverged DLN run is drawn and named, not dropped.
    assert "standard at lr 1 (seed 0) diverged at step" in index.loc["curvature_dln", "caption"]


def test_a_partial_config_renders_what_it_has_and_says_what_it_skipped(smoke_run, snakemake_bin, tmp_path):
    workdir, _ = smoke_run
    partial = tmp_path / "work"
    shutil.copytree(workdir, partial, symlinks=True)
    config = yaml.safe_load(SMOKE.read_text())
    config["nets"] = {"vgg": config["nets"]["vgg"]}
    config["nets"]["vgg"]["runs"] = [{"variants": ["standard", "batchnorm"], "lrs": [0.1], "seeds": [0]}]
    configfile = tmp_path / "partial.yaml"
    configfile.write_text(yaml.safe_dump(config))
    # The runs it keeps are done: only the tables, the claims and the report are redone.
    planned = job_counts(snakemake(snakemake_bin, partial, "-n", configfile=configfile).stdout)
    assert planned == {"aggregate": 1, "claims": 1, "scorecard": 1, "surfaces": 1, "report": 1, "all": 1}, planned
    snakemake(snakemake_bin, partial, configfile=configfile)
    index = pd.read_csv(partial / "reports" / "figures" / "index.csv", keep_default_na=False).set_index("stem")
    skipped = index[index["status"] == "skipped"]
    for stem in [s for s in index.index if s.endswith("_dln")]:
        assert skipped.loc[stem, "reason"] == "this config has no dln runs (nets.dln is absent)"
    assert "noisy_batchnorm" in skipped.loc["fig02_training_noisy_vgg", "reason"]
    for stem in ("fig01_training_vgg", "fig03_ics_vgg", "fig04_landscape_vgg", "fig11_grad_change_vs_eta_vgg",
                 "curvature_vgg"):
        assert index.loc[stem, "status"] == "rendered", stem
    assert not list((partial / "reports" / "figures").glob("*_dln.png"))  # no stale figures from the full run


def test_snakemakes_own_report_holds_the_figures_and_the_claims(smoke_run, snakemake_bin, tmp_path):
    workdir, _ = smoke_run
    out = tmp_path / "snakemake-report.html"
    snakemake(snakemake_bin, workdir, "--report", str(out))
    text = out.read_text()
    index = pd.read_csv(workdir / "reports" / "figures" / "index.csv", keep_default_na=False)
    for stem in index.loc[index["status"] == "rendered", "stem"]:
        assert f"{stem}.png" in text, stem
    assert "claims.csv" in text and "report.html" in text
