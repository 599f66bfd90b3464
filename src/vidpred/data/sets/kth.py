"""KTH human actions: ``.avi`` videos decoded once into 64 x 64 grayscale uint8 frames.

Raw layout: ``<action>/personNN_<action>_dK_uncomp.avi`` (6 actions, persons 01-25, scenarios
d1-d4; ``person13_handclapping_d3`` does not exist) and ``00sequences.txt``, which cuts each video
into sub-sequences by 1-based inclusive frame ranges (tabs and spaces vary, some lines carry three
ranges instead of four). ``prepare`` writes ``<data_dir>/kth/frames.npy`` (all frames, uint8
``(F, 64, 64)``), ``clips.npy`` (one row per sub-sequence: person, action, scenario, first frame,
length) and ``manifest.json``. Splits are chosen at load time by person, so one prepared copy
serves every split convention.
"""

from __future__ import annotations

import logging
import os
import re
from pathlib import Path

import numpy as np
import torch

from vidpred.data.base import DataSplits, Geometry, cap_evenly, check_horizon
from vidpred.data.formats.download import Remote, extract, fetch
from vidpred.data.registry import FAMILIES, DataFamily
from vidpred.data.folders import dataset_dir, require_optional
from vidpred.data.formats.npy import NpyStream
from vidpred.data.formats.store import (atomic_dir, load_npy, read_manifest, sha256_file, verify_manifest,
                                        write_manifest)
from vidpred.data.windows import ClipWindows
from vidpred.errors import DataError, require

log = logging.getLogger("vidpred")

NAME = "kth"
ACTIONS = ("boxing", "handclapping", "handwaving", "jogging", "running", "walking")
FRAME = 64
SEQUENCES = "00sequences.txt"
VIDEO_RE = re.compile(r"person(\d\d)_([a-z]+)_d(\d)_uncomp\.avi$")
LINE_RE = re.compile(r"^\s*(person\d\d_[a-z]+_d\d)\s+frames\s+(.+?)\s*$")
RANGE_RE = re.compile(r"(\d+)\s*-\s*(\d+)")
CLIP_COLUMNS = ("person", "action", "scenario", "start", "length")
BASE_URL = "http://www.csc.kth.se/cvap/actions"


def parse_sequences(text: str, source: str = SEQUENCES) -> dict[str, list[tuple[int, int]]]:
    """Video stem -> 0-based half-open frame ranges, from the 1-based inclusive ranges of the file."""
    out: dict[str, list[tuple[int, int]]] = {}
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        match = LINE_RE.match(line)
        if match is None:
            continue  # header and comment lines
        ranges = [(int(a) - 1, int(b)) for a, b in RANGE_RE.findall(match.group(2))]
        if not ranges or any(a < 0 or b <= a for a, b in ranges):
            raise DataError(f"{source}: line {number}: cannot read frame ranges from {match.group(2)!r}")
        out[match.group(1)] = ranges
    return out


def decode_video(path: Path) -> np.ndarray:
    """All frames of one video as uint8 ``(n, 64, 64)`` grayscale (area-averaged resize)."""
    av = require_optional("av")
    frames = []
    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                raise DataError(f"{path}: cannot decode the video (no video stream)")
            for frame in container.decode(container.streams.video[0]):
                small = frame.reformat(width=FRAME, height=FRAME, format="gray", interpolation="AREA")
                frames.append(small.to_ndarray())
    except av.error.FFmpegError as exc:
        raise DataError(f"{path}: cannot decode the video ({' '.join(str(exc).split())})") from exc
    if not frames:
        raise DataError(f"{path}: the video holds no decodable frame")
    return np.stack(frames).astype(np.uint8, copy=False)


def find_videos(src: Path) -> list[Path]:
    videos = sorted(p for p in src.rglob("*.avi") if VIDEO_RE.search(p.name))
    if not videos:
        raise DataError(f"{src}: no KTH videos (personNN_<action>_dK_uncomp.avi) found")
    return videos


def prepare(src: Path, data_dir: str | os.PathLike[str]) -> list[str]:
    """Decode every video under ``src`` into ``<data_dir>/kth``; one video at a time in memory."""
    videos = find_videos(Path(src))
    seq_files = sorted(Path(src).rglob(SEQUENCES))
    sequences = parse_sequences(seq_files[0].read_text(), str(seq_files[0])) if seq_files else {}
    clips, whole, sources = [], [], {}
    with atomic_dir(dataset_dir(data_dir, NAME)) as tmp:
        stream = NpyStream(tmp / "frames.npy", (FRAME, FRAME))
        for number, path in enumerate(videos, 1):
            person, action, scenario = VIDEO_RE.search(path.name).groups()  # type: ignore[union-attr]
            if action not in ACTIONS:
                raise DataError(f"{path}: unknown action {action!r}")
            frames = decode_video(path)
            stem = path.name.removesuffix("_uncomp.avi")
            ranges = sequences.get(stem)
            if ranges is None:
                whole.append(stem)
                ranges = [(0, len(frames))]
            for a, b in ranges:
                b = min(b, len(frames))  # the file's last range can run past the decoded frames
                if b > a:
                    clips.append((int(person), ACTIONS.index(action), int(scenario), stream.count + a, b - a))
            stream.append(frames)
            sources[str(path.relative_to(src))] = sha256_file(path)
            if number % 50 == 0:
                log.info("kth: %d / %d videos", number, len(videos))
        stream.close()
        np.save(tmp / "clips.npy", np.asarray(clips, dtype=np.int64).reshape(-1, len(CLIP_COLUMNS)))
        listed_missing = sorted(set(sequences) - {p.name.removesuffix("_uncomp.avi") for p in videos})
        manifest = write_manifest(tmp, NAME, {"frames": tmp / "frames.npy", "clips": tmp / "clips.npy"}, {
            "clip_columns": list(CLIP_COLUMNS), "actions": list(ACTIONS), "videos": len(videos),
            "clips": len(clips), "sequences_file": bool(seq_files), "videos_without_ranges": whole,
            "listed_but_missing": listed_missing, "sources_sha256": sources})
    return [f"kth: {len(videos)} videos -> {manifest['arrays']['frames']['shape'][0]} frames in {len(clips)} clips",
            *(f"listed in {SEQUENCES} but absent: {stem}" for stem in listed_missing),
            *(f"not in {SEQUENCES}, kept whole: {stem}" for stem in whole if seq_files)]


def verify(data_dir: str | os.PathLike[str]) -> list[str]:
    return verify_manifest(dataset_dir(data_dir, NAME), NAME, data_dir)


def download(data_dir: str | os.PathLike[str], mirror: str | None = None) -> list[str]:
    """Fetch the six action zips and ``00sequences.txt``, unpack them and prepare."""
    raw = dataset_dir(data_dir, "raw") / NAME
    for action in ACTIONS:
        archive = fetch(Remote(f"{BASE_URL}/{action}.zip", f"{action}.zip").with_mirror(mirror), raw)
        if not (raw / action).is_dir():
            extract(archive, raw / action)
    fetch(Remote(f"{BASE_URL}/{SEQUENCES}", SEQUENCES).with_mirror(mirror), raw)
    return prepare(raw, data_dir)


class KTHClips(ClipWindows):
    """Windows of ``length`` frames inside the clips, as float32 ``(T, 1, 64, 64)`` in [0, 1]
    (KTH stores grey frames without a channel axis)."""

    def __getitem__(self, index: int) -> torch.Tensor:
        return super().__getitem__(index).unsqueeze(1)


def window_starts(clips: np.ndarray, length: int, stride: int) -> np.ndarray:
    """First frame of every window of ``length`` frames inside each clip, ``stride`` apart."""
    starts = [np.arange(start, start + size - length + 1, stride) for start, size in clips[:, 3:5] if size >= length]
    return np.concatenate(starts) if starts else np.empty(0, dtype=np.int64)


def build_kth(data_dir: str, context: int, horizon: int, train_persons: list[int], val_persons: list[int],
              test_persons: list[int], actions: list[str] | None = None, stride: int = 10,
              train_size: int | None = None, val_size: int | None = None,
              test_size: int | None = None) -> DataSplits:
    """Splits by person (validation persons are taken out of the training persons)."""
    check_horizon(context, horizon)
    require(stride >= 1, f"data.stride must be at least 1, got {stride}")
    require(not set(val_persons) - set(train_persons),
            f"data.val_persons {sorted(set(val_persons) - set(train_persons))} are not in data.train_persons")
    require(not set(train_persons) & set(test_persons),
            f"persons {sorted(set(train_persons) & set(test_persons))} are in both train and test")
    unknown = sorted(set(actions or ()) - set(ACTIONS))
    require(not unknown, f"unknown KTH actions {unknown}; choose from {', '.join(ACTIONS)}")
    folder = dataset_dir(data_dir, NAME)
    read_manifest(folder, NAME, data_dir)
    frames = load_npy(folder / "frames.npy", NAME, data_dir)
    clips = np.asarray(load_npy(folder / "clips.npy", NAME, data_dir, mmap=False))
    if frames.ndim != 3 or frames.shape[1:] != (FRAME, FRAME) or clips.ndim != 2 or clips.shape[1] != len(CLIP_COLUMNS):
        raise DataError(f"{folder}: prepared arrays have unexpected shapes {frames.shape}, {clips.shape}; "
                        "prepare the data again")
    if actions:
        clips = clips[np.isin(clips[:, 1], [ACTIONS.index(a) for a in actions])]
    length = context + horizon
    persons = {"train": sorted(set(train_persons) - set(val_persons)), "val": list(val_persons),
               "test": list(test_persons)}
    sizes = {"train": train_size, "val": val_size, "test": test_size}
    splits = {}
    for split, members in persons.items():
        starts = cap_evenly(window_starts(clips[np.isin(clips[:, 0], members)], length, stride), sizes[split])
        if len(starts) == 0:
            raise DataError(f"kth: no {split} window of {length} frames for persons {members}; "
                            "check data.*_persons or shorten data.context + data.horizon")
        splits[split] = KTHClips(frames, starts, length)
    return DataSplits(name=NAME, kind="video", context=context, horizon=horizon,
                      frame_shape=(1, FRAME, FRAME), **splits)


FAMILY = FAMILIES.register(DataFamily(
    name=NAME, kind="video", build=build_kth, download=download, prepare=prepare, verify=verify,
    geometry=lambda p: Geometry((1, FRAME, FRAME), held_items=0)))  # memory-mapped
