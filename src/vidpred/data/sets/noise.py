"""``data=noise``: uniform(0, 1) noise smoothed by a Gaussian filter (sigma 1, as
``scipy.ndimage.gaussian_filter1d``), then min-max normalised over each whole sequence."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from scipy.ndimage import gaussian_filter1d

from vidpred.data.base import DataSplits
from vidpred.data.registry import FAMILIES, DataFamily
from vidpred.data.sets.synthetic import build_generated, generated_geometry
from vidpred.errors import require


# How the filter extends a sequence past its ends (scipy.ndimage's ``mode``). The default is
# scipy's; ``constant`` pads with zeros, as ``np.convolve(..., mode="same")`` does. The choice
# changes the last steps' statistics, and with them how predictable the horizon is.
BOUNDARIES = ("reflect", "constant", "nearest", "mirror", "wrap")


def make_noise_item(sigma: float, boundary: str = "reflect") -> Callable[[np.random.Generator, int], np.ndarray]:
    """Uniform(0, 1) noise smoothed by a Gaussian filter, then min-max normalised per sequence."""

    def noise_item(rng: np.random.Generator, length: int) -> np.ndarray:
        smooth = gaussian_filter1d(rng.uniform(0.0, 1.0, length), sigma=sigma, mode=boundary)
        low, high = smooth.min(), smooth.max()
        return (smooth - low) / (high - low) if high > low else np.zeros_like(smooth)

    return noise_item


def build_noise(context: int, horizon: int, train_size: int, val_size: int, test_size: int,
                seeds: dict[str, int], sigma: float = 1.0, boundary: str = "reflect") -> DataSplits:
    require(sigma > 0, f"data.sigma must be positive, got {sigma}")
    require(boundary in BOUNDARIES, f"data.boundary must be one of {', '.join(BOUNDARIES)}, got {boundary!r}")
    return build_generated("noise", make_noise_item(sigma, boundary), context, horizon, train_size, val_size,
                           test_size, seeds)


FAMILY = FAMILIES.register(DataFamily(name="noise", kind="sequence", build=build_noise, geometry=generated_geometry))
