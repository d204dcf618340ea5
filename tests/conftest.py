import os
import shutil
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "workflow"))
sys.path.insert(0, str(Path(__file__).parent))

SNAKEMAKE = shutil.which("snakemake", path=str(Path(sys.executable).parent)) or shutil.which("snakemake")


@pytest.fixture(scope="session")
def repo() -> Path:
    return REPO


@pytest.fixture(scope="session")
def snakemake_bin() -> str:
    if SNAKEMAKE is None:
        pytest.fail("snakemake is not installed in this environment; run the README's test command")
    return SNAKEMAKE


@pytest.fixture(scope="session")
def smoke_run(tmp_path_factory, snakemake_bin):
    """The smoke config's whole DAG, run once per session: (workdir, seconds)."""
    from workflow_helpers import snakemake

    workdir = tmp_path_factory.mktemp("smoke")
    t0 = time.monotonic()
    snakemake(snakemake_bin, workdir)
    return workdir, time.monotonic() - t0


@pytest.fixture(autouse=True)
def _single_thread_torch():
    """Tests run 1 torch thread: determinism checks and CI timings stay stable."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def pytest_configure(config):
    os.environ.setdefault("PYTHONHASHSEED", "0")
