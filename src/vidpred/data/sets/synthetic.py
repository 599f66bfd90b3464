"""Generated 1-D sequences: the machinery shared by ``sins`` and ``noise`` (and any new generated
set): items drawn from ``item_rng(split seed, index)`` into in-memory arrays."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from vidpred.data.base import ArrayDataset, DataSplits, Geometry, check_horizon, check_sizes, item_rng
from vidpred.errors import require


def generate(item: Callable[[np.random.Generator, int], np.ndarray], split_seed: int, size: int,
             length: int) -> np.ndarray:
    """``size`` items of one split as float32 ``(size, length, 1)``; item i keyed by (seed, i)."""
    out = np.empty((size, length, 1), dtype=np.float32)
    for index in range(size):
        out[index, :, 0] = item(item_rng(split_seed, index), length)
    return out


def build_generated(name: str, item: Callable[[np.random.Generator, int], np.ndarray], context: int,
                    horizon: int, train_size: int, val_size: int, test_size: int,
                    seeds: dict[str, int]) -> DataSplits:
    """Splits of ``(train_size, val_size, test_size)`` items; the split seeds must differ."""
    check_horizon(context, horizon)
    check_sizes(train_size=train_size, val_size=val_size, test_size=test_size)
    require(len({seeds["train"], seeds["val"], seeds["test"]}) == 3,
            f"data.seeds must differ between splits, got {dict(seeds)}")
    length = context + horizon
    sizes = {"train": train_size, "val": val_size, "test": test_size}
    splits = {s: ArrayDataset(generate(item, seeds[s], sizes[s], length)) for s in sizes}
    return DataSplits(name=name, kind="sequence", context=context, horizon=horizon,
                      frame_shape=(1,), **splits)


def generated_geometry(params: dict[str, Any]) -> Geometry:
    """Every generated item is held in memory, one value per step."""
    return Geometry(frame_shape=(1,), held_items=sum(int(params[f"{s}_size"]) for s in ("train", "val", "test")),
                    train_items=int(params["train_size"]))
