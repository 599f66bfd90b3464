"""Shared test helpers: compose the real config tree in-process and run experiments in tmp dirs."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import pytest
import torch
from omegaconf import DictConfig

import vidpred.run
from data_fabricate import fabricate_mnist
from vidpred.config import CONFIG_DIR, compose
from vidpred.models import MODELS
from vidpred.run import run_experiment

REPO = Path(__file__).resolve().parents[1]

if os.environ.get("PYTEST_XDIST_WORKER"):
    # make test runs two workers on the two cores: one thread each (their subprocesses too), or
    # four busy threads would fight over two cores
    os.environ["OMP_NUM_THREADS"] = "1"
    torch.set_num_threads(1)
SHARED_DATA = REPO.parent / "shared" / "data"


def compose_config(overrides: Sequence[str] = ()) -> DictConfig:
    """The config ``python -m vidpred.run OVERRIDES`` would see."""
    return compose(overrides)


def config_groups(group: str) -> list[str]:
    """Every option of a config group, read from conf/: new models and data sets join the tests."""
    return sorted(p.stem for p in (CONFIG_DIR / group).glob("*.yaml"))


def shrink_overrides(cfg: DictConfig) -> list[str]:
    """Overrides that make any composed experiment tiny (a few items, one batch per split)."""
    out = ["trainer.max_epochs=1", "trainer.max_steps=2", "trainer.limit_train_batches=2",
           "trainer.limit_val_batches=1", "trainer.limit_test_batches=1", "data.batch_size=4",
           "trainer.progress=off"]
    for key, size in (("train_size", 16), ("val_size", 8), ("test_size", 8)):
        if key in cfg.data:
            out.append(f"data.{key}={size}")
    # a narrow model, as the model declares it: the matrix checks wiring, not capacity (a full
    # ConvLSTM step is slow on a CPU)
    out += small_model_overrides(cfg.model.name)
    return out


def small_model_overrides(model: str) -> list[str]:
    """``model.KEY=VALUE`` for the small variant model ``model`` declares (``Forecaster.small``)."""
    return [f"model.{key}={value}" for key, value in MODELS[model].small.items()]


def run_tiny(overrides: Sequence[str], run_dir: Path) -> dict:
    """Run an experiment shrunk by :func:`shrink_overrides`; returns its metrics.json content."""
    cfg = compose_config(overrides)
    cfg = compose_config([*overrides, *shrink_overrides(cfg)])
    return run_experiment(cfg, run_dir)


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
        patch.setattr(vidpred.run, "save_samples", lambda *args, **kwargs: [])
        yield
    torch.set_num_threads(threads)


class InterruptAt:
    """A run callback that stops training like Ctrl-C after ``step`` optimizer steps."""

    def __init__(self, step: int) -> None:
        self.step = step

    def on_train_batch_end(self, trainer, step: int, loss: float) -> None:  # noqa: ANN001
        if step == self.step:
            raise KeyboardInterrupt
