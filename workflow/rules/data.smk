# Data: CIFAR-10 from its official URL (md5-checked), or scikit-learn's bundled
# digits offline; each ends as one uint8 tensor file with the training split's
# per-channel mean and std. The DLN's data is drawn inside its training job.


# Compute nodes often have no internet: download on the submitting host.
localrules:
    download_cifar10,


# Before any training job: offline, the first command reports the missing archive
# (and how to place it, or to run config/quick.yaml) within seconds, not after the
# deep linear net's jobs have run for minutes.
rule download_cifar10:
    output:
        f"{DATA_ROOT}/cifar-10-python.tar.gz",
    priority: 100
    params:
        url=config["data"]["cifar10"]["url"],
        md5=config["data"]["cifar10"]["md5"],
    log:
        "logs/data/download_cifar10.log",
    conda:
        "../../envs/data.yaml"
    script:
        "../scripts/download_cifar10.py"


rule prepare_data:
    input:
        prepare_data_input,
    output:
        f"{DATA_ROOT}/data/{{dataset}}.pt",
    params:
        settings=lambda wildcards: bnruns.canonical(config["data"][wildcards.dataset]),
        code=bnruns.code_fingerprint("training.data"),
    log:
        "logs/data/prepare_{dataset}.log",
    benchmark:
        "logs/benchmarks/prepare_{dataset}.tsv"
    conda:
        "../../envs/data.yaml"
    script:
        "../scripts/prepare_data.py"
