"""What every data set provides: three splits of fixed-length items plus their shape.

An item is a float32 tensor ``(T, *frame_shape)`` with ``T = context + horizon``: ``(T, D)`` for
sequences, ``(T, C, H, W)`` in [0, 1] for video. Models see the first ``context`` steps and predict
the remaining ``horizon``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import torch
from torch.utils.data import Dataset

from vidpred.errors import require

Kind = Literal["sequence", "video"]
SPLITS = ("train", "val", "test")


@dataclass
class DataSplits:
    """The train / validation / test datasets of one experiment and their common geometry."""

    name: str
    kind: Kind
    context: int
    horizon: int
    frame_shape: tuple[int, ...]
    train: Dataset
    val: Dataset
    test: Dataset
    #: what a prediction on new inputs must repeat (normalisation ranges, columns, frame geometry);
    #: written into the run's metrics.json under "data"
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def length(self) -> int:
        return self.context + self.horizon

    def split(self, name: str) -> Dataset:
        require(name in SPLITS, f"unknown split {name!r}; choose one of {', '.join(SPLITS)}")
        return getattr(self, name)


@dataclass(frozen=True)
class Geometry:
    """What a data set's settings ask for, known before any file is read or any item generated:
    the frame shape, and how many items the splits hold in memory and train on (``None``: known
    only once the files are read)."""

    frame_shape: tuple[int, ...] | None = None
    held_items: int | None = None  # items the three splits keep in memory (memory-mapped or generated on the fly: 0)
    train_items: int | None = None


class ArrayDataset(Dataset):
    """Items held in one float32 array ``(N, T, *frame_shape)``."""

    def __init__(self, array: np.ndarray) -> None:
        self.array = np.ascontiguousarray(array, dtype=np.float32)

    def __len__(self) -> int:
        return len(self.array)

    def __getitem__(self, index: int) -> torch.Tensor:
        return torch.from_numpy(self.array[index])


def check_horizon(context: int, horizon: int) -> None:
    require(context >= 1, f"data.context must be at least 1, got {context}")
    require(horizon >= 1, f"data.horizon must be at least 1, got {horizon}")


def check_sizes(**sizes: int) -> None:
    for key, value in sizes.items():
        require(value >= 1, f"data.{key} must be at least 1, got {value}")


def cap_evenly(items: np.ndarray, size: int | None) -> np.ndarray:
    """At most ``size`` of ``items``, spread evenly over them: a capped split still covers every
    person, ticker or period instead of only the first ones."""
    if size is None or size >= len(items):
        return items
    require(size >= 1, f"data sizes must be at least 1 or null, got {size}")
    return items[np.linspace(0, len(items) - 1, size).round().astype(int)]


def item_rng(split_seed: int, index: int) -> np.random.Generator:
    """The random stream of one item: keyed by (split seed, index), never by the run's seed.

    Keying by index means any worker, any resume and any run seed regenerates exactly the same
    item, so every model is scored on identical test data.
    """
    return np.random.default_rng([split_seed, index])
