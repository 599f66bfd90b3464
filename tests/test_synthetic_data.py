"""The generated data sets: shapes, ranges, formulas, determinism, split independence."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.ndimage import gaussian_filter1d

from vidpred.data import build_data
from vidpred.data.base import item_rng
from vidpred.errors import ConfigError

SEEDS = {"train": 1, "val": 2, "test": 3}


def build(name: str, **overrides):
    params = dict(context=20, horizon=20, train_size=50, val_size=20, test_size=30, seeds=SEEDS)
    params.update(overrides)
    return build_data(name, params, "unused")


@pytest.mark.parametrize("name", ["sins", "noise"])
def test_shapes_ranges_and_sizes(name: str) -> None:
    data = build(name, context=12, horizon=8)
    assert (len(data.train), len(data.val), len(data.test)) == (50, 20, 30)
    assert data.kind == "sequence" and data.frame_shape == (1,) and data.length == 20
    item = data.test[0]
    assert tuple(item.shape) == (20, 1) and str(item.dtype) == "torch.float32"
    for split in (data.train, data.val, data.test):
        assert split.array.min() >= 0.0 and split.array.max() <= 1.0


def test_sines_follow_the_formula() -> None:
    data = build("sins")
    t = np.linspace(0, 1, 40)
    for index in (0, 7, 29):
        rng = item_rng(SEEDS["test"], index)
        a, b = rng.uniform(0, 4 * np.pi), rng.uniform(0, np.pi)
        assert 0 <= a <= 4 * np.pi and 0 <= b <= np.pi
        np.testing.assert_allclose(data.test.array[index, :, 0], (np.sin(a * t + b) + 1) / 2, atol=1e-6)


def test_noise_is_smoothed_and_min_max_normalised() -> None:
    data = build("noise")
    rng = item_rng(SEEDS["val"], 3)
    smooth = gaussian_filter1d(rng.uniform(0, 1, 40), sigma=1.0)
    expected = (smooth - smooth.min()) / (smooth.max() - smooth.min())
    np.testing.assert_allclose(data.val.array[3, :, 0], expected, atol=1e-6)
    arr = data.train.array[..., 0]
    np.testing.assert_allclose(arr.min(axis=1), 0.0, atol=1e-7)
    np.testing.assert_allclose(arr.max(axis=1), 1.0, atol=1e-6)
    # smoothing: neighbouring values are much closer than for white noise
    assert np.abs(np.diff(arr, axis=1)).mean() < 0.2


@pytest.mark.parametrize("boundary", ["constant", "wrap"])
def test_noise_boundary_is_the_filters_mode(boundary: str) -> None:
    """data.boundary picks how the filter extends the sequence past its ends; the default, scipy's
    reflect, keeps the study's test set (checked above) unchanged."""
    data = build("noise", boundary=boundary)
    rng = item_rng(SEEDS["test"], 5)
    smooth = gaussian_filter1d(rng.uniform(0, 1, 40), sigma=1.0, mode=boundary)
    np.testing.assert_allclose(data.test.array[5, :, 0], (smooth - smooth.min()) / (smooth.max() - smooth.min()),
                               atol=1e-6)
    assert not np.allclose(data.test.array, build("noise").test.array)
    with pytest.raises(ConfigError, match="data.boundary must be one of reflect, constant, nearest, mirror, wrap"):
        build("noise", boundary="zeros")


@pytest.mark.parametrize("name", ["sins", "noise"])
def test_items_are_keyed_by_split_seed_and_index(name: str) -> None:
    small, large = build(name, test_size=10), build(name, test_size=30)
    np.testing.assert_array_equal(small.test.array, large.test.array[:10])
    again = build(name)
    np.testing.assert_array_equal(again.train.array, large.train.array)
    # the splits are different data
    assert not np.allclose(large.train.array[:20], large.val.array[:20])
    assert not np.allclose(large.val.array[:20], large.test.array[:20])


def test_test_set_does_not_depend_on_the_run_seed(tmp_path) -> None:
    from helpers.config import compose_config

    arrays = []
    for seed in (0, 123):
        cfg = compose_config([f"seed={seed}", "data.train_size=10", "data.val_size=10", "data.test_size=25"])
        params = {k: v for k, v in cfg.data.items() if k not in ("name", "batch_size", "num_workers")}
        arrays.append(build_data(cfg.data.name, dict(params), "unused").test.array)
    np.testing.assert_array_equal(arrays[0], arrays[1])


@pytest.mark.parametrize("bad, message", [
    ({"horizon": 0}, "data.horizon must be at least 1"),
    ({"context": 0}, "data.context must be at least 1"),
    ({"test_size": 0}, "data.test_size must be at least 1"),
    ({"seeds": {"train": 1, "val": 1, "test": 3}}, "data.seeds must differ"),
    ({"colour": 3}, "accepted keys"),
])
def test_impossible_values_are_config_errors(bad: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        build("sins", **bad)
