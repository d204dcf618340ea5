# The report: papermill executes the notebook template (workflow/notebooks/) with the
# tables and the config as parameters, in this environment's own `python3` kernel,
# and nbconvert turns the executed notebook into one self-contained HTML file. The
# notebook draws every figure into reports/figures/ (PNG + PDF, plus index.csv
# saying which were drawn and why any were skipped). Plotting only: editing the
# notebook or the figures' code (bnopt/analysis) reruns this rule and nothing else.


rule report:
    input:
        notebook=str(WORKFLOW_DIR / "notebooks" / "report.ipynb"),
        template=str(WORKFLOW_DIR / "notebooks" / "templates" / "offline" / "index.html.j2"),
        tables=expand("results/tables/{table}.parquet", table=AGGREGATE_TABLES),
        claims="results/tables/claims.csv",
        scorecard="results/tables/scorecard.csv",
        scorecard_values="results/tables/scorecard_values.parquet",
        surfaces=["results/tables/surface.parquet", "results/tables/interpolation.parquet"],
    output:
        notebook="reports/report.ipynb",
        html=report("reports/report.html", caption="../report/report.rst", category="Report"),
        figures=report(
            directory("reports/figures"),
            patterns=["{name}.png"],
            caption="../report/figures.rst",
            category="Figures",
            labels={"figure": "{name}"},
        ),
    params:
        # What the report reads of the config (activation layers, nets), canonical
        # so that a re-saved YAML does not re-render it.
        config=json.dumps(bnruns.canonical({"nets": config["nets"]})),
        # the notebook's helpers, the figures (the package and every group module it
        # registers) and every analysis module they import (bnopt.imports)
        code=bnruns.code_fingerprint("analysis.report", "analysis.figures", "measure.surface", "tasks", follow="analysis"),
    log:
        "logs/report/report.log",
    benchmark:
        "logs/benchmarks/report.tsv"
    # The figures are drawn by this many processes: the report runs last, alone.
    threads: 2
    conda:
        "../../envs/report.yaml"
    # JUPYTER_PREFER_ENV_PATH: a `python3` kernel in the user's ~/.local must not
    # win over this environment's own. The notebook imports bnopt from workflow/,
    # two folders above it; the offline template sits beside it.
    shell:
        """
        export JUPYTER_PREFER_ENV_PATH=1 MPLBACKEND=Agg
        workflow_dir=$(dirname $(dirname {input.notebook:q}))
        templates=$(dirname $(dirname {input.template:q}))
        papermill {input.notebook:q} {output.notebook:q} --kernel python3 --cwd . --log-output \
            -p tables results/tables -p claims_csv {input.claims:q} -p scorecard_csv {input.scorecard:q} -p figures {output.figures:q} \
            -p workflow_dir "$workflow_dir" -p workers {threads} -r config_json {params.config:q} > {log:q} 2>&1
        jupyter nbconvert --to html --no-input {output.notebook:q} --output-dir reports --output report.html \
            --TemplateExporter.extra_template_basedirs="$templates" --template offline >> {log:q} 2>&1
        """
