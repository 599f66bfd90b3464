"""Tiny clips in every format :mod:`vidpred.data.formats.media` reads, and an independent reference of its
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


def photograph(seed: int = 0, height: int = 180, width: int = 240) -> np.ndarray:
    """A synthetic photograph, RGB uint8: a graded sky, hills, a few bright round objects."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width]
    image = np.zeros((height, width, 3))
    image[..., 2] = 0.5 + 0.5 * (1 - yy / height)
    image[..., 1] = 0.3 + 0.2 * np.sin(xx / (width / 14))
    image[yy > height * 0.55 + height / 9 * np.sin(xx / (width / 8) + seed)] = [0.2, 0.55, 0.2]
    for _ in range(6):
        cy, cx, r = rng.integers(10, height - 10), rng.integers(10, width - 10), rng.integers(height // 30, height // 10)
        image[(yy - cy) ** 2 + (xx - cx) ** 2 < r * r] = rng.uniform(0.4, 1.0, 3)
    return (image.clip(0, 1) * 255).astype(np.uint8)


def pan_and_zoom(image: np.ndarray, frames: int, height: int = 48, width: int = 48, seed: int = 0) -> np.ndarray:
    """A clip as a camera pans across a photograph while zooming in: RGB uint8 ``(frames, height, width, 3)``."""
    rng = np.random.default_rng(seed)
    rows, cols = image.shape[:2]
    x0, y0 = rng.uniform(0, cols * 0.2), rng.uniform(0, rows * 0.2)
    out = np.empty((frames, height, width, 3), dtype=np.uint8)
    for t in range(frames):
        zoom = 0.75 - 0.3 * t / frames                  # the window shrinks: zooming in
        h, w = rows * zoom, rows * zoom * width / height
        x, y = x0 + (cols - w - x0) * 0.5 * t / frames, y0 + 0.1 * rows * t / frames  # panning right and down
        ys = np.clip((y + np.linspace(0, h, height)).astype(int), 0, rows - 1)
        xs = np.clip((x + np.linspace(0, w, width)).astype(int), 0, cols - 1)
        out[t] = image[ys][:, xs]
    return out


def fabricate_pans(src: Path, frames: int = 36, height: int = 48, width: int = 48, counts: tuple[int, int, int] = (3, 2, 2),
                   first: int = 0) -> list[str]:
    """Clips panned and zoomed over photographs: ``counts`` mp4 files (harbourK.mp4), GIFs (marketK.gif)
    and folders of PNG frames (streetK/frame1.png ...); returns their names under ``src``."""
    from PIL import Image

    names = []
    for k in range(first, first + counts[0]):
        write_video(src / f"harbour{k}.mp4", pan_and_zoom(photograph(k, 3 * height, 3 * width), frames, height, width, k),
                    pick_encoder(".mp4"))
        names.append(f"harbour{k}.mp4")
    for k in range(first, first + counts[1]):
        clip = pan_and_zoom(photograph(100 + k, 3 * height, 3 * width), frames, height, width, 100 + k)
        images = [Image.fromarray(f).quantize(64) for f in clip]  # a GIF holds a palette of colours
        (src / f"market{k}.gif").parent.mkdir(parents=True, exist_ok=True)
        images[0].save(src / f"market{k}.gif", save_all=True, append_images=images[1:], duration=80, loop=0)
        names.append(f"market{k}.gif")
    for k in range(first, first + counts[2]):
        clip = pan_and_zoom(photograph(200 + k, 3 * height, 3 * width), frames, height, width, 200 + k)
        write_frames(src / f"street{k}", clip, ".png")
        names.append(f"street{k}")
    return names
