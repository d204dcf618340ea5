# Training: one job per (net, variant, lr, seed). Every value that changes a result
# is in params.spec, including a fingerprint of the code training depends on.

rule train:
    input:
        data=train_data_input,
    output:
        metrics=f"{RUN_DIR}/train/metrics.parquet",
        evals=f"{RUN_DIR}/train/test.parquet",
        manifest=f"{RUN_DIR}/train/manifest.json",
        checkpoints=directory(f"{RUN_DIR}/train/checkpoints"),
    params:
        spec=run_spec,
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
