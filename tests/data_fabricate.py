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
    fabricate_stocks(root)


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
    from vidpred.data.stocks import TICKERS

    folder = Path(root) / "stocks"
    folder.mkdir(parents=True, exist_ok=True)
    for k, ticker in enumerate(TICKERS):
        (folder / f"{ticker}.csv").write_text(stock_csv(price_walk(days, k), "yahoo" if k % 2 else "av"))
    return folder
