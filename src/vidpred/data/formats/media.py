"""The user's own clips: video files, GIFs, folders of numbered frames and ``.npy`` arrays.

:func:`find_clips` lists the clips under a folder; :func:`read_clip` decodes one into uint8
``(T, C, size, size)`` frames. Every format goes through the same per-frame conversion: a centre
crop to a square (the shorter side; an odd margin leaves the extra pixel at the bottom or right),
an area resize (each output pixel is the mean of the input area it covers, with fractional
weights at the edges of the box, as OpenCV's ``INTER_AREA``), then grey (ITU-R BT.601 luma) or
RGB, rounded to the nearest integer (halves to even). Frames smaller than ``size`` are enlarged
with bilinear interpolation instead (half-pixel centres, as ``F.interpolate(..., "bilinear")``).

Videos are decoded with PyAV (the ``video`` extra), GIFs and frame images with Pillow, ``.npy``
with numpy. Frames are converted one at a time as they are decoded, so only the small frames of
one clip are held in memory. Hidden files and folders (``.name``) are skipped.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from vidpred.data.folders import require_optional
from vidpred.errors import DataError, one_line, require

VIDEO_SUFFIXES = (".mp4", ".avi", ".mov", ".mkv", ".webm")
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
KINDS = ("video", "gif", "frames", "npy")
LUMA = (0.299, 0.587, 0.114)  # ITU-R BT.601
DIGITS = re.compile(r"(\d+)")


@dataclass(frozen=True)
class Clip:
    """One clip: a video, GIF or ``.npy`` file, or a folder of numbered frames."""

    path: Path
    kind: str  # one of KINDS


def file_kind(path: Path) -> str | None:
    """The clip kind of a file from its suffix (any case), or ``None`` for other files."""
    suffix = path.suffix.lower()
    if suffix in VIDEO_SUFFIXES:
        return "video"
    return {".gif": "gif", ".npy": "npy"}.get(suffix)


def natural_key(name: str) -> tuple[Any, ...]:
    """Sort key that orders the numbers in a name by value: ``frame2`` before ``frame10``."""
    return tuple(int(part) if part.isdigit() else part.lower() for part in DIGITS.split(name))


def frame_files(folder: Path) -> list[Path]:
    """The image files directly in ``folder``, in natural order of their names."""
    images = [p for p in folder.iterdir()
              if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES and not p.name.startswith(".")]
    return sorted(images, key=lambda p: natural_key(p.name))


def is_frames_folder(folder: Path) -> bool:
    """At least 2 images directly inside, each with a number in its name."""
    images = frame_files(folder)
    return len(images) >= 2 and all(DIGITS.search(p.stem) for p in images)


def find_clips(src: Path) -> list[Clip]:
    """Every clip under ``src`` (searched recursively), sorted by path; ``src`` may be one clip itself.

    Images count only as frames of a folder of numbered frames (one clip); other images are not clips.
    """
    src = Path(src)
    if not src.exists():
        raise DataError(f"{src}: not found")
    if src.is_file():
        kind = file_kind(src)
        if kind is None:
            raise DataError(f"{src}: not a clip; expected a video ({', '.join(VIDEO_SUFFIXES)}), "
                            ".gif, .npy or a folder of numbered .png/.jpg frames")
        return [Clip(src, kind)]
    if is_frames_folder(src):
        return [Clip(src, "frames")]
    clips = []
    for path in src.rglob("*"):
        if any(part.startswith(".") for part in path.relative_to(src).parts):
            continue  # hidden files and folders, e.g. macOS "._clip.mp4" resource forks
        if path.is_dir():
            if is_frames_folder(path):
                clips.append(Clip(path, "frames"))
        elif (kind := file_kind(path)) is not None:
            clips.append(Clip(path, kind))
    if not clips:
        raise DataError(f"{src}: no clips found (videos {' '.join(VIDEO_SUFFIXES)}, .gif, .npy, "
                        "or folders of at least 2 numbered .png/.jpg frames)")
    return sorted(clips, key=lambda clip: clip.path)


def read_clip(clip: Clip, size: int, channels: int, every: int = 1) -> np.ndarray:
    """The frames of ``clip`` as uint8 ``(T, channels, size, size)``: frames 0, every, 2 * every, ..."""
    require(size >= 1, f"size must be at least 1, got {size}")
    require(channels in (1, 3), f"channels must be 1 (grey) or 3 (RGB), got {channels}")
    require(every >= 1, f"every must be at least 1, got {every}")
    readers = {"video": _video_frames, "gif": _gif_frames, "frames": _folder_frames, "npy": _npy_frames}
    if clip.kind not in readers:
        raise ValueError(f"unknown clip kind {clip.kind!r}; expected one of {KINDS}")
    path = Path(clip.path)
    if not path.exists():
        raise DataError(f"{path}: not found")
    frames = [convert_frame(image, size, channels) for image in readers[clip.kind](path, every)]
    if not frames:
        raise DataError(f"{path}: holds no frame")
    return np.stack(frames)


def convert_frame(image: np.ndarray, size: int, channels: int) -> np.ndarray:
    """One uint8 frame ``(H, W)`` or ``(H, W, 3)`` -> uint8 ``(channels, size, size)``: the shared path."""
    height, width = image.shape[:2]
    side = min(height, width)
    top, left = (height - side) // 2, (width - side) // 2
    square = image[top: top + side, left: left + side]
    planes = square[None] if square.ndim == 2 else square.transpose(2, 0, 1)
    weights = resize_weights(side, size)
    # separable: rows then columns, in float32 (exact for power-of-two ratios of uint8 data)
    small = weights @ planes.astype(np.float32) @ weights.T
    if channels == 1 and len(small) == 3:
        small = luma(small)
    elif channels == 3 and len(small) == 1:
        small = np.repeat(small, 3, axis=0)
    return np.clip(np.rint(small), 0, 255).astype(np.uint8)


def luma(rgb: np.ndarray) -> np.ndarray:
    """BT.601 luma ``(1, h, w)`` float64 of ``(3, h, w)`` RGB, written so that grey (r = g = b) stays exact."""
    r, g, b = rgb.astype(np.float64)  # float64: float32 products could move a value across a rounding half
    return (g + LUMA[0] * (r - g) + LUMA[2] * (b - g))[None]  # = 0.299 r + 0.587 g + 0.114 b


@functools.lru_cache(maxsize=32)
def resize_weights(source: int, size: int) -> np.ndarray:
    """float32 ``(size, source)`` matrix mapping ``source`` samples to ``size``: area down, bilinear up."""
    weights = np.zeros((size, source), dtype=np.float64)
    scale = source / size
    if source >= size:
        for i in range(size):
            start, stop = i * scale, (i + 1) * scale
            for j in range(int(np.floor(start)), min(int(np.ceil(stop)), source)):
                weights[i, j] = min(stop, j + 1) - max(start, j)
        weights /= scale
    else:
        for i in range(size):
            x = min(max((i + 0.5) * scale - 0.5, 0.0), source - 1)
            j = int(np.floor(x))
            frac = x - j
            weights[i, j] += 1.0 - frac
            if frac > 0:
                weights[i, j + 1] += frac
    weights = weights.astype(np.float32)
    weights.flags.writeable = False  # shared by the cache
    return weights


def _video_frames(path: Path, every: int) -> Iterator[np.ndarray]:
    av = require_optional("av")
    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                raise DataError(f"{path}: cannot decode the video (no video stream)")
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"
            listed, decoded = stream.frames, 0  # listed: 0 where the container keeps no count
            for index, frame in enumerate(container.decode(stream)):
                decoded = index + 1
                if index % every == 0:  # every frame is decoded (later ones depend on it), few converted
                    yield frame.to_ndarray(format="rgb24")
    except av.error.FFmpegError as exc:
        raise DataError(f"{path}: cannot decode the video ({one_line(exc)})") from exc
    if decoded < listed:  # an index at the front outlives a cut: the decoder just stops early
        raise DataError(f"{path}: truncated: {decoded} of the {listed} frames its index lists can be decoded "
                        "(an incomplete download or copy?)")


def _pil_errors() -> tuple[type[BaseException], ...]:
    from PIL import Image

    # truncated or corrupt files raise OSError (UnidentifiedImageError is one), some SyntaxError
    return OSError, SyntaxError, ValueError, EOFError, Image.DecompressionBombError


def _pil_array(image: Any) -> np.ndarray:
    """A Pillow image as uint8 ``(H, W)`` (grey modes) or ``(H, W, 3)`` (alpha dropped)."""
    if image.mode == "L":
        return np.asarray(image)
    if image.mode in ("1", "LA", "La"):
        return np.asarray(image.convert("L"))
    if image.mode == "I" or image.mode.startswith("I;16"):  # 16-bit grey PNG
        return np.rint(np.clip(np.asarray(image, dtype=np.float64), 0, 65535) / 257).astype(np.uint8)
    return np.asarray(image.convert("RGB"))


def _gif_frames(path: Path, every: int) -> Iterator[np.ndarray]:
    from PIL import Image, ImageSequence

    try:
        with Image.open(path) as gif:
            for index, frame in enumerate(ImageSequence.Iterator(gif)):
                if index % every == 0:
                    yield np.asarray(frame.convert("RGB"))  # each frame composed over the previous ones
    except _pil_errors() as exc:
        raise DataError(f"{path}: cannot decode the GIF ({one_line(exc)})") from exc


def _folder_frames(folder: Path, every: int) -> Iterator[np.ndarray]:
    from PIL import Image

    files = frame_files(folder)
    if not files:
        raise DataError(f"{folder}: no frames (.png/.jpg/.jpeg images) in the folder")
    first: tuple[Path, tuple[int, int]] | None = None
    for index, path in enumerate(files):
        try:
            with Image.open(path) as image:
                # a clip has one frame size; checked on every file (the header only) before decoding
                if first is None:
                    first = (path, image.size)
                elif image.size != first[1]:
                    raise DataError(f"{path}: frame size {image.size[0]}x{image.size[1]} differs from "
                                    f"{first[1][0]}x{first[1][1]} of {first[0].name}; frames of a clip share one size")
                if index % every == 0:
                    array = _pil_array(image)
        except _pil_errors() as exc:
            raise DataError(f"{path}: cannot decode the frame image ({one_line(exc)})") from exc
        if index % every == 0:
            yield array


def _npy_frames(path: Path, every: int) -> Iterator[np.ndarray]:
    try:
        # memory-mapped: only the frames read are loaded, one at a time
        array = np.load(path, mmap_mode="r", allow_pickle=False)
    except (ValueError, OSError, EOFError) as exc:
        raise DataError(f"{path}: not a readable .npy array ({one_line(exc)})") from exc
    shape = tuple(array.shape)
    if not (array.ndim == 3 or (array.ndim == 4 and shape[3] in (1, 3, 4))):
        raise DataError(f"{path}: array of shape {shape}; expected frames (T, H, W) or (T, H, W, C) with C 1, 3 or 4")
    if array.dtype != np.uint8 and not np.issubdtype(array.dtype, np.floating):
        raise DataError(f"{path}: array of dtype {array.dtype}; expected uint8, or float with values in [0, 1]")
    if min(shape[1:3]) == 0:
        raise DataError(f"{path}: frames of shape {shape[1:3]} hold no pixel")
    for index in range(0, shape[0], every):
        frame = np.asarray(array[index])
        if frame.ndim == 3:
            frame = frame[..., 0] if frame.shape[2] == 1 else frame[..., :3]  # drop alpha
        if frame.dtype != np.uint8:
            if not np.isfinite(frame).all():
                raise DataError(f"{path}: frame {index} holds non-finite values; float frames must lie in [0, 1]")
            low, high = float(frame.min()), float(frame.max())
            if low < 0 or high > 1:
                raise DataError(f"{path}: frame {index} has values in [{low:g}, {high:g}]; float frames must lie "
                                "in [0, 1] (uint8 frames in 0-255)")
            frame = np.rint(frame.astype(np.float64) * 255).astype(np.uint8)
        yield frame
