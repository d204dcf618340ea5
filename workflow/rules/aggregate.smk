# Aggregation: every run's outputs into tidy tables under results/tables/, one row
# per observation with net, variant, lr, seed (and step) columns; then the claims
# table. Computation only: figures and the report read these tables.


# Light and needing every run's outputs: these run where snakemake runs, never as
# cluster jobs.
localrules:
    aggregate,
    claims,
    scorecard,
    surfaces,
    report,
    all,


rule aggregate:
    input:
        unpack(aggregate_inputs),
    output:
        **{table: f"results/tables/{table}.parquet" for table in AGGREGATE_TABLES},
    params:
        code=bnruns.code_fingerprint("analysis.tables"),
    log:
        "logs/aggregate/aggregate.log",
    benchmark:
        "logs/benchmarks/aggregate.tsv"
    conda:
        "../../envs/train.yaml"
    script:
        "../scripts/aggregate.py"


rule claims:
    input:
        training="results/tables/training.parquet",
        landscape_steps="results/tables/landscape_steps.parquet",
        ics="results/tables/ics.parquet",
        moments="results/tables/moments.parquet",
        activations="results/tables/activations.parquet",
    output:
        report(
            "results/tables/claims.csv",
            caption="../report/claims.rst",
            category="Claims",
        ),
    params:
        code=bnruns.code_fingerprint("analysis.claims", "analysis.tables", "tasks", follow="analysis"),
    log:
        "logs/aggregate/claims.log",
    conda:
        "../../envs/train.yaml"
    script:
        "../scripts/claims.py"


rule scorecard:
    input:
        **{table: f"results/tables/{table}.parquet" for table in ("training", "evals", "landscape",
                                                                   "landscape_steps", "ics")},
        numbers=str(WORKFLOW_DIR / "resources" / "paper_numbers.csv"),
    output:
        card=report(
            "results/tables/scorecard.csv",
            caption="../report/scorecard.rst",
            category="Claims",
        ),
        # every seed's value of every number (the draws figure: where the paper's value falls)
        values="results/tables/scorecard_values.parquet",
    params:
        # Whether this config's setting is the paper's: those keys of the nets section only.
        config=json.dumps(bnruns.canonical(setting_inputs(config))),
        code=bnruns.code_fingerprint("analysis.scorecard", "tasks", follow="analysis"),
    log:
        "logs/aggregate/scorecard.log",
    conda:
        "../../envs/train.yaml"
    script:
        "../scripts/scorecard.py"
