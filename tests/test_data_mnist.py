"""Moving MNIST: the IDX reader, both generators, split independence, the standard test file."""

from __future__ import annotations

import gzip
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from helpers.data_fabricate import digit_images, fabricate_mnist, write_gz
from vidpred.data import build_data
from vidpred.data.base import item_rng
from vidpred.data.formats.idx import IMAGES_MAGIC, LABELS_MAGIC, encode_idx, read_idx
from vidpred.data.sets.mnist import moving_digits, scale_digits, svg_trajectory
from vidpred.errors import DataError

SEEDS = {"train": 1, "val": 2, "test": 3}


def build(root: Path, **overrides):
    params = dict(context=10, horizon=10, train_size=12, val_size=6, test_size=5, seeds=SEEDS)
    params.update(overrides)
    return build_data("mnist", params, root)


def test_idx_round_trip_plain_and_gzipped(tmp_path: Path) -> None:
    images = digit_images(5)
    (tmp_path / "plain").write_bytes(encode_idx(images))
    write_gz(tmp_path / "zipped.gz", encode_idx(images))
    for name in ("plain", "zipped.gz"):
        np.testing.assert_array_equal(read_idx(tmp_path / name, IMAGES_MAGIC), images)
    labels = np.arange(7, dtype=np.uint8)
    (tmp_path / "labels").write_bytes(encode_idx(labels))
    np.testing.assert_array_equal(read_idx(tmp_path / "labels", LABELS_MAGIC), labels)


@pytest.mark.parametrize("damage, message", [
    (lambda b: b[:-100], "truncated or padded IDX data"),
    (lambda b: b"\x00\x00\x08\x01" + b[4:], "not an IDX image file"),
    (lambda b: b[:9], "truncated IDX header"),
])
def test_idx_corruption_names_the_file(tmp_path: Path, damage, message: str) -> None:
    path = write_gz(tmp_path / "train-images-idx3-ubyte.gz", damage(encode_idx(digit_images(3))))
    with pytest.raises(DataError, match=message) as info:
        read_idx(path, IMAGES_MAGIC)
    assert str(path) in str(info.value)


def test_truncated_gzip_is_reported(tmp_path: Path) -> None:
    path = tmp_path / "t10k-images-idx3-ubyte.gz"
    path.write_bytes(gzip.compress(encode_idx(digit_images(20)))[:-40])
    with pytest.raises(DataError, match="truncated gzip"):
        read_idx(path, IMAGES_MAGIC)


def test_real_test_digits_read(shared_data: Path) -> None:
    images = read_idx(shared_data / "mnist" / "t10k-images-idx3-ubyte.gz", IMAGES_MAGIC)
    labels = read_idx(shared_data / "mnist" / "t10k-labels-idx1-ubyte.gz", LABELS_MAGIC)
    assert images.shape == (10000, 28, 28) and labels.shape == (10000,)
    assert sorted(np.unique(labels).tolist()) == list(range(10))
    # MNIST's published mean intensity is about 0.13 of full scale; digits are centred.
    assert 0.11 < images.mean() / 255 < 0.15
    assert images[:, :3, :].mean() < 0.01 * images[:, 10:18, 10:18].mean()


def test_svg_trajectory_bounces_within_the_frame() -> None:
    for index in range(200):
        ys, xs = svg_trajectory(item_rng(5, index), 40, 32)
        for pos in (ys, xs):
            assert pos.min() >= 0 and pos.max() <= 31
            steps = np.abs(np.diff(pos))
            assert steps.max() <= 8  # |v| <= 4, plus at most one clamp at an edge
            # away from the edges the velocity is constant
            inner = (pos[:-2] > 4) & (pos[:-2] < 27) & (pos[1:-1] > 4) & (pos[1:-1] < 27)
            np.testing.assert_array_equal(np.diff(pos)[:-1][inner], np.diff(pos)[1:][inner])


def test_svg_sequence_places_the_scaled_digit_on_its_trajectory() -> None:
    digit = np.zeros((1, 32, 32), dtype=np.uint8)
    digit[0, 10:20, 5:25] = 255
    frames = moving_digits(digit, item_rng(9, 0), 20, 1, "svg32")
    rng = item_rng(9, 0)
    rng.integers(0, 1, size=1)  # the digit pick drawn first
    ys, xs = svg_trajectory(rng, 20, 32)
    for t in range(20):
        expected = np.zeros((64, 64), dtype=np.float32)
        expected[ys[t] + 10: ys[t] + 20, xs[t] + 5: xs[t] + 25] = 1.0
        np.testing.assert_array_equal(frames[t], expected)


def test_overlapping_digits_are_summed_and_clipped() -> None:
    digit = np.full((1, 32, 32), 153, dtype=np.uint8)  # 0.6 each: two overlaps sum to 1.2 -> 1
    frames = moving_digits(digit, item_rng(3, 1), 20, 2, "svg32")
    # background, one digit, and the overlap (1.2 clipped to 1): nothing else
    np.testing.assert_allclose(np.unique(frames), [0.0, 0.6, 1.0], atol=1e-6)


def test_scale_digits_keeps_intensity() -> None:
    real = digit_images(4)
    scaled = scale_digits(real, 32)
    assert scaled.shape == (4, 32, 32) and scaled.dtype == np.uint8
    np.testing.assert_allclose(scaled.astype(float).sum((1, 2)) / (32 / 28) ** 2,
                               real.astype(float).sum((1, 2)), rtol=0.05)


@pytest.mark.parametrize("generator", ["svg32", "standard28"])
def test_items_are_keyed_by_split_seed_and_index(tmp_path: Path, generator: str) -> None:
    fabricate_mnist(tmp_path, test_seq=None)
    a, b = build(tmp_path, generator=generator), build(tmp_path, generator=generator)
    item = a.train[3]
    assert item.shape == (20, 1, 64, 64) and item.dtype == torch.float32
    assert 0.0 <= item.min() and item.max() <= 1.0 and item.max() > 0.4
    torch.testing.assert_close(item, b.train[3])
    torch.testing.assert_close(a.test[2], b.test[2])
    assert not torch.equal(a.train[3], a.train[4])
    assert not torch.equal(a.val[0], a.test[0]) and not torch.equal(a.train[0], a.val[0])
    assert (len(a.train), len(a.val), len(a.test)) == (12, 6, 5)
    with pytest.raises(IndexError):
        a.train[12]


def test_validation_digits_are_held_out_from_training(tmp_path: Path) -> None:
    fabricate_mnist(tmp_path, train=50, test_seq=None)
    data = build(tmp_path, val_fraction=0.2)
    train_digits, val_digits = data.train.digits, data.val.digits
    assert len(train_digits) == 40 and len(val_digits) == 10
    all_digits = scale_digits(read_idx(tmp_path / "mnist" / "train-images-idx3-ubyte.gz", IMAGES_MAGIC), 32)
    np.testing.assert_array_equal(np.concatenate([train_digits, val_digits]), all_digits)


def test_standard_test_file_is_used_when_present(tmp_path: Path) -> None:
    folder = fabricate_mnist(tmp_path, test_seq=8)
    raw = np.load(folder / "mnist_test_seq.npy")
    data = build(tmp_path, test_size=100)
    assert len(data.test) == 8  # capped at the file
    np.testing.assert_allclose(data.test[5].numpy()[:, 0], raw[:20, 5] / 255.0, rtol=0, atol=1e-7)
    generated = build(tmp_path, test_source="generated")
    assert len(generated.test) == 5 and not torch.equal(generated.test[0], data.test[0])


def test_short_test_file_is_an_error(tmp_path: Path) -> None:
    folder = fabricate_mnist(tmp_path, test_seq=None)
    np.save(folder / "mnist_test_seq.npy", np.zeros((12, 3, 64, 64), dtype=np.uint8))
    with pytest.raises(DataError, match="holds 12 frames"):
        build(tmp_path)
    np.save(folder / "mnist_test_seq.npy", np.zeros((20, 3, 32, 32), dtype=np.uint8))
    with pytest.raises(DataError, match=r"expected uint8 \(T, N, 64, 64\)"):
        build(tmp_path)


def test_missing_training_digits_name_the_command(tmp_path: Path, shared_data: Path) -> None:
    shutil.copytree(shared_data / "mnist", tmp_path / "mnist")
    with pytest.raises(DataError, match="python -m vidpred.data download mnist") as info:
        build(tmp_path)
    assert "data.train_digits=test" in str(info.value)
    with pytest.raises(DataError, match="t10k-images-idx3-ubyte.gz not found"):
        build(tmp_path / "nowhere")


def test_debug_mode_trains_on_disjoint_parts_of_the_real_test_digits(tmp_path: Path, shared_data: Path) -> None:
    shutil.copytree(shared_data / "mnist", tmp_path / "mnist")
    data = build(tmp_path, train_digits="test")
    assert (len(data.train.digits), len(data.val.digits), len(data.test.digits)) == (7000, 1000, 2000)
    item = data.train[0].numpy()
    assert item.shape == (20, 1, 64, 64)
    # two 32-px digits: a frame's ink is the sum of two scaled MNIST digits (mean ink ~0.13), clipped
    assert 0.01 < item.mean() < 0.1
