"""Composing the real config tree in-process and running experiments in temporary folders."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from omegaconf import DictConfig

from vidpred import config
from vidpred.config import CONFIG_DIR, compose
from vidpred.experiment import experiment_config as make_experiment_config, run_experiment
from vidpred.models import MODELS

REPO = Path(__file__).resolve().parents[2]
SHARED_DATA = REPO.parent / "shared" / "data"


def compose_config(overrides: Sequence[str] = ()) -> DictConfig:
    """The config ``python -m vidpred.run OVERRIDES`` would see."""
    return compose(overrides)


def experiment_config(overrides: Sequence[str] = ()) -> dict[str, Any]:
    """What ``python -m vidpred.run OVERRIDES`` hands the experiment: the config resolved to plain data,
    with a prepared set's settings as the defaults of the data keys not given."""
    return make_experiment_config(config.to_plain(compose(overrides)), list(overrides))


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
    return run_experiment(experiment_config([*overrides, *shrink_overrides(cfg)]), run_dir)


class InterruptAt:
    """A run callback that stops training like Ctrl-C after ``step`` optimizer steps."""

    def __init__(self, step: int) -> None:
        self.step = step

    def on_train_batch_end(self, trainer, step: int, loss: float) -> None:  # noqa: ANN001
        if step == self.step:
            raise KeyboardInterrupt
