"""Daily stock prices: CSV reading (Yahoo and Alpha Vantage), time splits, sliding windows.

Each ticker is split by time (train earliest, then validation, then test) and windows are cut
inside each part only, so no window spans a boundary and no future price reaches training.
Windows are min-max normalised one by one: over the whole window (the study; the future's range
leaks into the context) or over the context alone (what a real forecaster could do; the horizon
may then leave [0, 1]).
"""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import numpy as np
import pandas as pd

from vidpred.data.base import ArrayDataset, DataSplits, cap_evenly, check_horizon
from vidpred.data.registry import DataFamily
from vidpred.data.store import dataset_dir, missing
from vidpred.errors import ConfigError, DataError, UserError, require
from vidpred.io import atomic_path

NAME = "stocks"
TICKERS = ("GOOGL", "MSFT", "TSLA", "AAPL", "AMZN", "NVDA", "FB", "AMD")
YAHOO = {"date": "Date", "close": "Close", "adj_close": "Adj Close"}
ALPHA_VANTAGE = {"date": "timestamp", "close": "close"}
API_KEY_ENV = "ALPHAVANTAGE_API_KEY"
API_URL_ENV = "VIDPRED_ALPHAVANTAGE_URL"  # tests point this at a local server
API_URL = "https://www.alphavantage.co/query"
AV_ERROR_KEYS = ("Error Message", "Note", "Information")


def payload_error(text: str) -> str | None:
    """The message of an Alpha Vantage JSON error payload (sent with HTTP 200), else None."""
    if not text.lstrip().startswith("{"):
        return None
    try:
        payload = json.loads(text)
    except json.JSONDecodeError:
        return "a JSON reply that is not valid JSON"
    for key in AV_ERROR_KEYS:
        if key in payload:
            return f"Alpha Vantage says: {' '.join(str(payload[key]).split())}"
    return f"a JSON reply instead of CSV (keys: {', '.join(payload)})"


def read_prices(path: Path, column: str = "close") -> pd.Series:
    """Prices of one CSV as a Series indexed by date, oldest first; the format is told by the header."""
    try:
        text = path.read_text()
    except UnicodeDecodeError as exc:
        raise DataError(f"{path}: not a text CSV file") from exc
    if (problem := payload_error(text)) is not None:
        raise DataError(f"{path}: holds {problem}; download it again")
    header = [h.strip() for h in text.split("\n", 1)[0].split(",")]
    if YAHOO["date"] in header:
        names = YAHOO
    elif ALPHA_VANTAGE["date"] in header:
        names = ALPHA_VANTAGE
    else:
        raise DataError(f"{path}: unknown CSV header {header[:6]}; expected Yahoo (Date,...,Close,...) "
                        "or Alpha Vantage (timestamp,open,high,low,close,volume)")
    if column not in names:
        raise DataError(f"{path}: this CSV format has no {column!r} column (data.column); use close")
    if names[column] not in header:
        raise DataError(f"{path}: no {names[column]!r} column in header {header}")
    frame = pd.read_csv(path, usecols=[names["date"], names[column]], na_values=["null", ""])
    dates = pd.to_datetime(frame[names["date"]], errors="coerce")
    prices = pd.to_numeric(frame[names[column]], errors="coerce")
    bad = int(dates.isna().sum())
    if bad:
        raise DataError(f"{path}: {bad} rows with an unreadable date")
    series = pd.Series(prices.to_numpy(dtype=np.float64), index=pd.DatetimeIndex(dates, name="date"),
                       name=column).dropna().sort_index()
    if series.index.has_duplicates:
        raise DataError(f"{path}: repeated dates")
    if (series <= 0).any():
        raise DataError(f"{path}: non-positive prices in column {names[column]!r}")
    return series


def windows(prices: np.ndarray, length: int, stride: int) -> np.ndarray:
    """Every window ``(N, length)`` of ``prices`` starting at multiples of ``stride``."""
    if len(prices) < length:
        return np.empty((0, length))
    view = np.lib.stride_tricks.sliding_window_view(prices, length)
    return view[::stride].copy()


def normalise(batch: np.ndarray, context: int, mode: str) -> np.ndarray:
    """Min-max normalise each window over itself (``window``) or over its context (``context``)."""
    ref = batch if mode == "window" else batch[:, :context]
    low = ref.min(axis=1, keepdims=True)
    span = ref.max(axis=1, keepdims=True) - low
    return (batch - low) / np.where(span > 0, span, 1.0)


def split_bounds(count: int, val_fraction: float, test_fraction: float) -> tuple[int, int]:
    """Day indices where validation and test begin."""
    test_start = count - int(round(count * test_fraction))
    val_start = test_start - int(round(count * val_fraction))
    return val_start, test_start


def build_stocks(data_dir: str, context: int, horizon: int, tickers: list[str], column: str = "close",
                 normalize: str = "window", stride: int = 1,
                 val_fraction: float = 0.1, test_fraction: float = 0.2, start: str | None = None,
                 end: str | None = None, val_from: str | None = None, test_from: str | None = None,
                 train_size: int | None = None, val_size: int | None = None,
                 test_size: int | None = None) -> DataSplits:
    """Windows of every ticker, split by time per ticker; ``*_size`` caps a split (null: all).

    By default each ticker's own history is cut by fractions. ``val_from`` and ``test_from``
    (dates) cut every ticker at the same calendar days instead, so no training window of one
    ticker overlaps the test period of another.
    """
    check_horizon(context, horizon)
    require(normalize in ("window", "context"), f"data.normalize must be window or context, got {normalize!r}")
    require(stride >= 1, f"data.stride must be at least 1, got {stride}")
    require(0 < test_fraction < 1 and 0 < val_fraction < 1 and val_fraction + test_fraction < 1,
            f"data.val_fraction and data.test_fraction must be in (0, 1) and sum below 1, "
            f"got {val_fraction} and {test_fraction}")
    require(len(tickers) >= 1, "data.tickers is empty; name at least one ticker")
    require((val_from is None) == (test_from is None), "give both data.val_from and data.test_from, or neither")
    for key, day in (("start", start), ("end", end), ("val_from", val_from), ("test_from", test_from)):
        if day:
            try:
                pd.Timestamp(day)
            except (ValueError, TypeError) as exc:
                raise ConfigError(f"data.{key}={day!r} is not a date; write it as YYYY-MM-DD") from exc
    if val_from is not None:
        require(pd.Timestamp(val_from) < pd.Timestamp(test_from),
                f"data.val_from ({val_from}) must come before data.test_from ({test_from})")
    length = context + horizon
    parts: dict[str, list[np.ndarray]] = {"train": [], "val": [], "test": []}
    folder = dataset_dir(data_dir, NAME)
    for ticker in tickers:
        path = folder / f"{ticker}.csv"
        if not path.is_file():
            raise missing(path, NAME, data_dir, f"prices of {ticker}")
        series = read_prices(path, column)
        series = series.loc[pd.Timestamp(start) if start else None: pd.Timestamp(end) if end else None]
        prices = series.to_numpy()
        if val_from is None:
            val_start, test_start = split_bounds(len(prices), val_fraction, test_fraction)
        else:
            val_start, test_start = (int(series.index.searchsorted(pd.Timestamp(day))) for day in (val_from, test_from))
        segments = {"train": prices[:val_start], "val": prices[val_start:test_start], "test": prices[test_start:]}
        for split, segment in segments.items():
            parts[split].append(windows(segment, length, stride))
    caps = {"train": train_size, "val": val_size, "test": test_size}
    splits = {}
    for split, chunks in parts.items():
        batch = np.concatenate(chunks)
        if len(batch) == 0:
            raise DataError(f"stocks: no {split} window of {length} days; the {split} part of each ticker "
                            f"({', '.join(tickers)}) is shorter than data.context + data.horizon; "
                            "widen the date range or shorten the windows")
        if caps[split] is not None:
            require(caps[split] >= 1, f"data.{split}_size must be at least 1 or null, got {caps[split]}")
            batch = cap_evenly(batch, caps[split])
        splits[split] = ArrayDataset(normalise(batch, context, normalize)[:, :, None])
    return DataSplits(name=NAME, kind="sequence", context=context, horizon=horizon, frame_shape=(1,), **splits)


def download_ticker(ticker: str, folder: Path, api_key: str | None = None, timeout: float = 60.0) -> Path:
    """Fetch the daily history of ``ticker`` from Alpha Vantage into ``folder/<TICKER>.csv``."""
    api_key = api_key or os.environ.get(API_KEY_ENV)
    if not api_key:
        raise UserError(f"no Alpha Vantage API key: set {API_KEY_ENV} (a free key: alphavantage.co), "
                        f"or put Yahoo CSVs into {folder}")
    query = urllib.parse.urlencode({"function": "TIME_SERIES_DAILY", "symbol": ticker, "outputsize": "full",
                                    "datatype": "csv", "apikey": api_key})
    url = f"{os.environ.get(API_URL_ENV, API_URL)}?{query}"
    shown = url.replace(api_key, "***")
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            text = response.read().decode("utf-8", errors="replace")
    except urllib.error.HTTPError as exc:
        raise DataError(f"{shown}: HTTP {exc.code} {exc.reason}") from exc
    except (urllib.error.URLError, OSError) as exc:
        raise DataError(f"{shown}: cannot connect ({getattr(exc, 'reason', exc)})") from exc
    if (problem := payload_error(text)) is not None:
        raise DataError(f"{ticker}: {problem}")
    if not text.startswith("timestamp"):
        raise DataError(f"{ticker}: unexpected reply from Alpha Vantage (starts {text[:40]!r})")
    final = folder / f"{ticker}.csv"
    with atomic_path(final) as tmp:
        tmp.write_text(text)
        try:
            read_prices(tmp)  # only a file that loads replaces the old one
        except DataError as exc:
            raise DataError(f"{ticker}: the reply from Alpha Vantage does not load: {exc}") from exc
    return final


def download(data_dir: str | os.PathLike[str], tickers: list[str] | None = None) -> list[str]:
    """Fetch every ticker from Alpha Vantage (free tier: about 25 requests a day)."""
    folder = dataset_dir(data_dir, NAME)
    lines, failed = [], []
    for ticker in tickers or TICKERS:
        try:
            lines.append(describe(download_ticker(ticker, folder)))
        except DataError as exc:  # one bad ticker (FB is META there now) must not cost the others
            failed.append(str(exc))
    if failed:
        done = f"saved {len(lines)} ({', '.join(line.split('.csv')[0] for line in lines)}); " if lines else ""
        raise DataError(f"stocks: {done}{len(failed)} failed: {'; '.join(failed)}")
    return lines


def describe(path: Path) -> str:
    series = read_prices(path)
    return f"{path.name}: {len(series)} days {series.index[0]:%Y-%m-%d} .. {series.index[-1]:%Y-%m-%d} ok"


def prepare(src: Path, data_dir: str | os.PathLike[str]) -> list[str]:
    """Copy a folder of ``<TICKER>.csv`` files (either format) into place; all are read first."""
    files = sorted(p for p in Path(src).glob("*.csv")) if Path(src).is_dir() else [Path(src)]
    if not files or not files[0].is_file():
        raise DataError(f"{src}: no CSV files found")
    lines = [describe(path) for path in files]  # every file must load before any is copied
    folder = dataset_dir(data_dir, NAME)
    for path in files:
        with atomic_path(folder / f"{path.stem.upper()}.csv") as tmp:
            tmp.write_bytes(path.read_bytes())
    return lines


def verify(data_dir: str | os.PathLike[str]) -> list[str]:
    """Read every CSV under ``<data_dir>/stocks`` and report its date range."""
    folder = dataset_dir(data_dir, NAME)
    files = sorted(folder.glob("*.csv"))
    if not files:
        raise missing(folder / "<TICKER>.csv", NAME, data_dir, "price files")
    return [describe(path) for path in files]


FAMILY = DataFamily(name=NAME, kind="sequence", build=build_stocks, download=download, prepare=prepare,
                    verify=verify)
