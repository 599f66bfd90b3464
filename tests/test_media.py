"""User clips (vidpred.data.formats.media): finding them, decoding every format into (T, C, size, size),
the shared centre crop + area resize, and one-line errors naming the file."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from helpers.media_fabricate import (BACKGROUND, ENCODERS, LEFT_MARGIN, RIGHT_MARGIN, SQUARE, pick_encoder,
                                     random_frames, reference, square_scene, write_frames, write_gif, write_video)
from vidpred.data.formats.media import Clip, find_clips, frame_files, read_clip, resize_weights
from vidpred.errors import ConfigError, DataError, UserError

COMBOS = [(16, 1), (16, 3), (32, 1), (32, 3)]  # (size, channels)
# yuv420p halves the colour resolution: RGB pixels at the square's edges are off by up to ~22 with
# this FFmpeg, grey by up to 4; a margin colour left in the crop would be off by ~200
VIDEO_TOL = 32


def luma(rgb: tuple[int, int, int]) -> float:
    return 0.299 * rgb[0] + 0.587 * rgb[1] + 0.114 * rgb[2]


def assert_exact(clip: Clip, source: np.ndarray) -> None:
    """Lossless formats: every size / channel combination equals the reference; every=2 keeps frames 0, 2, ..."""
    for size, channels in COMBOS:
        out = read_clip(clip, size, channels)
        assert out.dtype == np.uint8 and out.shape == (len(source), channels, size, size)
        np.testing.assert_array_equal(out, reference(source, size, channels))
    halved = read_clip(clip, 16, 3, every=2)
    assert halved.shape == ((len(source) + 1) // 2, 3, 16, 16)
    np.testing.assert_array_equal(halved, reference(source[::2], 16, 3))


def data_error(path: Path, clip: Clip, match: str) -> None:
    with pytest.raises(DataError, match=match) as info:
        read_clip(clip, 16, 1)
    assert str(path) in str(info.value) and "\n" not in str(info.value)


def test_find_clips_walks_the_tree(tmp_path: Path) -> None:
    for name in ("b.mp4", "A.MOV", "sub/deep/c.webm", "sub/x.avi", "sub/y.mkv", "anim.gif", "arr.npy",
                 ".hidden.mp4", "._c.mp4", ".cache/d.mp4", "notes.txt", "lonely/1.png"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(b"x")
    tiny = random_frames((3, 4, 4))
    write_frames(tmp_path / "shots", tiny)                              # a clip: numbered frames
    write_frames(tmp_path / "sub" / "jpgs", tiny, ".JPG")               # suffix in any case
    write_frames(tmp_path / "photos", tiny[:2], names=["cat", "dog"])   # no numbers: not a clip
    (tmp_path / "empty").mkdir()
    found = find_clips(tmp_path)
    assert [(c.path.relative_to(tmp_path).as_posix(), c.kind) for c in found] == [
        ("A.MOV", "video"), ("anim.gif", "gif"), ("arr.npy", "npy"), ("b.mp4", "video"), ("shots", "frames"),
        ("sub/deep/c.webm", "video"), ("sub/jpgs", "frames"), ("sub/x.avi", "video"), ("sub/y.mkv", "video")]
    # a single file or a frames folder is itself the clip
    assert find_clips(tmp_path / "sub" / "x.avi") == [Clip(tmp_path / "sub" / "x.avi", "video")]
    assert find_clips(tmp_path / "shots") == [Clip(tmp_path / "shots", "frames")]
    for bad, match in ((tmp_path / "empty", "no clips found"), (tmp_path / "notes.txt", "not a clip"),
                       (tmp_path / "absent", "not found")):
        with pytest.raises(DataError, match=match) as info:
            find_clips(bad)
        assert str(bad) in str(info.value)


def test_frames_sort_naturally(tmp_path: Path) -> None:
    folder = tmp_path / "clip"
    numbers = [10, 2, 1, 33, 9]
    # frame k is a flat grey image of value k, so the decoded order shows the sort
    write_frames(folder, np.stack([np.full((8, 8), k, np.uint8) for k in numbers]),
                 names=[f"frame{k}" for k in numbers])
    assert [p.name for p in frame_files(folder)] == ["frame1.png", "frame2.png", "frame9.png", "frame10.png",
                                                     "frame33.png"]
    out = read_clip(Clip(folder, "frames"), 4, 1)
    assert out[:, 0, 0, 0].tolist() == [1, 2, 9, 10, 33]
    assert out.shape == (5, 1, 4, 4) and (out == out[:, :, :1, :1]).all()


@pytest.mark.parametrize("layout", ["thw_uint8", "thw1_uint8", "thw3_float", "thw4_uint8"])
def test_npy_layouts(tmp_path: Path, layout: str) -> None:
    rgb = random_frames((6, 64, 96, 3), seed=1)
    grey = random_frames((6, 64, 96), seed=2)
    if layout == "thw_uint8":
        stored, source = grey, grey
    elif layout == "thw1_uint8":
        stored, source = grey[..., None], grey
    elif layout == "thw3_float":
        stored = np.random.default_rng(1).random((6, 64, 96, 3), dtype=np.float32)  # off the k / 255 grid
        stored[0, 0, 0], stored[0, 0, 1] = 0.0, 1.0
        source = np.rint(stored.astype(np.float64) * 255).astype(np.uint8)  # scaled to 0-255 and rounded
        assert source.min() == 0 and source.max() == 255
    else:
        stored, source = np.concatenate([rgb, random_frames((6, 64, 96, 1), seed=3)], axis=-1), rgb  # alpha dropped
    np.save(tmp_path / "clip.npy", stored)
    assert_exact(Clip(tmp_path / "clip.npy", "npy"), source)


def test_png_frames_exact(tmp_path: Path) -> None:
    rgb = random_frames((5, 48, 32, 3), seed=4)   # portrait: the crop takes the middle 32 rows
    write_frames(tmp_path / "rgb", rgb)
    assert_exact(Clip(tmp_path / "rgb", "frames"), rgb)
    grey = random_frames((4, 64, 64), seed=5)     # mode L stays one channel until the end
    write_frames(tmp_path / "grey", grey)
    assert_exact(Clip(tmp_path / "grey", "frames"), grey)
    write_frames(tmp_path / "deep", grey.astype(np.uint16) * 257)  # 16-bit PNG: v * 257 reads back as v
    assert_exact(Clip(tmp_path / "deep", "frames"), grey)


def test_gif_exact(tmp_path: Path) -> None:
    grey = random_frames((5, 64, 96), seed=6)
    assert_exact(Clip(write_gif(tmp_path / "grey.gif", grey), "gif"), grey)
    # a colour GIF: at most 256 colours in all, here the scene's five plus a few per frame
    scene = square_scene(5)
    scene[:, 40:44, 40:44] = np.arange(5, dtype=np.uint8)[:, None, None, None] * 40  # frames differ everywhere
    assert_exact(Clip(write_gif(tmp_path / "colour.gif", scene), "gif"), scene)


def check_scene(out: np.ndarray, source: np.ndarray, size: int, channels: int, tol: float) -> None:
    """Lossy formats: close to the reference (``tol`` at worst, a small mean), the square where it
    belongs, no margin colour left."""
    ref = reference(source, size, channels)
    diff = np.abs(out.astype(np.int16) - ref)
    assert diff.mean() < 2 and diff.max() <= tol, (diff.mean(), diff.max())
    want = {"square": SQUARE, "background": BACKGROUND}
    for name, colour in want.items():
        # output pixels whose whole box is that colour in the source (the reference says which)
        value = np.rint([luma(colour)] if channels == 1 else colour).astype(np.uint8)[None, :, None, None]
        where = (ref == value).all(axis=1)
        assert where.sum(axis=(1, 2)).min() >= 2, f"every frame has {name} pixels"
        got = out.transpose(0, 2, 3, 1)[where].astype(int)
        assert np.abs(got - value.ravel()).max() <= tol, name
    # the square moves right by 4 source pixels per frame: its mean column follows in the output
    square = (ref == np.rint([luma(SQUARE)] if channels == 1 else SQUARE).astype(np.uint8)[None, :, None, None]).all(1)
    assert (np.diff([np.nonzero(m)[1].mean() for m in square]) > 0).all()
    if channels == 3:
        # the red left and blue right margins were cropped away: the edge columns are the grey background
        for column in (out[:, :, :, 0].astype(int), out[:, :, :, -1].astype(int)):
            assert np.abs(column[:, 0] - column[:, 2]).max() <= tol, (LEFT_MARGIN, RIGHT_MARGIN)
            assert np.abs(column - BACKGROUND[0]).max() <= tol


@pytest.mark.parametrize("suffix", sorted(ENCODERS))
def test_video_formats(tmp_path: Path, suffix: str) -> None:
    pytest.importorskip("av")
    codec = pick_encoder(suffix)
    if codec is None:
        pytest.skip(f"this PyAV build has no encoder for {suffix} among {ENCODERS[suffix]}")
    source = square_scene(6)
    path = write_video(tmp_path / f"clip{suffix}", source, codec)
    clip = find_clips(path)[0]
    assert clip == Clip(path, "video")
    for size, channels in COMBOS:
        out = read_clip(clip, size, channels)
        assert out.dtype == np.uint8 and out.shape == (6, channels, size, size)
        check_scene(out, source, size, channels, tol=VIDEO_TOL)
    halved = read_clip(clip, 16, 3, every=2)
    assert halved.shape == (3, 3, 16, 16)
    check_scene(halved, source[::2], 16, 3, tol=VIDEO_TOL)


def test_jpg_frames(tmp_path: Path) -> None:
    source = square_scene(4)
    folder = write_frames(tmp_path / "jpgs", source, ".jpg", quality=95, subsampling=0)  # 4:4:4: no chroma smear
    out = read_clip(Clip(folder, "frames"), 32, 3)
    assert out.shape == (4, 3, 32, 32)
    check_scene(out, source, 32, 3, tol=8)
    assert read_clip(Clip(folder, "frames"), 16, 1, every=2).shape == (2, 1, 16, 16)


def test_resize_weights() -> None:
    # 3 -> 2: each output pixel covers 1.5 input pixels, the middle one shared half and half
    np.testing.assert_allclose(resize_weights(3, 2), [[2 / 3, 1 / 3, 0], [0, 1 / 3, 2 / 3]], rtol=1e-6)
    # 10 -> 4 covers 2.5 each; every row sums to 1, so flat frames stay flat
    w = resize_weights(10, 4)
    np.testing.assert_allclose(w.sum(axis=1), 1, rtol=1e-6)
    np.testing.assert_allclose(w[1], [0, 0, 0.2, 0.4, 0.4, 0, 0, 0, 0, 0], atol=1e-7)


def test_upscale_is_bilinear(tmp_path: Path) -> None:
    small = random_frames((2, 8, 12, 3), seed=7)
    np.save(tmp_path / "small.npy", small)
    out = read_clip(Clip(tmp_path / "small.npy", "npy"), 20, 3)
    crop = torch.from_numpy(small[:, :, 2:10].astype(np.float32)).permute(0, 3, 1, 2)
    want = F.interpolate(crop, size=(20, 20), mode="bilinear", align_corners=False).numpy()
    assert out.shape == (2, 3, 20, 20)
    assert np.abs(out - want).max() <= 0.5 + 1e-3  # rounded to the nearest; a half may go either way


def test_corrupt_video(tmp_path: Path) -> None:
    pytest.importorskip("av")
    corrupt = tmp_path / "corrupt.mp4"
    corrupt.write_bytes(np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8).tobytes())
    data_error(corrupt, Clip(corrupt, "video"), "cannot decode the video")


def test_odd_margins_leave_the_extra_pixel_after(tmp_path: Path) -> None:
    frames = np.arange(2 * 7 * 4, dtype=np.uint8).reshape(2, 7, 4) * 4   # 3 extra rows: 1 above, 2 below
    np.save(tmp_path / "tall.npy", frames)
    out = read_clip(Clip(tmp_path / "tall.npy", "npy"), 4, 1)
    np.testing.assert_array_equal(out[:, 0], frames[:, 1:5])              # size = side: the crop unchanged
    np.save(tmp_path / "wide.npy", frames.transpose(0, 2, 1))
    np.testing.assert_array_equal(read_clip(Clip(tmp_path / "wide.npy", "npy"), 2, 3),
                                  reference(frames.transpose(0, 2, 1), 2, 3))


def test_errors_name_the_file(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    data_error(tmp_path / "empty", Clip(tmp_path / "empty", "frames"), "no frames")
    mixed = write_frames(tmp_path / "mixed", random_frames((2, 8, 8)))
    write_frames(mixed, random_frames((1, 8, 10)), names=["frame3"])
    data_error(mixed / "frame3.png", Clip(mixed, "frames"), "frame size 10x8 differs from 8x8 of frame1.png")
    truncated = write_frames(tmp_path / "truncated", random_frames((2, 32, 32)))
    (truncated / "frame2.png").write_bytes((truncated / "frame2.png").read_bytes()[:60])
    data_error(truncated / "frame2.png", Clip(truncated, "frames"), "cannot decode the frame image")
    gif = tmp_path / "bad.gif"
    gif.write_bytes(b"GIF89a" + bytes(20))
    data_error(gif, Clip(gif, "gif"), "cannot decode the GIF")
    cases = {"flat.npy": (np.zeros((4, 8), np.uint8), r"shape \(4, 8\)"),
             "five.npy": (np.zeros((2, 1, 8, 8, 3), np.uint8), "expected frames"),
             "chw.npy": (np.zeros((2, 3, 8, 8), np.uint8), r"shape \(2, 3, 8, 8\)"),
             "high.npy": (np.full((2, 8, 8), 0.5, np.float32), r"values in \[0.5, 1.5\]"),
             "nan.npy": (np.full((2, 8, 8), np.nan, np.float64), "non-finite"),
             "int16.npy": (np.zeros((2, 8, 8), np.int16), "dtype int16"),
             "none.npy": (np.zeros((0, 8, 8), np.uint8), "holds no frame")}
    cases["high.npy"][0][1, 0, 0] = 1.5
    for name, (array, match) in cases.items():
        np.save(tmp_path / name, array)
        data_error(tmp_path / name, Clip(tmp_path / name, "npy"), match)
    (tmp_path / "text.npy").write_text("not numpy")
    data_error(tmp_path / "text.npy", Clip(tmp_path / "text.npy", "npy"), "not a readable .npy")


def test_missing_pyav_and_bad_arguments(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "clip.mp4").write_bytes(b"x")
    monkeypatch.setitem(sys.modules, "av", None)  # import av now raises ImportError
    with pytest.raises(UserError, match=r"'av'.*\[video\]"):
        read_clip(Clip(tmp_path / "clip.mp4", "video"), 16, 1)
    np.save(tmp_path / "ok.npy", np.zeros((2, 8, 8), np.uint8))
    clip = Clip(tmp_path / "ok.npy", "npy")
    for size, channels, every in ((0, 1, 1), (16, 2, 1), (16, 1, 0)):
        with pytest.raises(ConfigError):
            read_clip(clip, size, channels, every)
