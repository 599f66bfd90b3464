"""Stocks: both CSV formats, error payloads, the time split without leakage, window normalisation."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from helpers.data_fabricate import fabricate_stocks, price_walk, stock_csv
from vidpred.data import build_data
from vidpred.data.sets.series import split_bounds
from vidpred.data.sets.stocks import TICKERS, read_prices
from vidpred.errors import DataError


def build(root: Path, tickers: list[str], **overrides):
    params = dict(context=5, horizon=3, tickers=tickers)
    params.update(overrides)
    return build_data("stocks", params, root)


def write(root: Path, ticker: str, text: str) -> Path:
    path = root / "stocks" / f"{ticker}.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_yahoo_and_alpha_vantage_read_the_same_prices(tmp_path: Path) -> None:
    prices = price_walk(50, 1)
    yahoo = read_prices(write(tmp_path, "Y", stock_csv(prices, "yahoo")))
    av = read_prices(write(tmp_path, "A", stock_csv(prices, "av")))
    pd.testing.assert_series_equal(yahoo, av)
    np.testing.assert_allclose(yahoo.to_numpy(), prices, rtol=1e-5)
    assert yahoo.index.is_monotonic_increasing and yahoo.index[0] == pd.Timestamp("2015-01-02")
    adj = read_prices(tmp_path / "stocks" / "Y.csv", column="adj_close")
    np.testing.assert_allclose(adj.to_numpy(), 0.9 * prices, rtol=1e-4)
    with pytest.raises(DataError, match=r"no column 'adj_close' \(data.column\); the file has: timestamp, open"):
        read_prices(tmp_path / "stocks" / "A.csv", column="adj_close")


def test_yahoo_null_rows_are_dropped(tmp_path: Path) -> None:
    text = stock_csv(price_walk(10, 2), "yahoo").splitlines()
    text[4] = text[4].split(",")[0] + ",null,null,null,null,null,null"
    series = read_prices(write(tmp_path, "N", "\n".join(text)))
    assert len(series) == 9 and pd.Timestamp("2015-01-05") not in series.index


@pytest.mark.parametrize("payload", [
    {"Error Message": "Invalid API call. Please retry or visit the documentation."},
    {"Note": "Thank you for using Alpha Vantage! Our standard API call frequency is 5 calls per minute."},
    {"Information": "The **demo** API key is for demo purposes only."},
])
def test_alpha_vantage_error_payload_in_a_csv(tmp_path: Path, payload: dict) -> None:
    path = write(tmp_path, "AAPL", json.dumps(payload, indent=4))
    with pytest.raises(DataError, match="Alpha Vantage says") as info:
        read_prices(path)
    assert str(path) in str(info.value) and list(payload.values())[0].split()[0] in str(info.value)


def test_csv_without_close_column(tmp_path: Path) -> None:
    path = write(tmp_path, "X", "Date,Open,High\n2020-01-02,1,2\n")
    with pytest.raises(DataError, match="no column 'close'") as info:
        read_prices(path)
    assert str(path) in str(info.value) and "the file has: Date, Open, High" in str(info.value)
    with pytest.raises(DataError, match="no column 'close'"):
        read_prices(write(tmp_path, "Z", "day,price\n1,2\n"))


def test_split_is_by_time_with_no_window_across_a_boundary(tmp_path: Path) -> None:
    days, length = 200, 8
    write(tmp_path, "T", stock_csv(np.arange(1.0, days + 1), "av"))
    data = build(tmp_path, ["T"], normalize="context")
    val_start, test_start = split_bounds(days, 0.1, 0.2)
    assert (val_start, test_start) == (140, 160)
    # windows only inside each part: fewer than the days - length + 1 that would cross boundaries
    assert (len(data.train), len(data.val), len(data.test)) == (140 - length + 1, 20 - length + 1, 40 - length + 1)
    # prices rise by 1 a day: context-normalised windows are (k - 0) / (context - 1) steps
    np.testing.assert_allclose(data.test[0].numpy()[:, 0], np.arange(length) / 4.0, rtol=1e-6)


def test_window_and_context_normalisation(tmp_path: Path) -> None:
    write(tmp_path, "W", stock_csv(price_walk(300, 3), "yahoo"))
    window = build(tmp_path, ["W"]).train.array
    assert window.shape[1:] == (8, 1) and window.dtype == np.float32
    np.testing.assert_allclose(window.min(axis=(1, 2)), 0.0, atol=1e-6)
    np.testing.assert_allclose(window.max(axis=(1, 2)), 1.0, atol=1e-6)
    context = build(tmp_path, ["W"], normalize="context").train.array
    np.testing.assert_allclose(context[:, :5].min(axis=(1, 2)), 0.0, atol=1e-6)
    np.testing.assert_allclose(context[:, :5].max(axis=(1, 2)), 1.0, atol=1e-6)
    assert (context[:, 5:] > 1).any() or (context[:, 5:] < 0).any()  # the future is not squeezed in


def test_date_range_stride_and_caps(tmp_path: Path) -> None:
    write(tmp_path, "D", stock_csv(price_walk(400, 4), "yahoo"))
    full = build(tmp_path, ["D"])
    ranged = build(tmp_path, ["D"], start="2015-03-01", end="2015-12-31")
    days = (pd.Timestamp("2015-12-31") - pd.Timestamp("2015-03-01")).days + 1
    assert len(ranged.train) + len(ranged.val) + len(ranged.test) == days - 3 * 7
    strided = build(tmp_path, ["D"], stride=3)
    assert len(strided.train) == (len(full.train) - 1) // 3 + 1
    capped = build(tmp_path, ["D"], train_size=10, test_size=4)
    assert (len(capped.train), len(capped.test)) == (10, 4)


def test_too_short_a_split_is_explained(tmp_path: Path) -> None:
    write(tmp_path, "S", stock_csv(price_walk(30, 5), "av"))
    with pytest.raises(DataError, match="no val window of 8 rows"):
        build(tmp_path, ["S"])


def test_missing_ticker_names_the_command(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="python -m vidpred.data download stocks"):
        build(tmp_path, ["NOPE"])


def test_fabricated_tickers_of_the_default_config(tmp_path: Path) -> None:
    fabricate_stocks(tmp_path)
    data = build(tmp_path, list(TICKERS), context=20, horizon=20)
    assert len(data.test) == len(TICKERS) * (84 - 40 + 1)


def test_real_stock_files(shared_data: Path) -> None:
    data = build(shared_data, list(TICKERS), context=20, horizon=20)
    total = 0
    for ticker in TICKERS:
        series = read_prices(shared_data / "stocks" / f"{ticker}.csv")
        assert series.index[-1] == pd.Timestamp("2020-12-11") and (series > 0).all()
        val_start, test_start = split_bounds(len(series), 0.1, 0.2)
        total += len(series) - test_start - 40 + 1
    assert len(data.test) == total
    assert data.train.array.shape[1:] == (40, 1)
    assert np.isfinite(data.train.array).all() and data.train.array.min() == 0 and data.train.array.max() == 1


def test_calendar_split_cuts_every_ticker_at_the_same_days(tmp_path: Path) -> None:
    write(tmp_path, "OLD", stock_csv(np.arange(1.0, 401), "yahoo", first_day="2015-01-01"))
    write(tmp_path, "NEW", stock_csv(np.arange(1.0, 201), "av", first_day="2015-07-20"))
    data = build(tmp_path, ["OLD", "NEW"], val_from="2015-10-01", test_from="2015-12-01")
    # OLD: 273 days before val, 61 of val, 66 of test; NEW: 73, 61, 66; windows of 8 stay inside
    assert (len(data.train), len(data.val), len(data.test)) == (273 - 7 + 73 - 7, 2 * (61 - 7), 2 * (66 - 7))
    with pytest.raises(Exception, match="give both data.val_from and data.test_from"):
        build(tmp_path, ["OLD"], val_from="2015-10-01")
    with pytest.raises(Exception, match="must come before"):
        build(tmp_path, ["OLD"], val_from="2015-12-01", test_from="2015-10-01")
