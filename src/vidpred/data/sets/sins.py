"""``data=sins``: x(t) = (sin(a t + b) + 1) / 2 with a ~ U(0, 4 pi), b ~ U(0, pi), t evenly spaced on
[0, 1]; the context is the first part, the horizon the rest."""

from __future__ import annotations

import numpy as np

from vidpred.data.base import DataSplits
from vidpred.data.registry import FAMILIES, DataFamily
from vidpred.data.sets.synthetic import build_generated, generated_geometry


def sine_item(rng: np.random.Generator, length: int) -> np.ndarray:
    """``x(t) = (sin(a t + b) + 1) / 2`` with ``a ~ U(0, 4 pi)``, ``b ~ U(0, pi)``, ``t`` on [0, 1]."""
    a = rng.uniform(0.0, 4.0 * np.pi)
    b = rng.uniform(0.0, np.pi)
    t = np.linspace(0.0, 1.0, length)
    return (np.sin(a * t + b) + 1.0) / 2.0


def build_sins(context: int, horizon: int, train_size: int, val_size: int, test_size: int,
               seeds: dict[str, int]) -> DataSplits:
    return build_generated("sins", sine_item, context, horizon, train_size, val_size, test_size, seeds)


FAMILY = FAMILIES.register(DataFamily(name="sins", kind="sequence", build=build_sins, geometry=generated_geometry))
