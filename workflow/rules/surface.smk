# Loss surfaces (Li et al. 2018) around chosen runs' weights, and the 1D line from
# the initial weights (Goodfellow et al. 2015): nets.<net>.surface. One surface job
# per (run, step, block of grid rows), so a cluster fans a large grid out and a
# killed job redoes only its rows; one line job per (run, step). They read the run's
# checkpoints and write only their own tables: training and probes never wait for
# them, and changing a surface setting reruns only these jobs and the report.


rule surface:
    input:
        data=train_data_input,
        manifest=f"{RUN_DIR}/train/manifest.json",
        checkpoints=f"{RUN_DIR}/train/checkpoints",
    output:
        f"{RUN_DIR}/surface/step~{{step}}/rows~{{row}}.parquet",
    params:
        spec=run_spec,
        surface=lambda wildcards: surface_settings(wildcards.net, SURFACE_GRID_KEYS),
        code=SURFACE_CODE,
    threads: config["threads"]
    resources:
        mem_mb=4000,
        runtime=lambda wildcards, attempt: 240 * attempt,
    log:
        f"logs/surface/{RUN_DIR.removeprefix('results/')}/step~{{step}}/rows~{{row}}.log",
    benchmark:
        f"logs/benchmarks/surface/{RUN_DIR.removeprefix('results/')}/step~{{step}}/rows~{{row}}.tsv"
    conda:
        "../../envs/train.yaml"
    script:
        "../scripts/surface.py"


rule interpolation:
    input:
        data=train_data_input,
        manifest=f"{RUN_DIR}/train/manifest.json",
        checkpoints=f"{RUN_DIR}/train/checkpoints",
    output:
        f"{RUN_DIR}/surface/step~{{step}}/line.parquet",
    params:
        spec=run_spec,
        surface=lambda wildcards: surface_settings(wildcards.net, SURFACE_LINE_KEYS),
        code=SURFACE_CODE,
    threads: config["threads"]
    resources:
        mem_mb=4000,
        runtime=lambda wildcards, attempt: 60 * attempt,
    log:
        f"logs/surface/{RUN_DIR.removeprefix('results/')}/step~{{step}}/line.log",
    benchmark:
        f"logs/benchmarks/surface/{RUN_DIR.removeprefix('results/')}/step~{{step}}/line.tsv"
    conda:
        "../../envs/train.yaml"
    script:
        "../scripts/surface.py"


# Its own tables, not the aggregate's: a surface setting must not rerun the claims.
rule surfaces:
    input:
        surface=all_surface_outputs("rows"),
        interpolation=all_surface_outputs("line"),
    output:
        surface="results/tables/surface.parquet",
        interpolation="results/tables/interpolation.parquet",
    params:
        code=bnruns.code_fingerprint("analysis.tables"),
    log:
        "logs/aggregate/surfaces.log",
    conda:
        "../../envs/train.yaml"
    script:
        "../scripts/aggregate_surfaces.py"
