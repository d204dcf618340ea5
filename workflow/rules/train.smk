# Training. Every value that changes a result is in the params (each run's spec),
# including a fingerprint of the code training depends on.
#
# VGG: one job per (net, variant, lr, seed). DLN: one job per stack, the seeds of a run
# group that share variant, lr and recipe trained as one (bnopt.training.stacked); each
# run's outputs are where and what they would be trained alone. A stack is a rule of
# its own (its outputs are its runs' files), generated below.

rule train:
    input:
        data=train_data_input,
    output:
        metrics=f"{RUN_DIR}/train/metrics.parquet",
        evals=f"{RUN_DIR}/train/test.parquet",
        manifest=f"{RUN_DIR}/train/manifest.json",
        checkpoints=directory(f"{RUN_DIR}/train/checkpoints"),
    wildcard_constraints:
        net=UNSTACKED_NETS,
    params:
        spec=run_spec,
    # Before the probe jobs (priority 0) that wait on other runs, so that no training job
    # and its probes are left for the end, after everything else.
    priority: 1
    threads: config["threads"]
    resources:
        mem_mb=4000,
        # minutes; a retried job (a cluster kill, a timeout) asks for more each attempt
        runtime=lambda wildcards, attempt: 240 * attempt,
    log:
        f"logs/train/{RUN_DIR.removeprefix('results/')}.log",
    benchmark:
        f"logs/benchmarks/train/{RUN_DIR.removeprefix('results/')}.tsv"
    conda:
        "../../envs/train.yaml"
    script:
        "../scripts/train.py"


for index, stack in enumerate(TRAIN_STACKS):

    rule:
        name:
            f"train_stack_{index}"
        output:
            [path for run in stack.runs for name, path in train_outputs(run).items() if name != "checkpoints"],
            [directory(train_outputs(run)["checkpoints"]) for run in stack.runs],
        params:
            specs=[spec_of(run) for run in stack.runs],
        # The longest jobs of a laptop run: the larger a stack, the earlier it starts, so
        # that no stack of many runs is left to run alone at the end.
        priority: len(stack.runs)
        threads: config["threads"]
        resources:
            mem_mb=4000,
            runtime=lambda wildcards, attempt: 240 * attempt,
        log:
            f"logs/train/{stack.name}.log",
        benchmark:
            f"logs/benchmarks/train/{stack.name}.tsv"
        conda:
            "../../envs/train.yaml"
        script:
            "../scripts/train.py"
