# Loss surfaces (Li et al. 2018) around chosen runs' weights, and the 1D line from
# the initial weights (Goodfellow et al. 2015): nets.<net>.surface. One surface job
# per (run, step, block of grid rows), so a cluster fans a large grid out and a
# killed job redoes only its rows; one line job per (run, step). They read the run's
# checkpoints and write only their own tables: training and probes never wait for
# them, and changing a surface setting reruns only these jobs and the report.
# The DLN's surfaces and lines are one job (rule surface_stack_dln): each is well under
# a second of arithmetic, its own job would spend ~4 s starting Python and torch; a
# change to any of them reruns them all (seconds).


rule surface:
    input:
        data=train_data_input,
        manifest=f"{RUN_DIR}/train/manifest.json",
        checkpoints=f"{RUN_DIR}/train/checkpoints",
    output:
        f"{RUN_DIR}/surface/step~{{step}}/rows~{{row}}.parquet",
    wildcard_constraints:
        net=UNSTACKED_NETS,
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
    wildcard_constraints:
        net=UNSTACKED_NETS,
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


for net, surfaces in SURFACE_STACKS.items():

    rule:
        name:
            f"surface_stack_{net}"
        input:
            [path for run in dict.fromkeys(run for run, _ in surfaces) for name, path in train_outputs(run).items()
             if name in ("manifest", "checkpoints")],
        output:
            [path for run, step in surfaces for kind in ("rows", "line") for path in surface_paths(run, step, kind)],
        params:
            # (spec, step, its block files, its line file) per surface, in the outputs' order
            surfaces=[dict(spec=spec_of(run), step=step, checkpoints=train_outputs(run)["checkpoints"],
                           rows=surface_paths(run, step, "rows"), line=surface_paths(run, step, "line")[0])
                      for run, step in surfaces],
            surface=surface_settings(net, SURFACE_GRID_KEYS),
            line=surface_settings(net, SURFACE_LINE_KEYS),
            code=SURFACE_CODE,
        # Before the probes (it is ready once the net's training is done): not left for the end.
        priority: 1
        threads: config["threads"]
        resources:
            mem_mb=4000,
            runtime=lambda wildcards, attempt: 240 * attempt,
        log:
            f"logs/surface/{net}/stack.log",
        benchmark:
            f"logs/benchmarks/surface/{net}/stack.tsv"
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
