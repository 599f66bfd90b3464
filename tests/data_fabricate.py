"""Tiny data files in the exact real formats, for tests (no network, no real data needed).

:func:`fabricate_all` writes every data set under one root, so a test can run any model on any
``conf/data/*.yaml`` with ``data.root=<root>``.
"""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np

from vidpred.data.idx import encode_idx


def digit_images(count: int, seed: int = 0) -> np.ndarray:
    """``count`` fake 28 x 28 uint8 digits: a bright random rectangle on black, like a stroke blob."""
    rng = np.random.default_rng(seed)
    out = np.zeros((count, 28, 28), dtype=np.uint8)
    for k in range(count):
        top, left = rng.integers(3, 10, size=2)
        height, width = rng.integers(8, 16, size=2)
        out[k, top:top + height, left:left + width] = rng.integers(128, 256)
    return out


def write_gz(path: Path, data: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(gzip.compress(data))
    return path


def fabricate_mnist(root: Path, train: int = 40, test: int = 30, test_seq: int | None = 8,
                    seed: int = 0) -> Path:
    """IDX digits (train and t10k, gzipped, with labels) and a small ``mnist_test_seq.npy``."""
    folder = Path(root) / "mnist"
    rng = np.random.default_rng(seed)
    for prefix, count in (("train", train), ("t10k", test)):
        if count:
            write_gz(folder / f"{prefix}-images-idx3-ubyte.gz", encode_idx(digit_images(count, seed + count)))
            write_gz(folder / f"{prefix}-labels-idx1-ubyte.gz", encode_idx(rng.integers(0, 10, count)))
    if test_seq:
        np.save(folder / "mnist_test_seq.npy", rng.integers(0, 256, (20, test_seq, 64, 64), dtype=np.uint8))
    return folder


def fabricate_all(root: Path) -> None:
    """Tiny prepared or raw data of every data set under ``root`` (use with ``data.root=<root>``)."""
    fabricate_mnist(root)
