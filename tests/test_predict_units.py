"""Predictions of a series are scored in the data's own units beside the model's scaled ones, and each
number says which it is: in summary.json, on the command line, in the CSV and in the figure."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from helpers.data_fabricate import yahoo_daily_csv
from helpers.run_cli import train_on_prices
from vidpred.predict import main as predict_main


def test_scores_in_the_datas_units_and_scaled_are_both_given_and_named(tmp_path: Path, capsys,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("vidpred.experiment.save_samples", lambda *args, **kwargs: [])
    src, data, run = train_on_prices(tmp_path, capsys, "[Close,Volume]")
    new = yahoo_daily_csv(tmp_path / "INITECH.csv", 7, start="2021-01-04", end="2021-06-30")
    drawn = []
    monkeypatch.setattr("vidpred.plots.save_figure", lambda fig, path: drawn.append(fig) or path)
    out = tmp_path / "forecast"
    predict_main([str(run), "--input", str(new), "--out", str(out), "--at", "2021-03-01"])
    line = capsys.readouterr().out

    entry = json.loads((out / "summary.json").read_text())["predictions"][0]
    raw = pd.read_csv(new, parse_dates=["Date"]).set_index("Date")[["Close", "Volume"]]
    truth = raw.iloc[entry["at"]:entry["at"] + 20].to_numpy()
    prediction = np.load(out / "INITECH.npy").astype(np.float64)  # in the input's units
    own = entry["scores_in_data_units"]
    for d, column in enumerate(("Close", "Volume")):
        assert own[column]["mse"] == pytest.approx(np.mean((prediction[:, d] - truth[:, d]) ** 2), rel=1e-5)
        assert own[column]["mae"] == pytest.approx(np.mean(np.abs(prediction[:, d] - truth[:, d])), rel=1e-5)
    # the scaled scores: each column min-max over the context, as the run's data was
    context = raw.iloc[entry["at"] - 20:entry["at"]].to_numpy()
    low, span = context.min(axis=0), context.max(axis=0) - context.min(axis=0)
    scaled = ((prediction - low) / span - (truth - low) / span) ** 2
    assert entry["scores"]["mse"] == pytest.approx(scaled.mean(), rel=1e-4)
    assert entry["units"] == "scaled: each column min-max over the context (data.normalize=context)"
    assert own["Volume"]["mse"] > 1e6 * own["Close"]["mse"]  # shares and dollars are not one unit

    assert f"in the data's units Close mse {own['Close']['mse']:.4g}, mae {own['Close']['mae']:.4g}; Volume mse" in line
    assert line.rstrip().endswith(f"; in the model's units ({entry['units']}) mse {entry['scores']['mse']:.4g}, "
                                  f"mae {entry['scores']['mae']:.4g}")

    table = pd.read_csv(out / "INITECH.csv")
    assert list(table.columns) == ["time", "Close", "Close_truth", "Close_error", "Volume", "Volume_truth",
                                   "Volume_error"]
    np.testing.assert_allclose(table["Close_truth"], truth[:, 0], rtol=1e-9)
    # the prediction is float32 (as the .npy): its error is exact, its column printed to float32 digits
    np.testing.assert_allclose(table["Close_error"], table["Close"] - table["Close_truth"], atol=1e-4)

    (fig,) = drawn
    titles = [ax.get_title() for ax in fig.axes]
    assert titles[0] == (f"Close: mse {own['Close']['mse']:.4g}, mae {own['Close']['mae']:.4g} over the 20 known "
                         "steps (the data's units)")
    assert [ax.get_ylabel() for ax in fig.axes] == ["Close", "Volume"]
    assert fig._supxlabel.get_text() == (f"in the model's units ({entry['units']}): mse {entry['scores']['mse']:.4g}, "
                                         f"mae {entry['scores']['mae']:.4g}")
    np.testing.assert_allclose(fig.axes[1].lines[1].get_ydata(), truth[:, 1])  # the truth, in shares
