"""Moving MNIST: digits bouncing in a 64 x 64 frame, generated on the fly.

Two generators:

- ``svg32`` (the study's): digits scaled to 32 x 32, integer velocities in -4..4 pixels per frame,
  positions clamped and the velocity reflected at the edges, overlapping digits summed and
  clipped to 1 (the deterministic option of SVG's loader).
- ``standard28`` (the one behind ``mnist_test_seq.npy``): 28 x 28 digits, a random direction at a
  fixed speed on the free range of the frame, bounce at the edges, digits combined by maximum.

Item ``i`` of a split is drawn from ``item_rng(split_seed, i)``: any worker, resume or run seed
regenerates it exactly. Digits never cross splits: training sequences use the training digits
minus a held-out tail that feeds validation; the test set is ``mnist_test_seq.npy`` when present,
else a fixed-seed set generated from the test digits.
"""

from __future__ import annotations

import gzip
import logging
import math
import os
import shutil
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import Dataset

from vidpred.data.base import DataSplits, Geometry, check_horizon, check_sizes, item_rng
from vidpred.data.formats.download import Remote, fetch
from vidpred.data.formats.idx import IMAGES_MAGIC, LABELS_MAGIC, read_idx
from vidpred.data.registry import FAMILIES, DataFamily, missing
from vidpred.data.folders import dataset_dir, write_folder
from vidpred.data.formats.store import load_npy
from vidpred.data.windows import Mapped, unit_frames
from vidpred.errors import DataError, require
from vidpred.io import atomic_path

log = logging.getLogger("vidpred")

NAME = "mnist"
FRAME = 64
TRAIN_IMAGES = "train-images-idx3-ubyte.gz"
TEST_IMAGES = "t10k-images-idx3-ubyte.gz"
TEST_SEQ = "mnist_test_seq.npy"
# With data.train_digits=test the 10,000 test digits are cut into train / val / test parts.
DEBUG_PARTS = (0.7, 0.1)


def _paste(canvas: np.ndarray, digit: np.ndarray, ys: np.ndarray, xs: np.ndarray, combine: str) -> None:
    """Paste ``digit`` at ``(ys[t], xs[t])`` into frame ``t`` of ``canvas``.

    Basic slices per frame: about three times faster than one fancy-indexed scatter over all frames.
    """
    size = digit.shape[0]
    for t, (y, x) in enumerate(zip(ys.tolist(), xs.tolist())):
        window = canvas[t, y:y + size, x:x + size]
        if combine == "sum":
            window += digit
        else:
            np.maximum(window, digit, out=window)


def svg_trajectory(rng: np.random.Generator, length: int, free: int) -> tuple[np.ndarray, np.ndarray]:
    """Integer positions of one digit: start in ``[0, free)``, velocity in -4..4, reflected at edges."""
    y, x = (int(v) for v in rng.integers(0, free, size=2))
    dy, dx = (int(v) for v in rng.integers(-4, 5, size=2))
    ys, xs = np.empty(length, dtype=np.int64), np.empty(length, dtype=np.int64)
    for t in range(length):
        if y < 0:
            y, dy = 0, -dy
        elif y >= free:
            y, dy = free - 1, -dy
        if x < 0:
            x, dx = 0, -dx
        elif x >= free:
            x, dx = free - 1, -dx
        ys[t], xs[t] = y, x
        y, x = y + dy, x + dx
    return ys, xs


def standard_trajectory(rng: np.random.Generator, length: int, free: int,
                        step: float = 0.1) -> tuple[np.ndarray, np.ndarray]:
    """Positions of one digit moving at ``step`` (fraction of the free range) in a random direction."""
    pos = rng.uniform(0.0, 1.0, size=2)
    theta = rng.uniform(0.0, 2.0 * np.pi)
    vel = np.array([np.sin(theta), np.cos(theta)]) * step
    out = np.empty((length, 2))
    for t in range(length):
        pos = pos + vel
        for k in range(2):
            if pos[k] <= 0.0:
                pos[k], vel[k] = 0.0, -vel[k]
            elif pos[k] >= 1.0:
                pos[k], vel[k] = 1.0, -vel[k]
        out[t] = pos
    cells = (out * free).astype(np.int64)
    return cells[:, 0], cells[:, 1]


def moving_digits(digits: np.ndarray, rng: np.random.Generator, length: int, num_digits: int,
                  generator: str) -> np.ndarray:
    """One sequence ``(length, 64, 64)`` float32 in [0, 1] from uint8 ``digits`` ``(N, s, s)``."""
    size = digits.shape[1]
    canvas = np.zeros((length, FRAME, FRAME), dtype=np.float32)
    picks = rng.integers(0, len(digits), size=num_digits)
    for pick in picks:
        digit = digits[pick].astype(np.float32) / 255.0
        if generator == "svg32":
            ys, xs = svg_trajectory(rng, length, FRAME - size)
            _paste(canvas, digit, ys, xs, "sum")
        else:
            ys, xs = standard_trajectory(rng, length, FRAME - size)
            _paste(canvas, digit, ys, xs, "max")
    return np.minimum(canvas, 1.0, out=canvas)


GENERATORS = {"svg32": 32, "standard28": 28}  # generator -> digit size in pixels


def scale_digits(digits: np.ndarray, size: int) -> np.ndarray:
    """Bilinear resize of uint8 digits ``(N, 28, 28)`` to ``(N, size, size)``, kept as uint8."""
    if digits.shape[1] == size:
        return np.ascontiguousarray(digits)
    x = torch.from_numpy(digits.astype(np.float32)).unsqueeze(1)
    y = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False)
    return y.squeeze(1).round().clamp(0, 255).to(torch.uint8).numpy()


class MovingMNIST(Dataset):
    """``size`` sequences ``(T, 1, 64, 64)`` generated from ``digits``, item i keyed by (seed, i)."""

    def __init__(self, digits: np.ndarray, split_seed: int, size: int, length: int, num_digits: int,
                 generator: str) -> None:
        self.digits = digits
        self.split_seed = split_seed
        self.size = size
        self.length = length
        self.num_digits = num_digits
        self.generator = generator

    def __len__(self) -> int:
        return self.size

    def __getitem__(self, index: int) -> torch.Tensor:
        if not 0 <= index < self.size:
            raise IndexError(index)
        frames = moving_digits(self.digits, item_rng(self.split_seed, index), self.length,
                               self.num_digits, self.generator)
        return torch.from_numpy(frames).unsqueeze(1)


class MovingMNISTFile(Dataset):
    """The standard test set: ``mnist_test_seq.npy`` uint8 ``(20, N, 64, 64)``, time-major, memory-mapped."""

    def __init__(self, array: np.memmap, size: int, length: int) -> None:
        self.array = Mapped(array)
        self.size = size
        self.length = length

    def __len__(self) -> int:
        return self.size

    def __getitem__(self, index: int) -> torch.Tensor:
        if not 0 <= index < self.size:
            raise IndexError(index)
        return unit_frames(self.array.array[: self.length, index]).unsqueeze(1)


def open_test_seq(path: Path, length: int, data_dir: str | os.PathLike[str]) -> np.ndarray:
    """Memory-map ``mnist_test_seq.npy`` and check its shape, dtype and length."""
    array = load_npy(path, NAME, data_dir)
    if array.dtype != np.uint8 or array.ndim != 4 or array.shape[2:] != (FRAME, FRAME):
        raise DataError(f"{path}: expected uint8 (T, N, 64, 64), found {array.dtype} {tuple(array.shape)}; "
                        f"download it again with: python -m vidpred.data download {NAME}")
    if array.shape[0] < length:
        raise DataError(f"{path}: holds {array.shape[0]} frames per sequence, data.context + "
                        f"data.horizon = {length}; lower them or set data.test_source=generated")
    return array


def load_digits(data_dir: str | os.PathLike[str], train_digits: str) -> tuple[np.ndarray, np.ndarray]:
    """(train digits, test digits) as uint8 ``(N, 28, 28)``; missing files name the download."""
    folder = dataset_dir(data_dir, NAME)
    test_path = folder / TEST_IMAGES
    if not test_path.is_file():
        raise missing(test_path, NAME, data_dir, "MNIST test digits")
    test = read_idx(test_path, IMAGES_MAGIC)
    if train_digits == "test":
        return test, test
    train_path = folder / TRAIN_IMAGES
    if not train_path.is_file():
        raise missing(train_path, NAME, data_dir, "MNIST training digits",
                      hint="or set data.train_digits=test to debug on the 10,000 test digits")
    return read_idx(train_path, IMAGES_MAGIC), test


def build_mnist(data_dir: str, context: int, horizon: int, train_size: int, val_size: int,
                test_size: int, seeds: dict[str, int], generator: str = "svg32", num_digits: int = 2,
                train_digits: str = "train", val_fraction: float = 0.1,
                test_source: str = "auto") -> DataSplits:
    """Moving MNIST splits; see the module docstring for where each split's digits come from."""
    check_horizon(context, horizon)
    check_sizes(train_size=train_size, val_size=val_size, test_size=test_size, num_digits=num_digits)
    require(generator in GENERATORS, f"data.generator must be one of {', '.join(GENERATORS)}, got {generator!r}")
    require(train_digits in ("train", "test"), f"data.train_digits must be train or test, got {train_digits!r}")
    require(test_source in ("auto", "file", "generated"),
            f"data.test_source must be auto, file or generated, got {test_source!r}")
    require(0.0 < val_fraction < 1.0, f"data.val_fraction must be in (0, 1), got {val_fraction}")
    require(len({seeds["train"], seeds["val"], seeds["test"]}) == 3,
            f"data.seeds must differ between splits, got {dict(seeds)}")
    length = context + horizon
    train, test_digits = load_digits(data_dir, train_digits)
    if train_digits == "test":
        # Debug mode: disjoint parts of the test digits, so no digit is in two splits.
        cut_train, cut_val = (round(len(train) * sum(DEBUG_PARTS[:k + 1])) for k in range(2))
        train, val, test_digits = train[:cut_train], train[cut_train:cut_val], train[cut_val:]
    else:
        cut = len(train) - max(1, math.ceil(len(train) * val_fraction))
        train, val = train[:cut], train[cut:]
    require(len(train) >= 1 and len(val) >= 1 and len(test_digits) >= 1,
            f"mnist: too few digits to split (train {len(train)}, val {len(val)}, test {len(test_digits)})")
    size = GENERATORS[generator]
    train, val = scale_digits(train, size), scale_digits(val, size)

    seq_path = dataset_dir(data_dir, NAME) / TEST_SEQ
    use_file = test_source == "file" or (test_source == "auto" and seq_path.is_file())
    if use_file:
        array = open_test_seq(seq_path, length, data_dir)
        test: Dataset = MovingMNISTFile(array, min(test_size, array.shape[1]), length)
        log.info("mnist test set: %s (%d sequences)", seq_path, len(test))
    else:
        test = MovingMNIST(scale_digits(test_digits, size), seeds["test"], test_size, length,
                           num_digits, generator)
        log.info("mnist test set: %d sequences generated from the test digits (seed %d)",
                 test_size, seeds["test"])
    return DataSplits(name=NAME, kind="video", context=context, horizon=horizon,
                      frame_shape=(1, FRAME, FRAME),
                      train=MovingMNIST(train, seeds["train"], train_size, length, num_digits, generator),
                      val=MovingMNIST(val, seeds["val"], val_size, length, num_digits, generator),
                      test=test)


# ---------------------------------------------------------------- getting and checking the files
# The original host refuses downloads; this mirror serves the same files (sizes as published).
# The t10k checksums are those of the real files; the training files are checked by size and
# by reading them back (magic, counts).
MIRROR = "https://ossci-datasets.s3.amazonaws.com/mnist"
TEST_SEQ_URL = "http://www.cs.toronto.edu/~nitish/unsupervised_video/mnist_test_seq.npy"
IDX_FILES = {  # canonical name -> (magic, count, size of the .gz, md5 of the .gz or None)
    TRAIN_IMAGES: (IMAGES_MAGIC, 60000, 9912422, None),
    "train-labels-idx1-ubyte.gz": (LABELS_MAGIC, 60000, 28881, None),
    TEST_IMAGES: (IMAGES_MAGIC, 10000, 1648877, "2c57910da66b1e3036e350d10c8c03e1"),
    "t10k-labels-idx1-ubyte.gz": (LABELS_MAGIC, 10000, 4542, "cb1dbc8694c1ed44a28edef0c01aec2a"),
}


def remotes(mirror: str | None = None, test_seq: bool = True) -> list[Remote]:
    """What ``download mnist`` fetches; ``mirror`` replaces the hosts (a folder URL with the same names)."""
    files = [Remote(f"{MIRROR}/{name}", name, size, md5) for name, (_, _, size, md5) in IDX_FILES.items()]
    if test_seq:
        files.append(Remote(TEST_SEQ_URL, TEST_SEQ))
    return [r.with_mirror(mirror) for r in files]


def check_file(path: Path, data_dir: str | os.PathLike[str], name: str | None = None) -> str:
    """Read MNIST file ``name`` (default: its own name) back fully; a one-line summary or :class:`DataError`."""
    name = name or path.name
    if name == TEST_SEQ:
        array = open_test_seq(path, 1, data_dir)
        return f"{name}: {array.shape[1]} sequences of {array.shape[0]} frames ok"
    magic = IDX_FILES[name][0]
    array = read_idx(path, magic)
    return f"{name}: {array.shape[0]} {'labels' if magic == LABELS_MAGIC else 'images'} ok"


def download(data_dir: str | os.PathLike[str], mirror: str | None = None, files: list[Remote] | None = None) -> list[str]:
    """Fetch the digits and the standard test set into ``<data_dir>/mnist``, each checked on arrival."""
    folder = dataset_dir(data_dir, NAME)
    lines = []
    for remote in files if files is not None else remotes(mirror):
        path = fetch(remote, folder)
        try:
            lines.append(check_file(path, data_dir))
        except DataError:
            path.unlink()  # a file that does not read back is not kept under its final name
            raise
    return lines


def prepare(src: Path, data_dir: str | os.PathLike[str]) -> list[str]:
    """Copy MNIST files a user already has (gzipped or plain IDX, ``mnist_test_seq.npy``) into place."""
    folder = dataset_dir(data_dir, NAME)
    sources = {}
    for name in [*IDX_FILES, TEST_SEQ]:
        plain = name.removesuffix(".gz")
        candidates = [src / name, src / plain, src / plain.replace("-idx", ".idx")]
        if (source := next((c for c in candidates if c.is_file()), None)) is not None:
            check_file(source, data_dir, name)  # all are checked before any is copied
            sources[name] = source
    if not sources:
        raise DataError(f"{src}: no MNIST files found (expected {', '.join(IDX_FILES)} or {TEST_SEQ})")
    write_folder(folder)
    for name, source in sources.items():
        with atomic_path(folder / name) as tmp:
            if name.endswith(".gz") and not source.name.endswith(".gz"):
                with open(source, "rb") as raw, gzip.open(tmp, "wb") as out:
                    shutil.copyfileobj(raw, out)
            else:
                shutil.copyfile(source, tmp)
    return [f"{source} -> {folder / name}" for name, source in sources.items()]


def verify(data_dir: str | os.PathLike[str]) -> list[str]:
    """Read every MNIST file back and say what is absent; without the test digits nothing works."""
    folder = dataset_dir(data_dir, NAME)
    test_path = folder / TEST_IMAGES
    if not test_path.is_file():
        raise missing(test_path, NAME, data_dir)
    lines = []
    for name in [*IDX_FILES, TEST_SEQ]:
        path = folder / name
        if path.is_file():
            lines.append(check_file(path, data_dir))
        elif name == TRAIN_IMAGES:
            lines.append(f"{name}: absent; data=mnist needs it (python -m vidpred.data download {NAME}), "
                         "or debug with data.train_digits=test")
        else:
            lines.append(f"{name}: absent (optional)")
    return lines


FAMILY = FAMILIES.register(DataFamily(
    name=NAME, kind="video", build=build_mnist, download=download, prepare=prepare, verify=verify,
    # sequences are drawn on the fly (the standard test set is memory-mapped)
    geometry=lambda p: Geometry((1, FRAME, FRAME), held_items=0, train_items=int(p["train_size"]))))
