"""Generated 1-D sequences of the study: sines and smoothed noise (DESIGN section 5)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from scipy.ndimage import gaussian_filter1d

from vidpred.data.base import ArrayDataset, DataSplits, check_horizon, check_sizes, item_rng
from vidpred.errors import require


def sine_item(rng: np.random.Generator, length: int) -> np.ndarray:
    """``x(t) = (sin(a t + b) + 1) / 2`` with ``a ~ U(0, 4 pi)``, ``b ~ U(0, pi)``, ``t`` on [0, 1]."""
    a = rng.uniform(0.0, 4.0 * np.pi)
    b = rng.uniform(0.0, np.pi)
    t = np.linspace(0.0, 1.0, length)
    return (np.sin(a * t + b) + 1.0) / 2.0


def make_noise_item(sigma: float) -> Callable[[np.random.Generator, int], np.ndarray]:
    """Uniform(0, 1) noise smoothed by a Gaussian filter, then min-max normalised per sequence."""

    def noise_item(rng: np.random.Generator, length: int) -> np.ndarray:
        smooth = gaussian_filter1d(rng.uniform(0.0, 1.0, length), sigma=sigma)
        low, high = smooth.min(), smooth.max()
        return (smooth - low) / (high - low) if high > low else np.zeros_like(smooth)

    return noise_item


def generate(item: Callable[[np.random.Generator, int], np.ndarray], split_seed: int, size: int,
             length: int) -> np.ndarray:
    """``size`` items of one split as float32 ``(size, length, 1)``; item i keyed by (seed, i)."""
    out = np.empty((size, length, 1), dtype=np.float32)
    for index in range(size):
        out[index, :, 0] = item(item_rng(split_seed, index), length)
    return out


def _build(name: str, item: Callable[[np.random.Generator, int], np.ndarray], context: int,
           horizon: int, train_size: int, val_size: int, test_size: int,
           seeds: dict[str, int]) -> DataSplits:
    check_horizon(context, horizon)
    check_sizes(train_size=train_size, val_size=val_size, test_size=test_size)
    require(len({seeds["train"], seeds["val"], seeds["test"]}) == 3,
            f"data.seeds must differ between splits, got {dict(seeds)}")
    length = context + horizon
    sizes = {"train": train_size, "val": val_size, "test": test_size}
    splits = {s: ArrayDataset(generate(item, seeds[s], sizes[s], length)) for s in sizes}
    return DataSplits(name=name, kind="sequence", context=context, horizon=horizon,
                      frame_shape=(1,), **splits)


def build_sins(context: int, horizon: int, train_size: int, val_size: int, test_size: int,
               seeds: dict[str, int]) -> DataSplits:
    return _build("sins", sine_item, context, horizon, train_size, val_size, test_size, seeds)


def build_noise(context: int, horizon: int, train_size: int, val_size: int, test_size: int,
                seeds: dict[str, int], sigma: float = 1.0) -> DataSplits:
    require(sigma > 0, f"data.sigma must be positive, got {sigma}")
    return _build("noise", make_noise_item(sigma), context, horizon, train_size, val_size,
                  test_size, seeds)
