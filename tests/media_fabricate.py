"""Tiny clips in every format :mod:`vidpred.data.media` reads, and an independent reference of its
frame conversion (block means, so only for sizes that divide the cropped side)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

BACKGROUND = (30, 30, 30)
SQUARE = (230, 210, 60)
LEFT_MARGIN = (230, 20, 20)    # red: must be cropped away
RIGHT_MARGIN = (20, 20, 230)   # blue: must be cropped away
# encoders to try per suffix, best first (what this test writes, not what the reader needs)
ENCODERS = {".mp4": ("libx264", "mpeg4"), ".avi": ("mpeg4",), ".mov": ("mpeg4", "libx264"),
            ".mkv": ("ffv1", "libx264", "mpeg4"), ".webm": ("libvpx-vp9", "libvpx")}


def square_scene(count: int, height: int = 64, width: int = 96, margin: int = 16, side: int = 16) -> np.ndarray:
    """RGB uint8 ``(count, height, width, 3)``: a bright square stepping right on a dark field, with
    coloured ``margin``-wide strips on the left and right that a centre crop to ``height`` removes."""
    frames = np.empty((count, height, width, 3), dtype=np.uint8)
    frames[:] = BACKGROUND
    frames[:, :, :margin] = LEFT_MARGIN
    frames[:, :, width - margin:] = RIGHT_MARGIN
    left = (width - height) // 2
    for t in range(count):
        x = left + 8 + 4 * t
        frames[t, 16:16 + side, x:x + side] = SQUARE
    return frames


def random_frames(shape: tuple[int, ...], seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, shape, dtype=np.uint8)


def reference(frames: np.ndarray, size: int, channels: int) -> np.ndarray:
    """Centre crop, block-mean resize, BT.601 luma or grey repeated, rounded: uint8 ``(T, C, size, size)``."""
    frames = np.asarray(frames, dtype=np.float64)
    if frames.ndim == 3:
        frames = frames[..., None]
    count, height, width, depth = frames.shape
    side = min(height, width)
    assert side % size == 0, "the reference handles whole blocks only"
    top, left = (height - side) // 2, (width - side) // 2
    crop = frames[:, top:top + side, left:left + side]
    block = side // size
    small = crop.reshape(count, size, block, size, block, depth).mean(axis=(2, 4)).transpose(0, 3, 1, 2)
    if channels == 1 and depth == 3:
        # 0.299 r + 0.587 g + 0.114 b, in the form that keeps grey exact (as the module computes it)
        r, g, b = small[:, 0:1], small[:, 1:2], small[:, 2:3]
        small = g + 0.299 * (r - g) + 0.114 * (b - g)
    elif channels == 3 and depth == 1:
        small = np.repeat(small, 3, axis=1)
    return np.rint(small).astype(np.uint8)


def pick_encoder(suffix: str) -> str | None:
    """The first encoder of :data:`ENCODERS` that this PyAV build can write, else ``None``."""
    import av

    for name in ENCODERS[suffix]:
        if name in av.codecs_available:
            try:
                av.codec.Codec(name, "w")
            except Exception:  # noqa: BLE001 - a decoder of that name without its encoder
                continue
            return name
    return None


def write_video(path: Path, frames: np.ndarray, codec: str, fps: int = 10) -> Path:
    """RGB uint8 ``(n, h, w, 3)`` frames (h, w even) as a yuv420p video; the container follows the suffix."""
    import av

    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), "w") as container:
        stream = container.add_stream(codec, rate=fps)
        stream.width, stream.height = frames.shape[2], frames.shape[1]
        stream.pix_fmt = "yuv420p"
        for image in frames:
            container.mux(stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")))
        container.mux(stream.encode())
    return path


def write_gif(path: Path, frames: np.ndarray) -> Path:
    """Grey ``(n, h, w)`` or RGB ``(n, h, w, 3)`` uint8 frames as a lossless GIF (at most 256 colours
    in all; consecutive frames must differ, or Pillow merges them)."""
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    if frames.ndim == 3:
        images = [Image.fromarray(f) for f in frames]
    else:
        # one explicit palette for all frames: no quantisation, no dithering
        colours, index = np.unique(frames.reshape(-1, 3), axis=0, return_inverse=True)
        assert len(colours) <= 256
        palette = colours.astype(np.uint8).tobytes()
        images = []
        for plane in index.reshape(frames.shape[:3]).astype(np.uint8):
            image = Image.frombytes("P", (plane.shape[1], plane.shape[0]), plane.tobytes())
            image.putpalette(palette)
            images.append(image)
    images[0].save(path, save_all=True, append_images=images[1:], duration=100, loop=0)
    return path


def write_frames(folder: Path, frames: np.ndarray, suffix: str = ".png", names: list[str] | None = None,
                 **save: object) -> Path:
    """One image per frame, ``frame<k><suffix>`` with k from 1 unless ``names`` (stems) are given."""
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    names = names or [f"frame{k}" for k in range(1, len(frames) + 1)]
    for name, frame in zip(names, frames):
        Image.fromarray(frame).save(folder / f"{name}{suffix}", **save)
    return folder
