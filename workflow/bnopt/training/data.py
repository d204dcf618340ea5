"""Image datasets: CIFAR-10 (download, verify, extract safely, convert) and digits.

Both end as one tensor file (see :func:`save_image_dataset`): uint8 images
(N, 3, 32, 32), int64 labels, and the per-channel mean and std of the training
split on the [0, 1] scale, which training uses to standardize its inputs.
"""

from __future__ import annotations

import os
import pickle
import socket
import tarfile
import tempfile
from pathlib import Path, PurePosixPath

import numpy as np
import torch

CIFAR10_BATCH_DIR = "cifar-10-batches-py"
CIFAR10_TRAIN_BATCHES = [f"data_batch_{i}" for i in range(1, 6)]
CIFAR10_TEST_BATCH = "test_batch"
CIFAR10_META = "batches.meta"
DOWNLOAD_TIMEOUT_S = 60


class DataError(RuntimeError):
    """A dataset could not be obtained or is not what it claims to be."""


def _offline_hint(dest: Path) -> str:
    return (
        f"To run without network access, place the archive by hand at {dest} "
        "(it is md5-checked before use), or run the offline configuration: "
        "--configfile config/quick.yaml (scikit-learn's bundled digits)."
    )


def download_archive(url: str, md5: str, dest: str | Path) -> Path:
    """Download `url` to `dest` and verify its md5; reuse `dest` if it already verifies.

    The download goes to ``dest.part`` first and is renamed only once its md5 matches,
    so a partial or corrupt file is never left at `dest`; a bad one is removed and the
    error says so.
    """
    # torchvision here, not at the top: importing it (and torch._dynamo with it) costs
    # every training and probe job, which import this module, ~1.3 s for nothing.
    from torchvision.datasets.utils import check_integrity, download_url

    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    if dest.exists():
        if check_integrity(dest, md5):
            return dest
        dest.unlink()
        print(f"removed {dest}: its md5 did not match {md5}; downloading it again")
    partial = dest.with_name(dest.name + ".part")
    # torchvision skips the download when the target exists and no md5 is given, so a
    # stale partial file must go first.
    partial.unlink(missing_ok=True)
    previous_timeout = socket.getdefaulttimeout()
    socket.setdefaulttimeout(DOWNLOAD_TIMEOUT_S)
    try:
        download_url(url, str(partial.parent), filename=partial.name)
    except (OSError, ValueError, RuntimeError) as err:
        partial.unlink(missing_ok=True)
        raise DataError(f"could not download {url}: {err}. {_offline_hint(dest)}") from err
    finally:
        socket.setdefaulttimeout(previous_timeout)
    if not check_integrity(partial, md5):
        size = partial.stat().st_size if partial.exists() else 0
        partial.unlink(missing_ok=True)
        raise DataError(
            f"the download of {url} is corrupt or incomplete ({size} bytes; md5 does not match {md5}); "
            f"it was removed. Run again to retry. {_offline_hint(dest)}"
        )
    os.replace(partial, dest)
    return dest


def verify_archive(path: str | Path, md5: str) -> None:
    """Raise a DataError naming the file when `path` is missing or its md5 is not `md5`."""
    from torchvision.datasets.utils import check_integrity

    path = Path(path)
    if not path.exists():
        raise DataError(f"{path} does not exist. {_offline_hint(path)}")
    if not check_integrity(path, md5):
        raise DataError(
            f"{path} is corrupt or incomplete (md5 does not match {md5}). "
            "Delete it and run again to download it afresh."
        )


def check_members(members: list[tarfile.TarInfo]) -> None:
    """Reject any archive member that could write outside the extraction folder."""
    for member in members:
        name = PurePosixPath(member.name)
        if name.is_absolute() or ".." in name.parts:
            raise DataError(f"unsafe archive: member {member.name!r} would escape the extraction folder")
        if member.issym() or member.islnk():
            raise DataError(f"unsafe archive: member {member.name!r} is a link")
        if not (member.isfile() or member.isdir()):
            raise DataError(f"unsafe archive: member {member.name!r} is not a regular file or folder")


def extract_archive(path: str | Path, target: str | Path) -> Path:
    """Extract a .tar.gz into `target` after checking every member; tarfile's "data"
    filter guards the extraction itself as a second line of defence."""
    target = Path(target)
    target.mkdir(parents=True, exist_ok=True)
    try:
        with tarfile.open(path, "r:*") as tar:
            members = tar.getmembers()
            check_members(members)
            tar.extractall(target, members=members, filter="data")
    except (tarfile.TarError, EOFError, OSError) as err:
        raise DataError(f"{path} is not a readable tar archive ({err}); delete it and run again") from err
    return target


class _CifarUnpickler(pickle.Unpickler):
    """Unpickles CIFAR-10 batches, refusing every global but numpy's array rebuilders:
    a tampered archive cannot run code."""

    ALLOWED = {
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
        ("_codecs", "encode"),  # how protocol-2 pickles written by Python 3 store bytes
    }

    def find_class(self, module: str, name: str):
        if (module, name) in self.ALLOWED:
            return super().find_class(module, name)
        raise DataError(f"unexpected object {module}.{name} in a CIFAR-10 batch file")


def _read_batch(path: Path) -> dict:
    with open(path, "rb") as f:
        batch = _CifarUnpickler(f, encoding="bytes").load()
    return {k.decode() if isinstance(k, bytes) else k: v for k, v in batch.items()}


def read_cifar10(folder: str | Path) -> dict:
    """Read an extracted ``cifar-10-batches-py`` folder into uint8/int64 tensors."""
    folder = Path(folder)

    def images_labels(names):
        batches = [_read_batch(folder / n) for n in names]
        data = np.concatenate([np.asarray(b["data"], dtype=np.uint8) for b in batches])
        labels = np.concatenate([np.asarray(b["labels"], dtype=np.int64) for b in batches])
        if data.ndim != 2 or data.shape[1] != 3 * 32 * 32 or len(data) != len(labels):
            raise DataError(f"unexpected CIFAR-10 batch shapes in {folder}: data {data.shape}, labels {labels.shape}")
        return torch.from_numpy(data.reshape(-1, 3, 32, 32).copy()), torch.from_numpy(labels)

    missing = [n for n in [*CIFAR10_TRAIN_BATCHES, CIFAR10_TEST_BATCH, CIFAR10_META] if not (folder / n).exists()]
    if missing:
        raise DataError(f"the CIFAR-10 archive lacks {', '.join(missing)} under {CIFAR10_BATCH_DIR}/")
    train_x, train_y = images_labels(CIFAR10_TRAIN_BATCHES)
    test_x, test_y = images_labels([CIFAR10_TEST_BATCH])
    meta = _read_batch(folder / CIFAR10_META)
    classes = [c.decode() if isinstance(c, bytes) else str(c) for c in meta["label_names"]]
    return dict(train_x=train_x, train_y=train_y, test_x=test_x, test_y=test_y, classes=classes)


def channel_stats(images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-channel mean and std of uint8 images (N, C, H, W) on the [0, 1] scale."""
    x = images.to(torch.float64).div_(255.0)
    return x.mean(dim=(0, 2, 3)).float(), x.std(dim=(0, 2, 3)).float()


def save_image_dataset(path: str | Path, name: str, train_x, train_y, test_x, test_y, classes) -> dict:
    """Write the one-file dataset format that training reads (atomically)."""
    mean, std = channel_stats(train_x)
    dataset = dict(name=name, train_x=train_x.contiguous(), train_y=train_y.long(), test_x=test_x.contiguous(),
                   test_y=test_y.long(), mean=mean, std=std, classes=list(classes))
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    torch.save(dataset, tmp)
    os.replace(tmp, path)
    return dataset


def prepare_cifar10(archive: str | Path, md5: str, out: str | Path) -> dict:
    """Verify, extract (into a temporary folder) and convert the CIFAR-10 archive."""
    verify_archive(archive, md5)
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="cifar10-", dir=Path(out).parent) as tmp:
        extract_archive(archive, tmp)
        parts = read_cifar10(Path(tmp) / CIFAR10_BATCH_DIR)
    return save_image_dataset(out, "cifar10", **parts)


def prepare_digits(out: str | Path, test_fraction: float = 0.2, split_seed: int = 0) -> dict:
    """scikit-learn's bundled 8x8 digits as 3x32x32 uint8 images with a fixed,
    stratified train/test split: the real dataset that needs no network."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    # Pixel values are 0..16; scale to 0..255, blow each pixel up to 4x4, copy to 3 channels.
    images = torch.from_numpy(np.rint(digits.images * (255.0 / 16.0)).astype(np.uint8))
    images = images.repeat_interleave(4, dim=1).repeat_interleave(4, dim=2)
    images = images.unsqueeze(1).expand(-1, 3, -1, -1).contiguous()
    labels = torch.from_numpy(digits.target.astype(np.int64))
    train_idx, test_idx = train_test_split(
        np.arange(len(labels)), test_size=test_fraction, random_state=split_seed, stratify=digits.target
    )
    train_idx, test_idx = torch.from_numpy(np.sort(train_idx)), torch.from_numpy(np.sort(test_idx))
    return save_image_dataset(out, "digits", images[train_idx], labels[train_idx], images[test_idx],
                              labels[test_idx], [str(d) for d in range(10)])


def load_image_dataset(path: str | Path) -> dict:
    """Read a dataset file written by :func:`save_image_dataset` (tensors only, no code)."""
    return torch.load(path, weights_only=True)
