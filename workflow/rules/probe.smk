# Probes: one job per (run, segment of probes.steps_per_job steps; by default the
# span between two checkpoints). Each measured step is replayed exactly from the
# newest checkpoint before it, every replayed loss checked against the recorded
# one. Probe settings are params here and not of training: changing them reruns
# only the probes. DLN runs are probed a stack at a time (one job per stack and
# segment, the runs one after another in one process), each run's tables where a
# job of its own would write them.


rule probe:
    input:
        data=train_data_input,
        metrics=f"{RUN_DIR}/train/metrics.parquet",
        manifest=f"{RUN_DIR}/train/manifest.json",
        checkpoints=f"{RUN_DIR}/train/checkpoints",
    output:
        **{table: f"{RUN_DIR}/probe/segment~{{start}}/{table}.parquet" for table in PROBE_TABLES},
    wildcard_constraints:
        net=UNSTACKED_NETS,
    params:
        spec=run_spec,
        probe=lambda wildcards: bnruns.probe_settings(config, run_of(wildcards)),
        segment=lambda wildcards: segment_of(run_of(wildcards), wildcards.start),
        code=PROBE_CODE,
    threads: config["threads"]
    resources:
        mem_mb=4000,
        # minutes; a retried job (a cluster kill, a timeout) asks for more each attempt
        runtime=lambda wildcards, attempt: 240 * attempt,
    log:
        f"logs/probe/{RUN_DIR.removeprefix('results/')}/segment~{{start}}.log",
    benchmark:
        f"logs/benchmarks/probe/{RUN_DIR.removeprefix('results/')}/segment~{{start}}.tsv"
    conda:
        "../../envs/train.yaml"
    script:
        "../scripts/probe.py"


for index, stack in enumerate(PROBE_STACKS):

    rule:
        name:
            f"probe_stack_{index}"
        input:
            [path for run in stack.runs for name, path in train_outputs(run).items() if name != "evals"],
        output:
            [path for run in stack.runs for path in probe_outputs(run).values()],
        params:
            specs=[spec_of(run) for run in stack.runs],
            probe=bnruns.probe_settings(config, stack.runs[0]),
            segment=lambda wildcards, stack=stack: segment_of(stack.runs[0], wildcards.start),
            code=PROBE_CODE,
        threads: config["threads"]
        resources:
            mem_mb=4000,
            runtime=lambda wildcards, attempt: 240 * attempt,
        log:
            f"logs/probe/{stack.name}/segment~{{start}}.log",
        benchmark:
            f"logs/benchmarks/probe/{stack.name}/segment~{{start}}.tsv"
        conda:
            "../../envs/train.yaml"
        script:
            "../scripts/probe.py"
