"""Snakemake adapter: download the CIFAR-10 archive and verify its md5."""

import sys
from contextlib import redirect_stdout
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent))  # noqa: F821 (snakemake injects it)

from bnopt.training.data import download_archive  # noqa: E402

with open(snakemake.log[0], "w") as log, redirect_stdout(log):  # noqa: F821
    download_archive(snakemake.params.url, snakemake.params.md5, snakemake.output[0])  # noqa: F821
