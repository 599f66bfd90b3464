"""BAIR robot pushing (``softmotion30_44k``): TFRecords read without TensorFlow, prepared once.

Each record is one trajectory: for t in 0..29, ``'{t}/image_aux1/encoded'`` holds the raw 64 x 64 x 3
uint8 RGB bytes of frame t. ``prepare`` streams the published ``train/`` and ``test/`` folders (or
the downloaded ``.tar`` itself, without unpacking it) into ``<data_dir>/bair/{train,test}.npy``, uint8
``(N, 30, 3, 64, 64)``, plus ``manifest.json``. Validation is carved from the end of train at load
time.
"""

from __future__ import annotations

import os
import re
import tarfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO

import numpy as np
import torch
from torch.utils.data import Dataset

from vidpred.data.base import DataSplits, Geometry, cap_evenly, check_horizon
from vidpred.data.formats.download import Remote, fetch
from vidpred.data.registry import FAMILIES, DataFamily
from vidpred.data.folders import dataset_dir
from vidpred.data.formats.npy import NpyStream
from vidpred.data.formats.store import atomic_dir, load_npy, read_manifest, verify_manifest, write_manifest
from vidpred.data.windows import Mapped, unit_frames
from vidpred.data.formats.tfrecord import parse_example, read_records
from vidpred.errors import DataError, require

NAME = "bair"
STEPS = 30
FRAME = 64
IMAGE_KEY = "{t}/image_aux1/encoded"
FRAME_BYTES = FRAME * FRAME * 3
URL = "http://rail.eecs.berkeley.edu/datasets/bair_robot_pushing_dataset_v0.tar"
FILE_RE = re.compile(r"(?:^|/)(train|test)/traj_(\d+)_to_(\d+)\.tfrecords$")


def trajectory(record: bytes, name: str, number: int) -> np.ndarray:
    """One record's frames as uint8 ``(30, 3, 64, 64)``."""
    keys = {IMAGE_KEY.format(t=t) for t in range(STEPS)}
    try:
        features = parse_example(record, keys)
    except (ValueError, UnicodeDecodeError) as exc:
        raise DataError(f"{name}: record {number} is not a valid tf.train.Example ({exc})") from exc
    frames = np.empty((STEPS, FRAME, FRAME, 3), dtype=np.uint8)
    for t in range(STEPS):
        key = IMAGE_KEY.format(t=t)
        value = features.get(key)
        if not isinstance(value, list) or len(value) != 1 or len(value[0]) != FRAME_BYTES:
            if value is None:
                found = "missing"
            else:
                found = f"{sum(len(v) for v in value)} bytes" if isinstance(value, list) else "not bytes"
            raise DataError(f"{name}: record {number}: feature {key!r} is {found}, expected {FRAME_BYTES} raw bytes")
        frames[t] = np.frombuffer(value[0], dtype=np.uint8).reshape(FRAME, FRAME, 3)
    return frames.transpose(0, 3, 1, 2)


def _sort_key(split_and_path: tuple[str, str]) -> tuple[str, int]:
    match = FILE_RE.search(split_and_path[1])
    return split_and_path[0], int(match.group(2)) if match else 0


def tfrecord_streams(src: Path) -> Iterator[tuple[str, str, IO[bytes]]]:
    """(split, name, open stream) of every ``{train,test}/traj_*.tfrecords`` under a folder or in a tar."""
    if src.is_file() and tarfile.is_tarfile(src):
        with tarfile.open(src, "r|*") as tf:  # streaming: one pass, no extraction
            for member in tf:
                match = FILE_RE.search(member.name)
                if match and member.isfile():
                    yield match.group(1), f"{src}:{member.name}", tf.extractfile(member)  # type: ignore[misc]
        return
    files = sorted(((m.group(1), str(p)) for p in Path(src).rglob("*.tfrecords")
                    if (m := FILE_RE.search(p.as_posix()))), key=_sort_key)
    for split, path in files:
        with open(path, "rb") as fh:
            yield split, path, fh


def prepare(src: Path, data_dir: str | os.PathLike[str]) -> list[str]:
    """Convert the TFRecords under ``src`` into ``<data_dir>/bair``; one trajectory at a time in memory.

    A tar is read in its own member order, so each row's trajectory number (``A`` of
    ``traj_A_to_B`` plus the record's position) is saved too: loading orders by it, and a folder
    and a tar of the same files give identical splits.
    """
    counts = {"train": 0, "test": 0}
    files = {"train": 0, "test": 0}
    ids: dict[str, list[int]] = {"train": [], "test": []}
    with atomic_dir(dataset_dir(data_dir, NAME)) as tmp:
        streams = {s: NpyStream(tmp / f"{s}.npy", (STEPS, 3, FRAME, FRAME)) for s in counts}
        for split, name, fh in tfrecord_streams(Path(src)):
            first = int(FILE_RE.search(name).group(2))  # type: ignore[union-attr]
            for number, record in enumerate(read_records(fh, name)):
                streams[split].append(trajectory(record, name, number)[None])
                ids[split].append(first + number)
            files[split] += 1
        for split, stream in streams.items():
            stream.close()
            counts[split] = stream.count
            np.save(tmp / f"{split}_ids.npy", np.asarray(ids[split], dtype=np.int64))
        if not counts["train"] or not counts["test"]:
            raise DataError(f"{src}: no {'train' if not counts['train'] else 'test'} trajectories found "
                            "(expected softmotion30_44k/{train,test}/traj_*_to_*.tfrecords)")
        arrays = {key: tmp / f"{key}.npy" for key in ("train", "test", "train_ids", "test_ids")}
        write_manifest(tmp, NAME, arrays,
                       {"files": files, "trajectories": counts, "frame_key": IMAGE_KEY, "layout": "N,T,C,H,W"})
    return [f"bair: {counts['train']} train trajectories from {files['train']} files, "
            f"{counts['test']} test trajectories from {files['test']} files"]


def verify(data_dir: str | os.PathLike[str]) -> list[str]:
    return verify_manifest(dataset_dir(data_dir, NAME), NAME, data_dir)


def download(data_dir: str | os.PathLike[str], mirror: str | None = None) -> list[str]:
    """Fetch the published tar (about 30 GB) and prepare straight from it."""
    archive = fetch(Remote(URL, URL.rsplit("/", 1)[-1]).with_mirror(mirror), dataset_dir(data_dir, "raw"))
    return prepare(archive, data_dir)


class BAIRTrajectories(Dataset):
    """The first ``length`` frames of each selected trajectory, float32 ``(T, 3, 64, 64)`` in [0, 1]."""

    def __init__(self, array: np.ndarray, indices: np.ndarray, length: int) -> None:
        self.array = Mapped(array)
        self.indices = indices
        self.length = length

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, index: int) -> torch.Tensor:
        return unit_frames(self.array.array[int(self.indices[index]), : self.length])


def build_bair(data_dir: str, context: int, horizon: int, val_trajectories: int = 256,
               train_size: int | None = None, val_size: int | None = None,
               test_size: int | None = None) -> DataSplits:
    """Train and test as published; the last ``val_trajectories`` of train (at most a fifth) become
    validation."""
    check_horizon(context, horizon)
    length = context + horizon
    require(length <= STEPS, f"data.context + data.horizon = {length}, but BAIR trajectories have {STEPS} frames")
    folder = dataset_dir(data_dir, NAME)
    read_manifest(folder, NAME, data_dir)
    arrays = {s: load_npy(folder / f"{s}.npy", NAME, data_dir) for s in ("train", "test")}
    for split, array in arrays.items():
        if array.ndim != 5 or array.shape[1:] != (STEPS, 3, FRAME, FRAME):
            raise DataError(f"{folder / f'{split}.npy'}: shape {array.shape}, expected (N, 30, 3, 64, 64); "
                            "prepare the data again")
    # rows in trajectory-number order (a tar may have listed its files in any order)
    order = {s: np.argsort(np.asarray(load_npy(folder / f"{s}_ids.npy", NAME, data_dir, mmap=False)), kind="stable")
             for s in ("train", "test")}
    for split, array in arrays.items():
        if len(order[split]) != len(array):
            raise DataError(f"{folder / f'{split}_ids.npy'}: {len(order[split])} ids for {len(array)} trajectories; "
                            "prepare the data again")
    total = len(arrays["train"])
    require(val_trajectories >= 1, f"data.val_trajectories must be at least 1, got {val_trajectories}")
    require(total >= 2, f"{folder / 'train.npy'}: {total} trajectory, too few to carve a validation split")
    # A small (fabricated or partial) copy keeps at least four fifths of train for training.
    val_trajectories = min(val_trajectories, max(1, total // 5))
    indices = {"train": order["train"][: total - val_trajectories], "val": order["train"][total - val_trajectories:],
               "test": order["test"]}
    sizes = {"train": train_size, "val": val_size, "test": test_size}
    splits = {}
    for split, chosen in indices.items():
        chosen = cap_evenly(chosen, sizes[split])
        splits[split] = BAIRTrajectories(arrays["test" if split == "test" else "train"], chosen, length)
    return DataSplits(name=NAME, kind="video", context=context, horizon=horizon,
                      frame_shape=(3, FRAME, FRAME), **splits)


FAMILY = FAMILIES.register(DataFamily(
    name=NAME, kind="video", build=build_bair, download=download, prepare=prepare, verify=verify,
    geometry=lambda p: Geometry((3, FRAME, FRAME), held_items=0)))  # memory-mapped
