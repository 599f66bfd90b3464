"""``data=videos``: your own clips as a data set.

    python -m vidpred.data prepare videos --src ~/clips [--name lab] [data.size=96 data.channels=3 data.every=2]
    python -m vidpred.run model=convlstm data=videos [data.set=lab]

``prepare`` reads every clip under ``--src``, recursively (video files, GIFs, folders of numbered
frames, ``.npy`` arrays: :mod:`vidpred.data.formats.media`), converts its frames to the configured geometry
(``data.size`` square, ``data.channels`` 1 or 3, every ``data.every``-th frame) and streams them, one
clip in memory at a time, into ``<data_dir>/<set>/frames.npy`` (uint8 ``(F, C, S, S)``), with
``clips.npy`` (first frame and length of each clip) and ``manifest.json`` (the geometry, each clip's
file and split folder, what was skipped and why, checksums). Unreadable clips and clips shorter than
``context + horizon`` frames are listed and skipped.

Splits are by clip, never by frame: clips under ``train/``, ``val/`` and ``test/`` folders of
``--src`` go there; the others are split by file name (ordered by a hash of their path, so adding a
clip never moves another) into ``data.val_fraction`` and ``data.test_fraction``. A run reads windows
of ``context + horizon`` frames every ``data.stride`` frames inside each clip; a run whose geometry
differs from the prepared one is told to prepare again.
"""

from __future__ import annotations

import hashlib
import logging
import os
from pathlib import Path
from typing import Any

import numpy as np

from vidpred.data.base import DataSplits, Geometry, cap_evenly, check_horizon
from vidpred.data.formats.media import find_clips, read_clip
from vidpred.data.registry import FAMILIES, DataFamily, settings_text
from vidpred.data.folders import dataset_dir
from vidpred.data.formats.npy import NpyStream
from vidpred.data.formats.store import (atomic_dir, load_npy, manifest_if_prepared, read_manifest, sha256_file,
                                        verify_manifest, write_manifest)
from vidpred.data.windows import ClipWindows
from vidpred.errors import DataError, UserError, require

log = logging.getLogger("vidpred")

NAME = "videos"
SPLITS = ("train", "val", "test")
GEOMETRY = ("size", "channels", "every")


def set_folder(data_dir: str | os.PathLike[str], set_name: str | None) -> Path:
    return dataset_dir(data_dir, set_name or NAME)


def check_geometry(size: int, channels: int, every: int) -> None:
    require(size >= 4, f"data.size must be at least 4 pixels, got {size}")
    require(channels in (1, 3), f"data.channels must be 1 or 3, got {channels}")
    require(every >= 1, f"data.every must be at least 1, got {every}")


def split_folder(relative: Path) -> str | None:
    """``train``/``val``/``test`` when the clip lies under a folder of that name at the top of --src."""
    top = relative.parts[0] if len(relative.parts) > 1 else None
    return top if top in SPLITS else None


def prepare(src: Path, data_dir: str | os.PathLike[str], set: str | None = None,  # noqa: A002
            size: int = 64, channels: int = 1, every: int = 1, context: int = 10, horizon: int = 10,
            stride: int = 10, val_fraction: float = 0.1, test_fraction: float = 0.1,
            settings: dict[str, Any] | None = None) -> list[str]:
    """Convert every clip under ``src`` into ``<data_dir>/<set>``; one clip in memory at a time. The
    manifest lists which clips go to which split (with ``val_fraction`` and ``test_fraction``) and keeps
    ``settings`` (the keys the user gave) with the geometry as the set's defaults."""
    check_geometry(size, channels, every)
    check_horizon(context, horizon)
    require(stride >= 1, f"data.stride must be at least 1, got {stride}")
    src = Path(src)
    root = src if src.is_dir() else src.parent
    clips = find_clips(src)
    kept: list[dict[str, Any]] = []
    skipped: list[str] = []
    rows = []
    with atomic_dir(set_folder(data_dir, set)) as tmp:
        stream = NpyStream(tmp / "frames.npy", (channels, size, size))
        for clip in clips:
            relative = clip.path.relative_to(root)
            try:
                frames = read_clip(clip, size, channels, every)
            except UserError as exc:  # DataError (it names the file), or a missing decoder: listed, skipped
                skipped.append(str(exc) if str(clip.path) in str(exc) else f"{relative}: {exc}")
                continue
            if len(frames) < context + horizon:
                skipped.append(f"{relative}: {len(frames)} frames (every {every}), fewer than data.context + "
                               f"data.horizon = {context + horizon}")
                continue
            rows.append((stream.count, len(frames)))
            kept.append({"file": str(relative), "split": split_folder(relative), "frames": len(frames),
                         "sha256": sha256_file(clip.path) if clip.path.is_file() else None})
            stream.append(frames)
        stream.close()
        if not kept:
            raise DataError(f"{src}: no usable clip among {len(clips)} ({'; '.join(skipped[:3])}"
                            f"{' ...' if len(skipped) > 3 else ''})")
        np.save(tmp / "clips.npy", np.asarray(rows, dtype=np.int64).reshape(-1, 2))
        assigned = assign_splits(kept, val_fraction, test_fraction)
        splits = {split: [c["file"] for c, owner in zip(kept, assigned) if owner == split] for split in SPLITS}
        write_manifest(tmp, NAME, {"frames": tmp / "frames.npy", "clips": tmp / "clips.npy"},
                       {"size": size, "channels": channels, "every": every, "clips": kept, "skipped": skipped,
                        "source": str(src.resolve()), "splits": splits,
                        "split_by": {"val_fraction": val_fraction, "test_fraction": test_fraction},
                        "settings": {"size": size, "channels": channels, "every": every, **(settings or {})}})
    folders = sorted({c["split"] for c in kept if c["split"]})
    length = context + horizon
    windows = {split: sum(max(0, (c["frames"] - length) // stride + 1) for c, owner in zip(kept, assigned)
                          if owner == split) for split in SPLITS}
    lines = [f"videos: {len(kept)} clips -> {sum(c['frames'] for c in kept)} frames of {channels} x {size} x {size} "
             f"(every {every}) in {set_folder(data_dir, set)}"
             + (f"; split by the folders {', '.join(folders)}" if folders else "; split by file name"),
             *(f"skipped {line}" for line in skipped),
             *split_lines(splits, windows, length, stride)]
    lines += [f"warning: no {split} window of {length} frames: add clips, put some under a {split}/ folder, or "
              "shorten data.context + data.horizon" for split in SPLITS if windows[split] == 0]
    if settings:
        lines.append(f"kept as the set's defaults for every run, show and predict: "
                     f"{settings_text(settings)}")
    return lines


def split_lines(splits: dict[str, list[str]], windows: dict[str, int] | None = None, length: int = 0,
                stride: int = 0) -> list[str]:
    """Per split: how many clips (and windows), and which clips."""
    lines = []
    for split, files in splits.items():
        shown = ", ".join(files[:8]) + (f" and {len(files) - 8} more" if len(files) > 8 else "")
        count = (f", {windows[split]:,} windows of {length} frames every {stride}" if windows is not None else "")
        lines.append(f"{split}: {len(files)} clip{'s' if len(files) != 1 else ''}{count}: {shown or '-'}")
    return lines


def verify(data_dir: str | os.PathLike[str], set: str | None = None) -> list[str]:  # noqa: A002
    """The arrays against the manifest; then which clips go to which split, and the set's defaults."""
    folder = set_folder(data_dir, set)
    lines = verify_manifest(folder, NAME, data_dir, set_name=set)
    found = read_manifest(folder, NAME, data_dir, set_name=set)
    if "splits" in found:
        by = found.get("split_by", {})
        lines.append(f"splits (data.val_fraction {by.get('val_fraction')}, data.test_fraction "
                     f"{by.get('test_fraction')}; a clip under a train/, val/ or test/ folder of the source goes there):")
        lines += split_lines(found["splits"])
    if found.get("settings"):
        lines.append("prepared with (the set's defaults): "
                     + settings_text(found["settings"]))
    return lines


def manifest(data_dir: str | os.PathLike[str], set: str | None = None) -> dict[str, Any] | None:  # noqa: A002
    return manifest_if_prepared(set_folder(data_dir, set))


def assign_splits(clips: list[dict[str, Any]], val_fraction: float, test_fraction: float) -> list[str]:
    """Each clip's split: its folder's, else by the order of a hash of its file name (stable when clips
    are added), at least one clip per split where there are enough."""
    require(0 <= val_fraction < 1 and 0 <= test_fraction < 1 and val_fraction + test_fraction < 1,
            f"data.val_fraction and data.test_fraction must be in [0, 1) and sum below 1, "
            f"got {val_fraction} and {test_fraction}")
    splits = [c["split"] for c in clips]
    free = sorted((i for i, s in enumerate(splits) if s is None),
                  key=lambda i: hashlib.sha256(clips[i]["file"].encode()).hexdigest())
    taken = set(splits)
    counts = {}
    for split, fraction in (("test", test_fraction), ("val", val_fraction)):
        wanted = round(len(free) * fraction)
        if fraction > 0 and split not in taken and len(free) >= 3:
            wanted = max(1, wanted)  # a split that no folder provides gets a clip of its own
        counts[split] = wanted
    for position, index in enumerate(free):
        splits[index] = ("test" if position < counts["test"] else
                         "val" if position < counts["test"] + counts["val"] else "train")
    return splits  # type: ignore[return-value]


def build_videos(data_dir: str, context: int, horizon: int, set: str | None = None,  # noqa: A002
                 size: int = 64, channels: int = 1, every: int = 1, stride: int = 10,
                 val_fraction: float = 0.1, test_fraction: float = 0.1, train_size: int | None = None,
                 val_size: int | None = None, test_size: int | None = None) -> DataSplits:
    """The prepared set ``<data_dir>/<set>`` (default ``videos``), split by clip."""
    check_horizon(context, horizon)
    check_geometry(size, channels, every)
    require(stride >= 1, f"data.stride must be at least 1, got {stride}")
    folder = set_folder(data_dir, set)
    manifest = read_manifest(folder, NAME, data_dir, set_name=set)
    asked = {"size": size, "channels": channels, "every": every}
    prepared = {key: manifest.get(key) for key in GEOMETRY}
    if asked != prepared:
        differ = ", ".join(f"data.{k}={asked[k]} (prepared: {prepared[k]})" for k in GEOMETRY if asked[k] != prepared[k])
        raise DataError(f"{folder} was prepared with other frames than this run asks for: {differ}; prepare it "
                        f"again: python -m vidpred.data prepare videos --src PATH"
                        f"{f' --name {set}' if set else ''} data.size={size} data.channels={channels} data.every={every}")
    frames = load_npy(folder / "frames.npy", NAME, data_dir)
    clips = np.asarray(load_npy(folder / "clips.npy", NAME, data_dir, mmap=False))
    if frames.ndim != 4 or frames.shape[1:] != (channels, size, size) or len(clips) != len(manifest["clips"]):
        raise DataError(f"{folder}: prepared arrays do not match the manifest; prepare the set again")
    length = context + horizon
    chosen = assign_splits(manifest["clips"], val_fraction, test_fraction)
    sizes = {"train": train_size, "val": val_size, "test": test_size}
    splits = {}
    for split in SPLITS:
        starts = [np.arange(start, start + count - length + 1, stride)
                  for (start, count), owner in zip(clips, chosen) if owner == split and count >= length]
        picked = cap_evenly(np.concatenate(starts) if starts else np.empty(0, dtype=np.int64), sizes[split])
        if len(picked) == 0:
            raise DataError(f"videos: no {split} window of {length} frames in {folder} "
                            f"({sum(o == split for o in chosen)} {split} clips); add clips, put some under a "
                            f"{split}/ folder, or shorten data.context + data.horizon")
        splits[split] = ClipWindows(frames, picked, length, clips, [c["file"] for c in manifest["clips"]])
    log.info("videos %s: clips per split: %s", folder.name,
             ", ".join(f"{split} {sum(o == split for o in chosen)}" for split in SPLITS))
    return DataSplits(name=NAME, kind="video", context=context, horizon=horizon,
                      frame_shape=(channels, size, size), meta={"size": size, "channels": channels, "every": every},
                      **splits)


FAMILY = FAMILIES.register(DataFamily(
    name=NAME, kind="video", build=build_videos, prepare=prepare, verify=verify, manifest=manifest,
    geometry=lambda p: Geometry((int(p["channels"]), int(p["size"]), int(p["size"])), held_items=0)))  # memory-mapped
