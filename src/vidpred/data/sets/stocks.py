"""``data=stocks``: daily close prices of the study's eight tickers, a preset of ``data=series``.

The CSVs are Yahoo (``Date,Open,High,Low,Close,Adj Close,Volume``, oldest first) or Alpha Vantage
``TIME_SERIES_DAILY`` (``timestamp,open,high,low,close,volume``, newest first) files, one per ticker
in ``<data_dir>/stocks/<TICKER>.csv``; the series reader handles both (the time column is found
by its name, rows are put in time order). What the preset adds: the study's settings (window
normalisation, rows with a missing price left out as a market closed for the day, no cut at
weekends), Alpha Vantage's error payloads recognised, prices that must be positive, and the
download from Alpha Vantage.
"""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pandas as pd

from vidpred.data.base import DataSplits, Geometry
from vidpred.data.registry import FAMILIES, DataFamily, missing
from vidpred.data.sets.series import Series, build_windows, csv_files, read_series
from vidpred.data.folders import dataset_dir, write_folder
from vidpred.errors import DataError, UserError, require
from vidpred.io import atomic_path

NAME = "stocks"
TICKERS = ("GOOGL", "MSFT", "TSLA", "AAPL", "AMZN", "NVDA", "FB", "AMD")
COLUMNS = ("close", "adj_close")  # data.column (Adj Close: Yahoo files only)
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


def read_ticker(path: Path, column: str = "close") -> Series:
    """One ticker's prices as a one-column :class:`Series`, oldest first."""
    require(column in COLUMNS, f"data.column must be one of {', '.join(COLUMNS)}, got {column!r}")
    try:
        text = path.read_text()
    except UnicodeDecodeError as exc:
        raise DataError(f"{path}: not a text CSV file") from exc
    if (problem := payload_error(text)) is not None:
        raise DataError(f"{path}: holds {problem}; download it again")
    series = read_series(path, columns=[column], missing_policy="drop", max_gap=None, columns_key="data.column")
    if series.times is None:
        raise DataError(f"{path}: no date column; expected Yahoo (Date,...,Close,...) or Alpha Vantage "
                        "(timestamp,open,high,low,close,volume) CSV")
    if (series.values <= 0).any():
        raise DataError(f"{path}: non-positive prices in column {series.columns[0]!r}")
    return series


def read_prices(path: Path, column: str = "close") -> pd.Series:
    """Prices of one CSV as a Series indexed by date, oldest first."""
    series = read_ticker(path, column)
    return pd.Series(series.values[:, 0], index=pd.DatetimeIndex(series.times, name="date"), name=column)


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
    require(len(tickers) >= 1, "data.tickers is empty; name at least one ticker")
    folder = dataset_dir(data_dir, NAME)
    series = []
    for ticker in tickers:
        path = folder / f"{ticker}.csv"
        if not path.is_file():
            raise missing_ticker(path, ticker, data_dir, tickers)
        series.append(read_ticker(path, column))
    return build_windows(series, NAME, context, horizon, normalize, stride, val_fraction, test_fraction,
                         val_from, test_from, start, end,
                         {"train": train_size, "val": val_size, "test": test_size})


def missing_ticker(path: Path, ticker: str, data_dir: str, tickers: list[str]) -> DataError:
    """A ticker's file is absent: when the folder holds other tickers (the user's own), name them and
    the keys that choose them; else the command that gets the study's files."""
    present = sorted(p.stem for p in path.parent.glob("*.csv"))
    if not present:
        return missing(path, NAME, data_dir, f"prices of {ticker}")
    absent = [t for t in tickers if not (path.parent / f"{t}.csv").is_file()]
    chosen = ",".join(present[:8])
    return DataError(f"stocks: no prices of {', '.join(absent)} in {path.parent} (data.tickers names the study's "
                     f"eight by default); it holds {', '.join(present)}: choose them with data.tickers=[{chosen}], or "
                     "use data=series for CSV files of your own, with any columns (python -m vidpred.data prepare "
                     "series --src FOLDER)")


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
    folder = write_folder(dataset_dir(data_dir, NAME))
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
    series = read_ticker(path)
    notes = "".join(f"; {note.split(': ', 1)[1]}" for note in series.notes)
    return (f"{path.name}: {len(series.values)} days {series.times[0]:%Y-%m-%d} .. {series.times[-1]:%Y-%m-%d} "
            f"ok{notes}")


def prepare(src: Path, data_dir: str | os.PathLike[str]) -> list[str]:
    """Copy a folder of ``<TICKER>.csv`` files (either format) into place; all are read first."""
    files = csv_files(Path(src))
    lines = [describe(path) for path in files]  # every file must load before any is copied
    folder = write_folder(dataset_dir(data_dir, NAME))
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


FAMILY = FAMILIES.register(DataFamily(
    name=NAME, kind="sequence", build=build_stocks, download=download, prepare=prepare, verify=verify,
    geometry=lambda p: Geometry((1,))))  # the windows in memory: as many as the files give
