"""Daily data on a business-day calendar: weekends and holidays are no gaps by default, prepare says
how many windows each split gets (and warns about an empty one), forecasts carry the next business
dates, and ``predict --at`` takes a date."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from helpers.data_cli import assert_one_line_error, cli
from helpers.data_fabricate import market_days, yahoo_daily_csv
from helpers.run_cli import train_on_prices
from vidpred.data.sets.series import infer_calendar, read_series
from vidpred.predict import main as predict_main

CLOSED = ("2018-03-07", "2018-03-08")  # two business days without trading: a real gap


def test_weekends_and_single_holidays_are_no_gaps_but_a_longer_closure_is(tmp_path: Path) -> None:
    path = yahoo_daily_csv(tmp_path / "ACME.csv", 0, start="2016-01-04", end="2019-12-31", closed=CLOSED)
    series = read_series(path)  # the defaults: max_gap=auto, missing=gap
    days = market_days("2016-01-04", "2019-12-31", CLOSED)
    assert len(series.values) == len(days) and series.columns == ["Open", "High", "Low", "Close", "Adj Close", "Volume"]
    cut = days.get_loc(pd.Timestamp("2018-03-09"))  # the first day after the closure
    assert series.segments == [(0, cut), (cut, len(days))]
    assert series.notes == ["ACME.csv: 1 gap of more than one missing business day cut the series "
                            "(data.max_gap=auto, business days)"]
    # a missing cell is still a missing value: with data.missing=gap its row is a cut too
    yahoo_daily_csv(path, 0, start="2016-01-04", end="2019-12-31", empty_volume_days=("2017-06-14",))
    assert len(read_series(path).segments) == 2 and len(read_series(path, missing_policy="drop").segments) == 1


@pytest.mark.parametrize("times, expected", [
    (pd.bdate_range("2024-01-01", periods=30), ("B", True)),
    (market_days("2024-01-01", "2024-12-31"), ("B", True)),          # holidays missing: pandas infers nothing
    (pd.date_range("2024-01-01", periods=30, freq="h"), ("h", False)),
    (pd.date_range("2024-01-31", periods=12, freq="ME"), ("ME", False)),
    (pd.date_range("2024-01-01", periods=30, freq="D"), ("D", False)),  # every day: weekends are steps
    (pd.DatetimeIndex(["2024-01-01", "2024-01-02", "2024-01-09", "2024-03-01"]), None),
])
def test_the_calendar_is_inferred(times: pd.DatetimeIndex, expected: tuple[str, bool] | None) -> None:
    calendar = infer_calendar(times)
    assert (None if calendar is None else (calendar.offset.freqstr, calendar.business)) == expected


def test_prepare_counts_the_windows_of_each_split_and_warns_about_an_empty_one(tmp_path: Path, capsys) -> None:
    src = tmp_path / "prices"
    yahoo_daily_csv(src / "ACME.csv", 0, start="2019-01-02", end="2020-12-31")   # 505 market days
    yahoo_daily_csv(src / "GLOBEX.csv", 1, start="2019-01-02", end="2020-12-31")
    code, out, err = cli(capsys, "prepare", "series", "--src", src, "--data-dir", tmp_path / "data",
                         "data.columns=[Close]")
    assert code == 0, err
    rows = len(market_days("2019-01-02", "2020-12-31"))
    assert f"ACME.csv: {rows} rows of Close 2019-01-02 00:00 .. 2020-12-31 00:00 (business days), 1 segment" in out
    # per file, by time: the last 20% of the rows test, the 10% before them validate; a part of n rows
    # holds n - 39 windows of 40
    test, val = round(rows * 0.2), round(rows * 0.1)
    train = rows - test - val

    def count(part: int, length: int) -> int:
        return 2 * max(0, part - length + 1)

    assert (f"windows of 40 rows (data.context 20 + data.horizon 20, every 1): train {count(train, 40)}, "
            f"val {count(val, 40)}, test {count(test, 40)}") in out
    assert "warning" not in out and val < 60
    # windows longer than the validation part: prepare still works, and says what is missing
    code, out, err = cli(capsys, "prepare", "series", "--src", src, "--data-dir", tmp_path / "data",
                         "data.columns=[Close]", "data.context=40", "data.horizon=20")
    assert code == 0, err
    assert f"train {count(train, 60)}, val 0, test {count(test, 60)}" in out
    warning = next(line for line in out.splitlines() if line.startswith("warning: "))
    assert "no val window of 60 rows" in warning and "shorten the windows" in warning


def test_forecasts_carry_business_dates_and_predict_takes_a_date(tmp_path: Path, capsys,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("vidpred.experiment.save_samples", lambda *args, **kwargs: [])
    src, data, run = train_on_prices(tmp_path, capsys, "[Close]")
    new = yahoo_daily_csv(tmp_path / "INITECH.csv", 5, start="2021-01-04", end="2021-03-31")  # ends on a Wednesday
    out = tmp_path / "forecast"
    predict_main([str(run), "--input", str(new), "--out", str(out), "--horizon", "5"])
    table = pd.read_csv(out / "INITECH.csv", parse_dates=["time"])
    assert list(table["time"].dt.strftime("%Y-%m-%d")) == ["2021-04-01", "2021-04-02", "2021-04-05", "2021-04-06",
                                                           "2021-04-07"]  # Thursday, Friday, then Monday on
    capsys.readouterr()

    # --at a date: the first market day on or after it (a Saturday -> the Monday); the truth follows
    predict_main([str(run), "--input", str(new), "--out", str(out), "--at", "2021-02-13"])
    summary = json.loads((out / "summary.json").read_text())["predictions"][0]
    days = market_days("2021-01-04", "2021-03-31")
    assert summary["at_time"] == "2021-02-16 00:00:00"  # Monday the 15th is Presidents' Day
    assert summary["at"] == days.get_loc(pd.Timestamp("2021-02-16")) and summary["known_steps"] == 20
    table = pd.read_csv(out / "INITECH.csv", parse_dates=["time"])
    assert list(table["time"]) == list(days[summary["at"]:summary["at"] + 20])  # the input's own dates
    # the same with a row number gives the same prediction
    predict_main([str(run), "--input", str(new), "--out", str(tmp_path / "by_row"), "--at", str(summary["at"])])
    np.testing.assert_array_equal(np.load(out / "INITECH.npy"), np.load(tmp_path / "by_row" / "INITECH.npy"))

    for at, needle in (("2021-06-01", "--at 2021-06-01 is after the last time of"),
                       ("next tuesday", "give a step number or a date such as 2019-03-15")):
        with pytest.raises(SystemExit) as info:
            predict_main([str(run), "--input", str(new), "--out", str(out), "--at", at])
        assert_one_line_error(info.value.code, capsys.readouterr().err, needle)
