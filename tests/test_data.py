"""Data: the real download code against a local server (127.0.0.1 only), corrupt and
path-escaping archives, the restricted unpickler, and the digits split."""

import io
import pickle
import tarfile

import numpy as np
import pytest
import torch

from bnopt.training.data import (DataError, download_archive, extract_archive, load_image_dataset,
                                 prepare_cifar10, prepare_digits, read_cifar10, _CifarUnpickler)
from cifar_fixture import make_cifar_archive, make_escaping_archive, md5sum, serve_folder

ARCHIVE = "cifar-10-python.tar.gz"


@pytest.fixture
def served(tmp_path):
    """A good archive and a truncated copy, served on 127.0.0.1."""
    site = tmp_path / "site"
    site.mkdir()
    md5 = make_cifar_archive(site / ARCHIVE, per_batch=40)
    data = (site / ARCHIVE).read_bytes()
    (site / "truncated.tar.gz").write_bytes(data[: len(data) // 2])
    with serve_folder(site) as url:
        yield url, md5


def test_download_verifies_and_prepare_converts(served, tmp_path):
    url, md5 = served
    dest = download_archive(f"{url}/{ARCHIVE}", md5, tmp_path / "res" / ARCHIVE)
    assert md5sum(dest) == md5
    out = tmp_path / "res" / "data" / "cifar10.pt"
    prepare_cifar10(dest, md5, out)
    data = load_image_dataset(out)
    assert data["train_x"].shape == (200, 3, 32, 32) and data["train_x"].dtype == torch.uint8
    assert data["test_x"].shape == (40, 3, 32, 32) and data["train_y"].dtype == torch.int64
    assert data["classes"][0] == "airplane" and len(data["classes"]) == 10
    # Channel statistics are those of the training split on the [0, 1] scale.
    x = data["train_x"].double() / 255
    torch.testing.assert_close(data["mean"], x.mean((0, 2, 3)).float())
    torch.testing.assert_close(data["std"], x.std((0, 2, 3)).float())
    # The pixel layout is CIFAR's: row-major 1024 red, then green, then blue values.
    with tarfile.open(dest) as tar:
        raw = pickle.load(tar.extractfile("cifar-10-batches-py/data_batch_1"), encoding="bytes")
    assert torch.equal(data["train_x"][0].flatten(), torch.from_numpy(raw[b"data"][0]))
    assert data["train_y"][:40].tolist() == raw[b"labels"]
    # A verified archive is reused, not downloaded again.
    mtime = dest.stat().st_mtime_ns
    download_archive(f"{url}/{ARCHIVE}", md5, dest)
    assert dest.stat().st_mtime_ns == mtime


def test_truncated_download_is_removed_and_reported(served, tmp_path):
    url, md5 = served
    dest = tmp_path / "res" / ARCHIVE
    with pytest.raises(DataError, match="corrupt or incomplete.*removed"):
        download_archive(f"{url}/truncated.tar.gz", md5, dest)
    assert list(dest.parent.iterdir()) == []  # neither the archive nor a .part file is left


def test_corrupt_file_in_place_is_replaced(served, tmp_path):
    url, md5 = served
    dest = tmp_path / ARCHIVE
    dest.write_bytes(b"not an archive")
    download_archive(f"{url}/{ARCHIVE}", md5, dest)
    assert md5sum(dest) == md5


def test_offline_error_says_where_to_put_the_archive(tmp_path):
    import socket

    with socket.socket() as s:  # a port on loopback that nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(DataError) as err:
        download_archive(f"http://127.0.0.1:{port}/{ARCHIVE}", "0" * 32, tmp_path / ARCHIVE)
    message = str(err.value)
    assert "could not download" in message and str(tmp_path / ARCHIVE) in message
    assert "config/quick.yaml" in message
    assert list(tmp_path.iterdir()) == []


def test_prepare_rejects_an_archive_whose_md5_does_not_match(tmp_path):
    md5 = make_cifar_archive(tmp_path / ARCHIVE)
    with pytest.raises(DataError, match="corrupt or incomplete"):
        prepare_cifar10(tmp_path / ARCHIVE, "f" * 32, tmp_path / "out.pt")
    with pytest.raises(DataError, match="does not exist"):
        prepare_cifar10(tmp_path / "missing.tar.gz", md5, tmp_path / "out.pt")
    assert not (tmp_path / "out.pt").exists()


@pytest.mark.parametrize("member, symlink", [("../escaped.txt", False),
                                             ("/tmp/bnopt-absolute-escape.txt", False),
                                             ("cifar-10-batches-py/../../escaped.txt", False),
                                             (None, True)])
def test_path_escaping_archive_is_rejected_before_anything_is_written(tmp_path, member, symlink):
    archive = tmp_path / "evil.tar.gz"
    md5 = make_escaping_archive(archive, member=member or "", symlink=symlink)
    target = tmp_path / "deep" / "target"
    with pytest.raises(DataError, match="unsafe archive"):
        extract_archive(archive, target)
    assert not (tmp_path / "escaped.txt").exists() and not (tmp_path / "deep" / "escaped.txt").exists()
    assert not any(target.rglob("*"))  # nothing was extracted at all
    with pytest.raises(DataError, match="unsafe archive"):
        prepare_cifar10(archive, md5, tmp_path / "out.pt")


def test_truncated_archive_with_right_md5_is_reported(tmp_path):
    make_cifar_archive(tmp_path / "good.tar.gz")
    data = (tmp_path / "good.tar.gz").read_bytes()
    bad = tmp_path / ARCHIVE
    bad.write_bytes(data[: len(data) // 3])
    with pytest.raises(DataError, match="not a readable tar archive"):
        prepare_cifar10(bad, md5sum(bad), tmp_path / "out.pt")


def test_batch_unpickler_refuses_code():
    class Evil:
        def __reduce__(self):
            import os
            return (os.system, ("echo pwned",))

    payload = pickle.dumps({b"data": Evil()}, protocol=2)
    with pytest.raises(DataError, match="unexpected object"):
        _CifarUnpickler(io.BytesIO(payload), encoding="bytes").load()


def test_missing_batches_are_named(tmp_path):
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    with pytest.raises(DataError, match="lacks data_batch_1"):
        read_cifar10(folder)


def test_digits_fixed_stratified_split(tmp_path):
    a = prepare_digits(tmp_path / "a.pt")
    b = prepare_digits(tmp_path / "b.pt")
    assert a["train_x"].shape == (1437, 3, 32, 32) and a["test_x"].shape == (360, 3, 32, 32)
    assert a["train_x"].dtype == torch.uint8 and int(a["train_x"].max()) == 255
    assert torch.equal(a["train_x"], b["train_x"]) and torch.equal(a["test_y"], b["test_y"])
    # Stratified: every class is in the test split in proportion.
    counts = np.bincount(a["test_y"].numpy(), minlength=10)
    assert counts.min() >= 34 and counts.max() <= 38
    # 8x8 pixels blown up to 4x4 blocks, the same in each channel.
    img = a["train_x"][0]
    assert torch.equal(img[0], img[2]) and torch.equal(img[0, ::4, ::4].repeat_interleave(4, 0).repeat_interleave(4, 1), img[0])
