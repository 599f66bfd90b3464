"""``data=series``: your own time series, from CSV files.

    python -m vidpred.data prepare series --src measurements/ [--name NAME] [data.columns=[temp,load]]
    python -m vidpred.run model=lstm data=series [data.set=NAME]

Each CSV file is one series: a time column (a column named date, time, timestamp, datetime or ds,
or a first column that reads as dates; ``data.time_column`` names it) and value columns
(``data.columns``; default: every numeric column), so the model predicts ``D = len(columns)``
channels. Rows are put in time order.

Bad values and gaps:

- a value that is not a number (``abc``) or not finite (``inf``) stops the reader with the file and
  line: vidpred refuses to guess what it meant;
- a missing value (an empty cell, ``null``, ``NaN``, ``NA``) removes its row; ``data.missing`` says
  what that removal is: ``gap`` (the series is cut there: windows never span it), ``drop`` (the
  series runs on, as a market closed for a day) or ``refuse`` (stop with the line);
- ``data.max_gap`` cuts the series where consecutive times are further apart than this. ``auto``
  follows the series' calendar (:func:`infer_calendar`): on business days (daily market data) a
  weekend or a single missing weekday (a holiday) is no gap, more missing business days are; on
  other regular calendars a missing step is a gap; otherwise a step longer than 1.5 x the median
  step. A duration such as ``2h`` or ``4D`` cuts at steps longer than that; ``null`` never cuts.

Each series is split by time (train earliest, then validation, then test; by fractions of its rows
or at the dates ``data.val_from`` / ``data.test_from``) and windows of ``context + horizon`` rows are
cut inside each part and segment, so no window crosses a split or a gap. Normalisation, per column:
``context`` (default: min-max over the window's context, what a forecaster can know), ``window``
(the study's: over the whole window, which leaks the future's range) or ``train`` (min-max over the
training parts of all series, kept in the run's ``metrics.json``).

``stocks`` is a preset of this family (:mod:`vidpred.data.sets.stocks`).
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from pandas.tseries.frequencies import to_offset

from vidpred.data.base import ArrayDataset, DataSplits, Geometry, cap_evenly, check_horizon
from vidpred.data.registry import FAMILIES, DataFamily, missing, settings_text
from vidpred.data.folders import dataset_dir
from vidpred.data.formats.store import atomic_dir, manifest_if_prepared, read_manifest, sha256_file, write_manifest
from vidpred.errors import ConfigError, DataError, require

log = logging.getLogger("vidpred")

NAME = "series"
TIME_NAMES = ("date", "time", "timestamp", "datetime", "ds")
MISSING_MARKERS = {"", "null", "nan", "na", "n/a", "none", "-"}
MISSING_POLICIES = ("gap", "drop", "refuse")
NORMALISATIONS = ("context", "window", "train")
SPLITS = ("train", "val", "test")
AUTO_GAP_STEPS = 1.5  # max_gap=auto: a step longer than this many median steps is a missing sample


def normal_name(name: str) -> str:
    """Column names compared loosely: ``Adj Close``, ``adj_close`` and ``ADJ-CLOSE`` are one."""
    return re.sub(r"[^0-9a-z]+", "_", str(name).strip().lower()).strip("_")


@dataclass
class Series:
    """One CSV file read: times (or None), values ``(N, D)`` and the segments between gaps."""

    path: Path
    columns: list[str]
    values: np.ndarray
    times: pd.DatetimeIndex | None
    segments: list[tuple[int, int]]                  # [start, end) row ranges without a gap inside
    notes: list[str] = field(default_factory=list)   # what was dropped or cut, for the log


def _lines(rows: pd.Index, limit: int = 5) -> str:
    shown = ", ".join(str(int(r) + 2) for r in rows[:limit])  # row 0 is line 2, under the header
    return shown + (f" and {len(rows) - limit} more" if len(rows) > limit else "")


def _read_table(path: Path) -> pd.DataFrame:
    try:
        table = pd.read_csv(path, dtype=str, keep_default_na=False, skip_blank_lines=False)
    except (pd.errors.ParserError, UnicodeDecodeError, pd.errors.EmptyDataError) as exc:
        raise DataError(f"{path}: not a readable CSV file ({' '.join(str(exc).split())})") from exc
    table = table[~(table.apply(lambda col: col.str.strip()).eq("").all(axis=1))]  # blank lines
    if table.empty:
        raise DataError(f"{path}: the CSV file has a header but no rows")
    return table


def _time_column(table: pd.DataFrame, path: Path, time_column: str | None) -> str | None:
    names = {normal_name(c): c for c in table.columns}
    if time_column is not None:
        if normal_name(time_column) not in names:
            raise DataError(f"{path}: no time column {time_column!r} (data.time_column); the file has: "
                            f"{', '.join(map(str, table.columns))}")
        return names[normal_name(time_column)]
    for candidate in TIME_NAMES:
        if candidate in names:
            return names[candidate]
    first = table.columns[0]
    numeric = pd.to_numeric(table[first].str.strip(), errors="coerce")
    if numeric.isna().all() and pd.to_datetime(table[first], errors="coerce", format="mixed").notna().all():
        return first
    return None


def _parse_values(table: pd.DataFrame, name: str, path: Path) -> tuple[pd.Series, pd.Series]:
    """(floats with NaN where a value is missing, mask of the missing ones); unreadable values stop."""
    raw = table[name].str.strip()
    missing_mask = raw.str.lower().isin(MISSING_MARKERS)
    values = pd.to_numeric(raw.where(~missing_mask), errors="coerce")
    unreadable = values.isna() & ~missing_mask
    if unreadable.any():
        first = raw[unreadable]
        raise DataError(f"{path}: line {_lines(first.index)}: column {name!r} holds {first.iloc[0]!r}, which is "
                        "not a number; vidpred refuses unreadable values: fix or remove those rows")
    infinite = np.isinf(values)
    if infinite.any():
        raise DataError(f"{path}: line {_lines(values[infinite].index)}: column {name!r} holds "
                        f"{raw[infinite].iloc[0]!r}, which is not a finite number; vidpred refuses it: fix or "
                        "remove those rows")
    return values, missing_mask


def _value_columns(table: pd.DataFrame, time: str | None, columns: list[str] | None, path: Path,
                   key: str) -> list[str]:
    names = {normal_name(c): c for c in table.columns if c != time}
    if columns is not None:
        absent = [c for c in columns if normal_name(c) not in names]
        if absent:
            raise DataError(f"{path}: no column {', '.join(map(repr, absent))} ({key}); the file has: "
                            f"{', '.join(map(str, table.columns))}")
        return [names[normal_name(c)] for c in columns]
    chosen = []
    for name in names.values():
        raw = table[name].str.strip()
        present = raw[~raw.str.lower().isin(MISSING_MARKERS)]
        parsed = pd.to_numeric(present, errors="coerce")
        if len(present) and parsed.notna().mean() > 0.5:  # a numeric column (bad cells are reported later)
            chosen.append(name)
    if not chosen:
        raise DataError(f"{path}: no numeric column besides the time column; the file has: "
                        f"{', '.join(map(str, table.columns))}")
    return chosen


@dataclass(frozen=True)
class Calendar:
    """The regular calendar a series' times follow: one step is pandas' ``offset`` (a business day,
    an hour, a month end, ...)."""

    offset: pd.DateOffset
    business: bool  # weekdays only: weekends are not steps, and a lone missing weekday is a holiday

    @property
    def name(self) -> str:
        return "business days" if self.business else f"steps of {self.offset.freqstr}"

    def steps(self, times: pd.DatetimeIndex) -> np.ndarray:
        """Calendar steps from each time to the next (1: the next step of the calendar)."""
        if self.business:
            days = times.to_numpy().astype("datetime64[D]")
            return np.busday_count(days[:-1], days[1:])
        grid = pd.date_range(times[0], times[-1], freq=self.offset)
        return np.diff(grid.get_indexer(times))

    def following(self, last: pd.Timestamp, count: int) -> pd.DatetimeIndex:
        """The ``count`` times of the calendar after ``last`` (business days skip weekends; holidays
        are not known)."""
        return pd.date_range(last, periods=count + 1, freq=self.offset)[1:]


def infer_calendar(times: pd.DatetimeIndex | None) -> Calendar | None:
    """The calendar of ``times``, when they follow one: pandas' frequency inference (business days,
    hours, month ends, ...), or business days with holidays missing (every time a weekday at midnight,
    most steps one business day), which pandas does not recognise. None for irregular times."""
    if times is None or len(times) < 3:
        return None
    with warnings.catch_warnings():  # pandas 3 announces that infer_freq will return an offset
        warnings.simplefilter("ignore")
        freq = pd.infer_freq(times)
    if freq is not None:
        offset = to_offset(freq)
        return Calendar(offset, business=isinstance(offset, pd.offsets.BusinessDay))
    if (times == times.normalize()).all() and (times.day_of_week < 5).all():
        days = times.to_numpy().astype("datetime64[D]")
        if np.median(np.busday_count(days[:-1], days[1:])) == 1:
            return Calendar(pd.offsets.BDay(), business=True)
    return None


def _gap_cuts(times: pd.DatetimeIndex, max_gap: str | None) -> tuple[np.ndarray, str | None]:
    """Rows that start a new segment because the step before them is too long, and what was cut."""
    if max_gap is None or len(times) < 2:
        return np.empty(0, dtype=int), None
    if max_gap == "auto":
        calendar = infer_calendar(times)
        if calendar is not None and not isinstance(calendar.offset, pd.offsets.Tick):
            # weekends are no steps of a business-day calendar, and a single missing business day is a
            # holiday, not a gap; other calendars (months, weeks) cut at a missing step
            allowed = 2 if calendar.business else 1
            wide = np.flatnonzero(calendar.steps(times) > allowed) + 1
            what = "more than one missing business day" if calendar.business else f"a missing {calendar.offset.freqstr} step"
            return wide, (f"{len(wide)} gap{'s' if len(wide) != 1 else ''} of {what} cut the series "
                          f"(data.max_gap=auto, {calendar.name})")
        threshold = AUTO_GAP_STEPS * pd.Series(times).diff().dropna().median()
    else:
        try:
            threshold = pd.Timedelta(max_gap)
        except ValueError as exc:
            raise ConfigError(f"data.max_gap={max_gap!r}: give auto, null or a duration such as 2h or 3D") from exc
    wide = np.flatnonzero(np.diff(times.to_numpy()) > threshold.to_timedelta64()) + 1
    return wide, f"{len(wide)} time steps longer than {threshold} cut the series (data.max_gap)"


def read_series(path: Path, columns: list[str] | None = None, time_column: str | None = None,
                missing_policy: str = "gap", max_gap: str | None = "auto", columns_key: str = "data.columns") -> Series:
    """One CSV file as a :class:`Series`; see the module docstring for the rules. ``columns_key`` is
    the config key that chose ``columns``, for the error message."""
    table = _read_table(path)
    time = _time_column(table, path, time_column)
    names = _value_columns(table, time, columns, path, columns_key)
    parsed = [_parse_values(table, name, path) for name in names]
    values = np.stack([v.to_numpy(dtype=np.float64) for v, _ in parsed], axis=1)
    absent = np.logical_or.reduce([m.to_numpy() for _, m in parsed])
    rows = table.index.to_numpy()
    notes = []
    if absent.any():
        where = _lines(pd.Index(rows[absent]))
        if missing_policy == "refuse":
            raise DataError(f"{path}: line {where}: missing values (data.missing=refuse); fill them, or set "
                            "data.missing=gap (cut the series there) or drop (leave the rows out)")
        notes.append(f"{path.name}: {int(absent.sum())} rows with missing values left out (line {where}; "
                     f"data.missing={missing_policy})")
    times = None
    if time is not None:
        parsed_times = pd.to_datetime(table[time].str.strip(), errors="coerce", format="mixed")
        unreadable = parsed_times.isna() & ~pd.Series(absent, index=table.index)
        if unreadable.any():
            bad = table[time][unreadable]
            raise DataError(f"{path}: line {_lines(bad.index)}: time {bad.iloc[0]!r} in column {time!r} is not a "
                            "date or time")
        stamps = parsed_times.to_numpy()
        known = np.flatnonzero(~np.isnat(stamps))  # a row without value and time has no place: it goes
        order = known[np.argsort(stamps[known], kind="stable")]  # newest-first files come out oldest first
        values, absent, rows, stamps = values[order], absent[order], rows[order], stamps[order]
        times = pd.DatetimeIndex(stamps[~absent])
    # A missing value's row goes; with missing=gap the series is also cut there.
    keep = ~absent
    breaks = np.cumsum(absent)[keep] if missing_policy == "gap" else np.zeros(int(keep.sum()), dtype=int)
    values, rows = values[keep], rows[keep]
    if times is not None and times.has_duplicates:
        duplicated = times.duplicated()
        raise DataError(f"{path}: line {_lines(pd.Index(rows[duplicated]))}: repeated time {times[duplicated][0]}")
    starts = set(np.flatnonzero(np.diff(breaks) != 0) + 1)
    if times is not None:
        wide, what = _gap_cuts(times, max_gap)
        if len(wide):
            notes.append(f"{path.name}: {what}")
        starts |= set(wide.tolist())
    edges = [0, *sorted(starts), len(values)]
    segments = [(a, b) for a, b in zip(edges[:-1], edges[1:]) if b > a]
    return Series(path, [str(n) for n in names], values, times, segments, notes)


# ---------------------------------------------------------------- windows, splits, normalisation
def split_bounds(count: int, val_fraction: float, test_fraction: float) -> tuple[int, int]:
    """Row indices where validation and test begin."""
    test_start = count - int(round(count * test_fraction))
    val_start = test_start - int(round(count * val_fraction))
    return val_start, test_start


def window_starts(segments: list[tuple[int, int]], lo: int, hi: int, length: int, stride: int) -> np.ndarray:
    """The first row of every window of ``length`` rows inside rows ``[lo, hi)`` that stays inside one
    segment, at multiples of ``stride`` from the part's first row."""
    out = []
    for a, b in segments:
        a, b = max(a, lo), min(b, hi)
        first = a + (-(a - lo)) % stride  # one stride grid per part, started at its first row
        if b - first >= length:
            out.append(np.arange(first, b - length + 1, stride))
    return np.concatenate(out) if out else np.empty(0, dtype=np.int64)


def windows(values: np.ndarray, segments: list[tuple[int, int]], lo: int, hi: int, length: int,
            stride: int) -> np.ndarray:
    """Every window ``(N, length, D)`` of :func:`window_starts`."""
    starts = window_starts(segments, lo, hi, length, stride)
    return values[starts[:, None] + np.arange(length)]


def normalise(batch: np.ndarray, context: int, mode: str, low: np.ndarray | None = None,
              high: np.ndarray | None = None) -> np.ndarray:
    """Min-max per column: over each window (``window``), its context (``context``), or the fixed
    training ranges ``low``/``high`` (``train``). A flat range maps to 0."""
    if mode == "train":
        span = high - low
        return (batch - low) / np.where(span > 0, span, 1.0)
    ref = batch if mode == "window" else batch[:, :context]
    low = ref.min(axis=1, keepdims=True)
    span = ref.max(axis=1, keepdims=True) - low
    return (batch - low) / np.where(span > 0, span, 1.0)


def check_dates(**dates: str | None) -> None:
    for key, day in dates.items():
        if day:
            try:
                pd.Timestamp(day)
            except (ValueError, TypeError) as exc:
                raise ConfigError(f"data.{key}={day!r} is not a date; write it as YYYY-MM-DD") from exc


class SeriesWindows(ArrayDataset):
    """Normalised windows that remember where each came from (file and time span), for ``show``."""

    def __init__(self, array: np.ndarray, series: list[Series], origin: np.ndarray, length: int) -> None:
        super().__init__(array)
        self.series = series
        self.origin = origin  # (N, 2): series number, first row
        self.length = length

    def source(self, index: int) -> str:
        one, first = self.series[int(self.origin[index, 0])], int(self.origin[index, 1])
        last = first + self.length - 1
        if one.times is None:
            return f"{one.path.name}, rows {first + 1}..{last + 1} in file order"
        return f"{one.path.name}, {one.times[first]} .. {one.times[last]}"


def check_windows(context: int, horizon: int, stride: int, val_fraction: float, test_fraction: float,
                  val_from: str | None, test_from: str | None, start: str | None, end: str | None) -> None:
    check_horizon(context, horizon)
    require(stride >= 1, f"data.stride must be at least 1, got {stride}")
    require(0 < test_fraction < 1 and 0 < val_fraction < 1 and val_fraction + test_fraction < 1,
            f"data.val_fraction and data.test_fraction must be in (0, 1) and sum below 1, "
            f"got {val_fraction} and {test_fraction}")
    require((val_from is None) == (test_from is None), "give both data.val_from and data.test_from, or neither")
    check_dates(start=start, end=end, val_from=val_from, test_from=test_from)
    if val_from is not None:
        require(pd.Timestamp(val_from) < pd.Timestamp(test_from),
                f"data.val_from ({val_from}) must come before data.test_from ({test_from})")


def cut_windows(series: list[Series], context: int, horizon: int, stride: int, val_fraction: float,
                test_fraction: float, val_from: str | None, test_from: str | None, start: str | None,
                end: str | None) -> dict[str, np.ndarray]:
    """Split every series by time and find the windows inside each part and segment: per split, an
    array ``(N, 2)`` of (series number, first row)."""
    check_windows(context, horizon, stride, val_fraction, test_fraction, val_from, test_from, start, end)
    length = context + horizon
    parts: dict[str, list[np.ndarray]] = {s: [] for s in SPLITS}
    for number, one in enumerate(series):
        segments, times = one.segments, one.times
        lo, hi = 0, len(one.values)
        if times is not None and (start or end):
            lo = int(times.searchsorted(pd.Timestamp(start))) if start else 0
            hi = int(times.searchsorted(pd.Timestamp(end), side="right")) if end else len(one.values)
        if val_from is None:
            val_start, test_start = (lo + b for b in split_bounds(hi - lo, val_fraction, test_fraction))
        else:
            require(times is not None, f"{one.path}: data.val_from / data.test_from need a time column")
            val_start, test_start = (min(max(int(times.searchsorted(pd.Timestamp(day))), lo), hi)
                                     for day in (val_from, test_from))
        for split, (a, b) in zip(SPLITS, ((lo, val_start), (val_start, test_start), (test_start, hi))):
            starts = window_starts(segments, a, b, length, stride)
            parts[split].append(np.stack([np.full(len(starts), number), starts], axis=1))
    return {split: np.concatenate(found).astype(np.int64) for split, found in parts.items()}


def no_window(name: str, split: str, series: list[Series], length: int) -> str:
    """Why a split has no window, and what to change."""
    return (f"{name}: no {split} window of {length} rows; the {split} part of each series "
            f"({', '.join(s.path.name for s in series)}) has no stretch without gaps as long as "
            "data.context + data.horizon; widen the date range, shorten the windows, or allow longer time "
            "steps (data.max_gap) or missing values (data.missing=drop)")


def build_windows(series: list[Series], name: str, context: int, horizon: int, normalize: str, stride: int,
                  val_fraction: float, test_fraction: float, val_from: str | None, test_from: str | None,
                  start: str | None, end: str | None, sizes: dict[str, int | None]) -> DataSplits:
    """Split every series by time, cut windows inside each part and segment, normalise."""
    require(normalize in NORMALISATIONS, f"data.normalize must be one of {', '.join(NORMALISATIONS)}, got {normalize!r}")
    columns = series[0].columns
    for other in series[1:]:
        require(len(other.columns) == len(columns),
                f"{other.path}: {len(other.columns)} value columns ({', '.join(other.columns)}), "
                f"{series[0].path} has {len(columns)}; give data.columns")
    origins = cut_windows(series, context, horizon, stride, val_fraction, test_fraction, val_from, test_from,
                          start, end)
    for one in series:
        for note in one.notes:
            log.warning("%s", note)
    length = context + horizon
    offsets = np.arange(length)
    batches, picked = {}, {}
    for split in SPLITS:
        if len(origins[split]) == 0:
            raise DataError(no_window(name, split, series, length))
        picked[split] = chosen = cap_evenly(origins[split], sizes[split])  # in series order, as cut
        batches[split] = np.concatenate([series[k].values[chosen[chosen[:, 0] == k, 1][:, None] + offsets]
                                         for k in range(len(series))])
    meta: dict[str, Any] = {"columns": columns, "normalize": normalize}
    if normalize == "train":
        train_rows = batches["train"].reshape(-1, len(columns))
        meta.update(low=train_rows.min(axis=0).tolist(), high=train_rows.max(axis=0).tolist())
    low = np.asarray(meta.get("low", 0.0))
    high = np.asarray(meta.get("high", 1.0))
    splits = {s: SeriesWindows(normalise(batches[s], context, normalize, low, high), series, picked[s], length)
              for s in SPLITS}
    return DataSplits(name=name, kind="sequence", context=context, horizon=horizon,
                      frame_shape=(len(columns),), meta=meta, **splits)


# ---------------------------------------------------------------- the family
def set_folder(data_dir: str | os.PathLike[str], set_name: str | None) -> Path:
    return dataset_dir(data_dir, set_name or NAME)


def csv_files(src: Path) -> list[Path]:
    files = sorted(p for p in Path(src).rglob("*") if p.suffix.lower() == ".csv") if Path(src).is_dir() else [Path(src)]
    if not files or not files[0].is_file():
        raise DataError(f"{src}: no CSV files found")
    return files


def build_series(data_dir: str, context: int, horizon: int, set: str | None = None,  # noqa: A002
                 columns: list[str] | None = None, time_column: str | None = None, normalize: str = "context",
                 missing: str = "gap", max_gap: str | None = "auto", stride: int = 1,
                 val_fraction: float = 0.1, test_fraction: float = 0.2, val_from: str | None = None,
                 test_from: str | None = None, start: str | None = None, end: str | None = None,
                 train_size: int | None = None, val_size: int | None = None,
                 test_size: int | None = None) -> DataSplits:
    """The prepared set ``<data_dir>/<set>`` (default ``series``): every CSV file one series."""
    require(missing in MISSING_POLICIES, f"data.missing must be one of {', '.join(MISSING_POLICIES)}, got {missing!r}")
    folder = set_folder(data_dir, set)
    read_manifest(folder, NAME, data_dir, set_name=set)
    files = sorted(folder.glob("*.csv"))
    if not files:
        raise missing_data(folder, data_dir, set)
    series = [read_series(path, columns, time_column, missing, max_gap) for path in files]
    return build_windows(series, NAME, context, horizon, normalize, stride, val_fraction, test_fraction,
                         val_from, test_from, start, end,
                         {"train": train_size, "val": val_size, "test": test_size})


def missing_data(folder: Path, data_dir: str | os.PathLike[str], set_name: str | None) -> DataError:
    return missing(folder / "<series>.csv", NAME, data_dir, "series files", set_name=set_name)


def prepare(src: Path, data_dir: str | os.PathLike[str], set: str | None = None,  # noqa: A002
            columns: list[str] | None = None, time_column: str | None = None, missing: str = "gap",
            max_gap: str | None = "auto", context: int = 20, horizon: int = 20, stride: int = 1,
            val_fraction: float = 0.1, test_fraction: float = 0.2, val_from: str | None = None,
            test_from: str | None = None, start: str | None = None, end: str | None = None,
            settings: dict[str, Any] | None = None) -> list[str]:
    """Check every CSV under ``src`` and copy them into ``<data_dir>/<set>`` with a manifest; says how
    many windows each split gets. ``settings`` (the keys the user gave) are kept as the set's defaults."""
    require(missing in MISSING_POLICIES, f"data.missing must be one of {', '.join(MISSING_POLICIES)}, got {missing!r}")
    files = csv_files(Path(src))
    read = [read_series(path, columns, time_column, missing, max_gap) for path in files]  # all first
    names = [path.name for path in files]
    repeated = sorted({n for n in names if names.count(n) > 1})
    require(not repeated, f"{src}: files of the same name in different folders ({', '.join(repeated)}); rename them")
    counts = {split: len(found) for split, found in cut_windows(
        read, context, horizon, stride, val_fraction, test_fraction, val_from, test_from, start, end).items()}
    with atomic_dir(set_folder(data_dir, set)) as tmp:
        for path in files:
            shutil.copyfile(path, tmp / path.name)
        write_manifest(tmp, NAME, {}, {"files": {p.name: sha256_file(p) for p in files},
                                       "columns": read[0].columns, "source": str(Path(src).resolve()),
                                       "settings": dict(settings or {})})
    lines = [describe(one) for one in read]
    lines.append(f"windows of {context + horizon} rows (data.context {context} + data.horizon {horizon}, "
                 f"every {stride}): " + ", ".join(f"{split} {count:,}" for split, count in counts.items()))
    lines += [f"warning: {no_window(NAME, split, read, context + horizon)}"
              for split, count in counts.items() if count == 0]
    if settings:
        lines.append(f"kept as the set's defaults for every run, show and predict: "
                     f"{settings_text(settings)}")
    return lines


def describe(one: Series) -> str:
    span = (f" {one.times[0]:%Y-%m-%d %H:%M} .. {one.times[-1]:%Y-%m-%d %H:%M}" if one.times is not None
            else " (no time column: file order)")
    extra = "".join(f"; {note.split(': ', 1)[1]}" for note in one.notes)
    calendar = infer_calendar(one.times)
    steps = f" ({calendar.name})" if calendar is not None else ""
    return (f"{one.path.name}: {len(one.values)} rows of {', '.join(one.columns)}{span}{steps}, "
            f"{len(one.segments)} segment{'s' if len(one.segments) != 1 else ''}{extra}")


def verify(data_dir: str | os.PathLike[str], set: str | None = None) -> list[str]:  # noqa: A002
    """Every file of the set against the manifest's checksums, and readable."""
    folder = set_folder(data_dir, set)
    manifest = read_manifest(folder, NAME, data_dir, set_name=set)
    lines = []
    for name, digest in manifest.get("files", {}).items():
        path = folder / name
        if not path.is_file():
            raise DataError(f"{path}: listed in the manifest but absent; prepare the set again")
        if sha256_file(path) != digest:
            raise DataError(f"{path}: sha256 differs from the manifest (the file changed); prepare the set again")
        lines.append(f"{name}: sha256 ok")
    if manifest.get("settings"):
        lines.append("prepared with (the set's defaults): "
                     + settings_text(manifest["settings"]))
    return lines


def manifest(data_dir: str | os.PathLike[str], set: str | None = None) -> dict[str, Any] | None:  # noqa: A002
    return manifest_if_prepared(set_folder(data_dir, set))


FAMILY = FAMILIES.register(DataFamily(
    name=NAME, kind="sequence", build=build_series, prepare=prepare, verify=verify, manifest=manifest,
    geometry=lambda p: Geometry((len(p["columns"]),) if p.get("columns") else None)))
