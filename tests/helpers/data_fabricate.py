"""Tiny data files in the exact real formats, for tests (no network, no real data needed).

:func:`fabricate_all` writes every data set under one root, so a test can run any model on any
``conf/data/*.yaml`` with ``paths.data_dir=<root>``.
"""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np

from vidpred.data.formats.idx import encode_idx


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
    """Tiny prepared or raw data of every data set under ``root`` (use with ``paths.data_dir=<root>``)."""
    fabricate_mnist(root)
    fabricate_stocks(root)
    fabricate_kth(root)
    fabricate_bair(root)
    fabricate_series(root)
    fabricate_videos(root)


def series_csv(path: Path, rows: int, seed: int) -> Path:
    """An hourly CSV (``time,temp,load``) of two smooth noisy signals."""
    rng = np.random.default_rng(seed)
    hours = np.arange(rows)
    temp = 20 + 5 * np.sin(hours / 7 + seed) + rng.normal(0, 0.2, rows)
    load = 100 + 30 * np.cos(hours / 5 + seed) + rng.normal(0, 1.0, rows)
    stamps = np.datetime64("2024-01-01T00:00") + hours.astype("timedelta64[h]")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(["time,temp,load", *(f"{t},{a:.3f},{b:.3f}" for t, a, b in zip(stamps, temp, load))])
                    + "\n")
    return path


def fabricate_series(root: Path) -> Path:
    """Prepared ``data=series`` under ``root/series``: two sites of 500 hourly rows."""
    from vidpred.data.sets.series import prepare

    for k in range(2):
        series_csv(Path(root) / "raw" / "series" / f"site{k}.csv", 500, k)
    prepare(Path(root) / "raw" / "series", root)
    return Path(root) / "series"


def fabricate_videos(root: Path, clips: int = 4, frames: int = 40) -> Path:
    """Prepared ``data=videos`` (the default geometry: 64 x 64 grey) under ``root/videos``, from
    ``.npy`` clips of a square drifting right."""
    from vidpred.data.sets.videos import prepare

    src = Path(root) / "raw" / "videos"
    src.mkdir(parents=True, exist_ok=True)
    for k in range(clips):
        np.save(src / f"clip{k}.npy", moving_square_frames(frames, k, width=64, height=64))
    prepare(src, root)
    return Path(root) / "videos"


YAHOO_HEADER = "Date,Open,High,Low,Close,Adj Close,Volume"
AV_HEADER = "timestamp,open,high,low,close,volume"


def price_walk(days: int, seed: int) -> np.ndarray:
    """A positive random walk of daily prices."""
    rng = np.random.default_rng(seed)
    return 50.0 * np.exp(np.cumsum(rng.normal(0.0, 0.02, days)))


def stock_csv(prices: np.ndarray, fmt: str, first_day: str = "2015-01-02") -> str:
    """Prices in Yahoo (oldest first) or Alpha Vantage ``TIME_SERIES_DAILY`` (newest first) CSV."""
    dates = np.datetime64(first_day) + np.arange(len(prices))
    if fmt == "yahoo":
        rows = [f"{d},{p:.4f},{p * 1.01:.4f},{p * 0.99:.4f},{p:.4f},{p * 0.9:.4f},{1000 + i}"
                for i, (d, p) in enumerate(zip(dates, prices))]
        return "\n".join([YAHOO_HEADER, *rows]) + "\n"
    rows = [f"{d},{p:.4f},{p * 1.01:.4f},{p * 0.99:.4f},{p:.4f},{1000 + i}"
            for i, (d, p) in enumerate(zip(dates, prices))]
    return "\n".join([AV_HEADER, *reversed(rows)]) + "\r\n"


def fabricate_stocks(root: Path, days: int = 420) -> Path:
    """A CSV per ticker of the default config, alternating Yahoo and Alpha Vantage formats."""
    from vidpred.data.sets.stocks import TICKERS

    folder = Path(root) / "stocks"
    folder.mkdir(parents=True, exist_ok=True)
    for k, ticker in enumerate(TICKERS):
        (folder / f"{ticker}.csv").write_text(stock_csv(price_walk(days, k), "yahoo" if k % 2 else "av"))
    return folder


def moving_square_frames(count: int, seed: int, width: int = 160, height: int = 120) -> np.ndarray:
    """Gray ``(count, height, width)`` uint8 frames of a bright square drifting across a dark field."""
    rng = np.random.default_rng(seed)
    frames = np.full((count, height, width), 40, dtype=np.uint8)
    y, x = rng.integers(10, 50), rng.integers(10, 60)
    for t in range(count):
        frames[t, y:y + 40, x + 2 * t: x + 2 * t + 30] = 220
    return frames


def write_avi(path: Path, frames: np.ndarray, fps: int = 25) -> Path:
    """An ``.avi`` (MPEG-4 part 2, as PyAV writes it) of gray uint8 frames ``(n, h, w)``."""
    import av

    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), "w", format="avi") as container:
        stream = container.add_stream("mpeg4", rate=fps)
        stream.width, stream.height = frames.shape[2], frames.shape[1]
        stream.pix_fmt = "yuv420p"
        for image in frames:
            frame = av.VideoFrame.from_ndarray(image, format="gray").reformat(format="yuv420p")
            container.mux(stream.encode(frame))
        container.mux(stream.encode())
    return path


def fabricate_kth_raw(src: Path, videos: dict[str, int], ranges: dict[str, str] | None = None,
                      extra_lines: str = "") -> Path:
    """A raw KTH tree: ``<action>/<stem>_uncomp.avi`` for each stem -> frame count, and an
    ``00sequences.txt`` with the real file's quirks (header, tabs and spaces, 3-range lines)."""
    lines = ["Sequence descriptions", "", "(c) KTH, fabricated for tests", ""]
    for k, (stem, count) in enumerate(videos.items()):
        action = stem.split("_")[1]
        write_avi(Path(src) / action / f"{stem}_uncomp.avi", moving_square_frames(count, k))
        spec = (ranges or {}).get(stem, f"1-{count // 2}, {count // 2 + 1}-{count}")
        lines.append(f"{stem}\t\tframes\t{spec}" if k % 2 else f"{stem}        frames    {spec}")
    (Path(src) / "00sequences.txt").write_text("\n".join(lines) + "\n" + extra_lines)
    return Path(src)


def fabricate_kth(root: Path) -> Path:
    """Prepared KTH under ``root/kth``: one short video for persons 1, 2 (train), 16 (val) and 17 (test);
    enough windows of 20 frames for two training batches of 4."""
    from vidpred.data.sets.kth import prepare

    src = Path(root) / "raw" / "kth"
    fabricate_kth_raw(src, {"person01_walking_d1": 44, "person02_boxing_d2": 60,
                            "person16_running_d1": 40, "person17_handwaving_d4": 40},
                      ranges={"person01_walking_d1": "1-20, 21-40, 41-44"})
    prepare(src, root)
    return Path(root) / "kth"


def bair_trajectory(seed: int, steps: int = 30) -> np.ndarray:
    """RGB frames ``(steps, 64, 64, 3)`` uint8 of a coloured block moving on a textured table."""
    rng = np.random.default_rng(seed)
    frames = np.empty((steps, 64, 64, 3), dtype=np.uint8)
    frames[:] = rng.integers(60, 120, (1, 64, 64, 3), dtype=np.uint8)
    y, x = rng.integers(5, 30, size=2)
    colour = rng.integers(150, 256, 3, dtype=np.uint8)
    for t in range(steps):
        frames[t, y + t // 2: y + t // 2 + 8, x: x + 12] = colour
    return frames


def bair_example(frames: np.ndarray, seed: int) -> bytes:
    """One trajectory as the published ``tf.train.Example``: image_aux1, image_main, action, endeffector_pos."""
    from vidpred.data.formats.tfrecord import encode_example

    rng = np.random.default_rng(seed)
    features: dict = {}
    for t, frame in enumerate(frames):
        features[f"{t}/action"] = rng.normal(size=4).astype(np.float32)
        features[f"{t}/endeffector_pos"] = rng.normal(size=3).astype(np.float32)
        features[f"{t}/image_aux1/encoded"] = [frame.tobytes()]
        features[f"{t}/image_main/encoded"] = [frame[::-1].tobytes()]
    return encode_example(features)


def fabricate_bair_raw(src: Path, train: tuple[int, ...] = (3, 2), test: tuple[int, ...] = (2,)) -> Path:
    """``softmotion30_44k/{train,test}/traj_A_to_B.tfrecords``, one file per count in ``train``/``test``."""
    from vidpred.data.formats.tfrecord import write_records

    base = Path(src) / "softmotion30_44k"
    seed = 0
    for split, files in (("train", train), ("test", test)):
        (base / split).mkdir(parents=True, exist_ok=True)
        first = 0
        for count in files:
            records = [bair_example(bair_trajectory(seed + k), seed + k) for k in range(count)]
            write_records(base / split / f"traj_{first}_to_{first + count - 1}.tfrecords", records)
            first += count
            seed += count
    return base


def fabricate_bair(root: Path) -> Path:
    """Prepared BAIR under ``root/bair``: 10 train trajectories (2 kept for validation), 2 test."""
    from vidpred.data.sets.bair import prepare

    prepare(fabricate_bair_raw(Path(root) / "raw" / "bair", train=(5, 5)), root)
    return Path(root) / "bair"


def market_days(start: str, end: str, closed: tuple[str, ...] = ()) -> "pd.DatetimeIndex":  # noqa: F821
    """The days an exchange trades: business days less the US federal holidays and ``closed`` days."""
    import pandas as pd
    from pandas.tseries.holiday import USFederalHolidayCalendar

    days = pd.bdate_range(start, end)
    holidays = USFederalHolidayCalendar().holidays(start, end)
    return days[~days.isin(holidays) & ~days.isin(pd.DatetimeIndex(closed))]


def yahoo_daily_csv(path: Path, seed: int, start: str = "2016-01-04", end: str = "2020-12-31",
                    closed: tuple[str, ...] = (), null_days: tuple[str, ...] = (),
                    empty_volume_days: tuple[str, ...] = ()) -> Path:
    """A ticker's daily prices as Yahoo writes them (``Date,Open,High,Low,Close,Adj Close,Volume``,
    oldest first): market days only, so weekends and holidays are absent; ``null_days`` are rows of
    ``null`` (as Yahoo writes days it has no prices for) and ``empty_volume_days`` lack their volume."""
    rng = np.random.default_rng(seed)
    days = market_days(start, end, closed)
    close = (20 + 30 * seed) * np.exp(np.cumsum(rng.normal(0.0004, 0.018, len(days))))
    open_ = close * np.exp(rng.normal(0, 0.006, len(days)))
    high = np.maximum(open_, close) * (1 + np.abs(rng.normal(0, 0.008, len(days))))
    low = np.minimum(open_, close) * (1 - np.abs(rng.normal(0, 0.008, len(days))))
    volume = rng.integers(2_000_000, 30_000_000, len(days))
    lines = ["Date,Open,High,Low,Close,Adj Close,Volume"]
    for k, day in enumerate(days):
        stamp = f"{day:%Y-%m-%d}"
        if stamp in null_days:
            lines.append(f"{stamp},null,null,null,null,null,null")
            continue
        vol = "" if stamp in empty_volume_days else str(volume[k])
        lines.append(f"{stamp},{open_[k]:.6f},{high[k]:.6f},{low[k]:.6f},{close[k]:.6f},{close[k] * 0.97:.6f},{vol}")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")
    return path
