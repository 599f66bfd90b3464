"""Fixtures shared by the tests; the helpers they import live in ``tests/helpers/``."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

import vidpred.experiment
from helpers.config import SHARED_DATA
from helpers.data_fabricate import fabricate_mnist

if os.environ.get("PYTEST_XDIST_WORKER"):
    # make test runs two workers on the two cores: one thread each (their subprocesses too), or
    # four busy threads would fight over two cores
    os.environ["OMP_NUM_THREADS"] = "1"
    torch.set_num_threads(1)


@pytest.fixture
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real test data not found at {SHARED_DATA}")
    return SHARED_DATA


@pytest.fixture(scope="module")
def mnist_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The real MNIST test digits from ../shared/data, else fabricated ones in the same format."""
    if (SHARED_DATA / "mnist" / "t10k-images-idx3-ubyte.gz").is_file():
        return SHARED_DATA
    root = tmp_path_factory.mktemp("data")
    fabricate_mnist(root, train=0, test=60, test_seq=None)
    return root


@pytest.fixture(scope="module")
def one_thread_no_figures():
    """One CPU thread (tiny models run faster and reproducibly so) and no sample figures (a second
    of matplotlib per run that no test here looks at). Modules opt in with ``usefixtures``."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(vidpred.experiment, "save_samples", lambda *args, **kwargs: [])
        yield
    torch.set_num_threads(threads)
