"""Snakemake adapter: turn a raw dataset into bnopt's one-file tensor format."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent))  # noqa: F821 (snakemake injects it)

from bnopt.training.data import prepare_cifar10, prepare_digits  # noqa: E402

sm = snakemake  # noqa: F821
dataset, settings = sm.wildcards.dataset, sm.params.settings
if dataset == "cifar10":
    data = prepare_cifar10(sm.input[0], settings["md5"], sm.output[0])
else:
    data = prepare_digits(sm.output[0], test_fraction=settings["test_fraction"], split_seed=settings["split_seed"])
with open(sm.log[0], "w") as log:
    print(f"{dataset}: train {tuple(data['train_x'].shape)}, test {tuple(data['test_x'].shape)}, "
          f"mean {data['mean'].tolist()}, std {data['std'].tolist()}", file=log)
