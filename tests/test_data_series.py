"""data=series: CSV files of the user's own measurements -> prepare -> windows that respect time,
gaps and splits; bad values named by file and line. stocks is a preset of the same reader."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from helpers.data_cli import assert_one_line_error, cli
from helpers.data_fabricate import fabricate_stocks
from vidpred.data import build_data
from vidpred.data.sets.series import read_series
from vidpred.errors import DataError


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def hourly(rows: int, start: str = "2024-01-01 00:00", skip: tuple[int, ...] = ()) -> str:
    """An hourly CSV with two value columns and a text column; row k: temp = k, load = 100 + 2k."""
    times = pd.date_range(start, periods=rows, freq="h")
    lines = ["time,site,temp,load"]
    lines += [f"{t:%Y-%m-%d %H:%M},north,{k},{100 + 2 * k}" for k, t in enumerate(times) if k not in skip]
    return "\n".join(lines) + "\n"


def test_columns_time_order_and_gaps(tmp_path: Path) -> None:
    path = write(tmp_path / "a.csv", hourly(30, skip=(10, 11)))  # two missing hours
    series = read_series(path)
    assert series.columns == ["temp", "load"] and series.values.shape == (28, 2)  # the text column is not numeric
    np.testing.assert_array_equal(series.values[:, 1], 100 + 2 * series.values[:, 0])
    assert series.segments == [(0, 10), (10, 28)]  # max_gap=auto: the 3 h step is two missing samples
    # newest-first files come out oldest first
    lines = hourly(30).splitlines()
    reversed_path = write(tmp_path / "b.csv", "\n".join([lines[0], *reversed(lines[1:])]) + "\n")
    np.testing.assert_array_equal(read_series(reversed_path).values[:, 0], np.arange(30))


def test_missing_values_are_gaps_drops_or_refusals(tmp_path: Path) -> None:
    lines = hourly(20).splitlines()
    lines[6] = lines[6].rsplit(",", 1)[0] + ",null"   # row 5: load missing (file line 7)
    path = write(tmp_path / "m.csv", "\n".join(lines) + "\n")
    gap = read_series(path, missing_policy="gap", max_gap=None)
    assert gap.segments == [(0, 5), (5, 19)] and "line 7" in gap.notes[0]
    drop = read_series(path, missing_policy="drop", max_gap=None)
    assert drop.segments == [(0, 19)] and len(drop.values) == 19
    with pytest.raises(DataError, match=r"m.csv: line 7: missing values \(data.missing=refuse\)"):
        read_series(path, missing_policy="refuse")


@pytest.mark.parametrize("bad, message", [
    ("abc", "line 5: column 'temp' holds 'abc', which is not a number; vidpred refuses unreadable values"),
    ("inf", "line 5: column 'temp' holds 'inf', which is not a finite number; vidpred refuses it"),
])
def test_unreadable_and_infinite_values_name_file_and_line(tmp_path: Path, bad: str, message: str) -> None:
    lines = hourly(10).splitlines()
    lines[4] = lines[4].replace(",north,3,", f",north,{bad},")
    path = write(tmp_path / "x.csv", "\n".join(lines) + "\n")
    with pytest.raises(DataError, match=message) as info:
        read_series(path)
    assert str(path) in str(info.value)


def test_windows_stay_inside_splits_and_segments(tmp_path: Path, capsys) -> None:
    src = tmp_path / "src"
    write(src / "north.csv", hourly(200, skip=(100,)))
    write(src / "south.csv", hourly(100, start="2024-03-01 00:00"))
    code, out, err = cli(capsys, "prepare", "series", "--src", src, "--data-dir", tmp_path / "data", "--name", "plant")
    assert code == 0, err
    assert "north.csv: 199 rows of temp, load 2024-01-01 00:00 .. 2024-01-09 07:00, 2 segments" in out
    assert "time steps longer than 0 days 01:30:00 cut the series" in out
    params = dict(context=6, horizon=4, set="plant", normalize="train", val_fraction=0.1, test_fraction=0.2)
    data = build_data("series", params, tmp_path / "data")
    assert data.frame_shape == (2,) and data.train[0].shape == (10, 2)
    low, high = np.array(data.meta["low"]), np.array(data.meta["high"])
    raw = {s: data.split(s).array * (high - low) + low for s in ("train", "val", "test")}
    # temp is the hour number: every window is 10 consecutive hours and never spans the gap at 100
    for split, windows in raw.items():
        steps = np.diff(windows[:, :, 0], axis=1)
        np.testing.assert_allclose(steps, 1.0, atol=1e-4)
        assert not ((windows[:, 0, 0] < 100) & (windows[:, -1, 0] > 100)).any()
    # north: 199 rows -> val starts at row 139 (hour 140, after the gap), test at row 159
    north_train = raw["train"][raw["train"][:, 0, 1] > 0]
    assert raw["train"][:, -1, 0].max() == pytest.approx(139, abs=1e-3)  # train ends before validation
    assert raw["test"][:, 0, 0].min() == pytest.approx(80, abs=1e-3)  # south's test part: rows 80-99
    assert len(north_train) == len(raw["train"])
    np.testing.assert_allclose(data.meta["low"], [0, 100], atol=1e-9)  # the training ranges


def test_verify_and_missing_set(tmp_path: Path, capsys) -> None:
    write(tmp_path / "src" / "a.csv", hourly(50))
    code, _, err = cli(capsys, "prepare", "series", "--src", tmp_path / "src", "--data-dir", tmp_path / "data")
    assert code == 0, err
    code, out, err = cli(capsys, "verify", "series", "--data-dir", tmp_path / "data")
    assert code == 0 and "a.csv: sha256 ok" in out, err
    (tmp_path / "data" / "series" / "a.csv").write_text(hourly(49))
    code, _, err = cli(capsys, "verify", "series", "--data-dir", tmp_path / "data")
    assert_one_line_error(code, err, "sha256 differs from the manifest")
    code, _, err = cli(capsys, "show", "series", "--data-dir", tmp_path / "data", "--name", "other",
                       "--out", tmp_path / "x.png")
    assert_one_line_error(code, err, "python -m vidpred.data prepare series --src PATH --name other")


def test_header_only_csv_is_one_line(tmp_path: Path, capsys) -> None:
    write(tmp_path / "src" / "AAPL.csv", "Date,Open,High,Low,Close,Adj Close,Volume\n")
    code, _, err = cli(capsys, "prepare", "stocks", "--src", tmp_path / "src", "--data-dir", tmp_path / "data")
    assert_one_line_error(code, err, "AAPL.csv: the CSV file has a header but no rows")


@pytest.mark.parametrize("bad, needle", [("inf", "not a finite number"), ("abc", "not a number"),
                                          ("null", None)])
def test_stocks_bad_numbers(tmp_path: Path, capsys, bad: str, needle: str | None) -> None:
    """A close of inf or abc stops prepare and the run with the file and line; null is a closed day."""
    fabricate_stocks(tmp_path / "src")
    path = tmp_path / "src" / "stocks" / "MSFT.csv"  # Yahoo format in the fabricator (odd index)
    lines = path.read_text().splitlines()
    cells = lines[13].split(",")
    cells[4] = bad
    lines[13] = ",".join(cells)
    path.write_text("\n".join(lines) + "\n")
    code, out, err = cli(capsys, "prepare", "stocks", "--src", tmp_path / "src" / "stocks",
                         "--data-dir", tmp_path / "data")
    if needle is None:
        assert code == 0 and "MSFT.csv" in out, err
        assert "1 rows with missing values left out (line 14; data.missing=drop)" in out
    else:
        assert_one_line_error(code, err, f"{path}: line 14: column 'Close' holds '{bad}'", needle)
        assert not (tmp_path / "data" / "stocks").exists()
