"""The ``hparams_search`` node of the config, checked: what a search searches, for what, and how."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from collections.abc import Mapping

from vidpred.errors import require

GROUP = "hparams_search"
DEFAULT_PRESET = "optuna"
#: Metrics where higher is better; every other one is an error and is minimised.
MAXIMISED = ("psnr", "ssim", "samples_per_second")
#: metrics.json sections an objective may come from: the test set plays no part in a search.
SECTIONS = ("val", "train")
STATUS_OF = {"completed": "COMPLETE", "pruned": "PRUNED", "diverged": "FAIL"}


@dataclass
class SearchConfig:
    """The ``hparams_search`` node (see ``conf/hparams_search/optuna.yaml``)."""

    name: str
    dir: str
    n_trials: int
    storage: str | None
    objectives: list
    sampler: str
    seed: int
    startup_trials: int
    pruner: str
    warmup_epochs: int
    startup_pruning: int
    min_epochs: int
    reduction_factor: int
    params: dict
    enqueue: list

    def __post_init__(self) -> None:
        p = GROUP
        if isinstance(self.objectives, str):  # hparams_search.objectives=val_mse
            self.objectives = [self.objectives]
        require(isinstance(self.objectives, list), f"{p}.objectives must be a list, got {self.objectives!r}")
        require(isinstance(self.enqueue, list), f"{p}.enqueue must be a list of settings, got {self.enqueue!r}")
        require(bool(re.fullmatch(r"[\w.+-]+", self.name)), f"{p}.name={self.name!r}: use letters, digits and _ . + -")
        require(self.n_trials >= 1, f"{p}.n_trials must be at least 1, got {self.n_trials}")
        require(len(self.objectives) >= 1 and len(set(self.objectives)) == len(self.objectives),
                f"{p}.objectives must name one or more distinct metrics, got {self.objectives}")
        for name in self.objectives:
            section, _, key = str(name).partition("_")
            require(section != "test", f"{p}.objectives: {name} is a test metric, and the test set plays no part "
                                       "in a search; use the validation one (val_...)")
            require(section in SECTIONS and bool(key),
                    f"{p}.objectives: {name!r} is not val_<metric> or train_<value> (e.g. val_mse, "
                    "train_samples_per_second)")
        require(self.sampler in ("tpe", "random"), f"{p}.sampler={self.sampler!r}; choose tpe or random")
        require(self.pruner in ("median", "halving", "none"),
                f"{p}.pruner={self.pruner!r}; choose median, halving or none")
        require(self.pruner == "none" or (len(self.objectives) == 1 and self.objectives[0].startswith("val_")),
                f"{p}.pruner={self.pruner} judges one validation value per epoch, and the objectives are "
                f"{self.objectives}; give {p}.pruner=none")
        for key in ("startup_trials", "warmup_epochs", "startup_pruning"):
            require(getattr(self, key) >= 0, f"{p}.{key} must be 0 or more, got {getattr(self, key)}")
        require(self.min_epochs >= 1, f"{p}.min_epochs must be at least 1, got {self.min_epochs}")
        require(self.reduction_factor >= 2, f"{p}.reduction_factor must be at least 2, got {self.reduction_factor}")
        self.params = flatten(self.params, f"{p}.params")
        require(bool(self.params), f"{p}.params is empty: give at least one setting to search")
        self.enqueue = [flatten(entry, f"{p}.enqueue") for entry in self.enqueue]

    @property
    def folder(self) -> Path:
        return Path(self.dir)

    @property
    def directions(self) -> list[str]:
        return ["maximize" if o.partition("_")[2] in MAXIMISED else "minimize" for o in self.objectives]


def flatten(node: Any, where: str) -> dict[str, Any]:
    """``{optim: {lr: x}}`` and ``{optim.lr: x}`` alike as ``{"optim.lr": x}``."""
    require(isinstance(node, Mapping), f"{where} must be a mapping of settings, got {node!r}")
    flat: dict[str, Any] = {}

    def walk(prefix: str, value: Any) -> None:
        if isinstance(value, Mapping):
            for key, inner in value.items():
                walk(f"{prefix}.{key}" if prefix else str(key), inner)
            return
        require(prefix not in flat, f"{where}: {prefix} is given twice")
        flat[prefix] = value

    walk("", node)
    return flat
