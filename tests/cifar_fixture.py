"""Archives in CIFAR-10's exact format (pickled batches under cifar-10-batches-py/),
small enough for tests, plus a local HTTP server on 127.0.0.1 to download them from."""

from __future__ import annotations

import functools
import hashlib
import http.server
import io
import pickle
import tarfile
import threading
from contextlib import contextmanager
from pathlib import Path

import numpy as np

CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]


def _batch(rng: np.random.Generator, n: int, label: str) -> bytes:
    # Images with a little structure (class-dependent brightness) so gzip has work to do.
    labels = rng.integers(0, 10, size=n)
    data = (labels[:, None] * 20 + rng.integers(0, 40, size=(n, 3072))).astype(np.uint8)
    batch = {b"batch_label": label.encode(), b"labels": labels.tolist(), b"data": data,
             b"filenames": [f"img_{i}.png".encode() for i in range(n)]}
    return pickle.dumps(batch, protocol=2)


def _add(tar: tarfile.TarFile, name: str, payload: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(payload)
    info.mode = 0o644
    tar.addfile(info, io.BytesIO(payload))


def make_cifar_archive(path: Path, per_batch: int = 50, seed: int = 0) -> str:
    """Write a CIFAR-10-format .tar.gz with `per_batch` images per batch; return its md5."""
    rng = np.random.default_rng(seed)
    with tarfile.open(path, "w:gz") as tar:
        for i in range(1, 6):
            _add(tar, f"cifar-10-batches-py/data_batch_{i}", _batch(rng, per_batch, f"training batch {i} of 5"))
        _add(tar, "cifar-10-batches-py/test_batch", _batch(rng, per_batch, "testing batch 1 of 1"))
        meta = {b"num_cases_per_batch": per_batch, b"label_names": [c.encode() for c in CLASSES], b"num_vis": 3072}
        _add(tar, "cifar-10-batches-py/batches.meta", pickle.dumps(meta, protocol=2))
        _add(tar, "cifar-10-batches-py/readme.html", b"<html>test archive</html>")
    return md5sum(path)


def make_escaping_archive(path: Path, member: str = "../escaped.txt", symlink: bool = False) -> str:
    """An otherwise valid archive with one member that points outside the target."""
    make_cifar_archive(path.with_suffix(".base.tar.gz"))
    with tarfile.open(path.with_suffix(".base.tar.gz")) as base, tarfile.open(path, "w:gz") as tar:
        for m in base.getmembers():
            tar.addfile(m, base.extractfile(m))
        if symlink:
            info = tarfile.TarInfo("cifar-10-batches-py/link")
            info.type, info.linkname = tarfile.SYMTYPE, "/etc/passwd"
            tar.addfile(info)
        else:
            _add(tar, member, b"this file must never be written")
    return md5sum(path)


def md5sum(path: Path) -> str:
    return hashlib.md5(Path(path).read_bytes()).hexdigest()


@contextmanager
def serve_folder(folder: Path):
    """Serve `folder` over HTTP on 127.0.0.1 (a free port); yields the base URL."""
    handler = functools.partial(_QuietHandler, directory=str(folder))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):  # keep pytest output clean
        pass
