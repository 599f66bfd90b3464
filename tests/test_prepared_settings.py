"""What ``prepare`` was told is the prepared set's default for every later run, show and predict, and
it is written down: a run that contradicts it is refused in one line naming the command that
prepares the set again. Video sets also say which clips went to which split, and ``show`` names the
clip or file an item comes from."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import yaml

from helpers.data_cli import assert_one_line_error, cli
from helpers.data_fabricate import yahoo_daily_csv
from helpers.media_fabricate import fabricate_pans
from helpers.run_cli import run_cli

TINY = ["model.hidden=4", "trainer.max_epochs=1", "trainer.max_steps=2", "trainer.limit_val_batches=1",
        "trainer.limit_test_batches=1", "trainer.progress=off"]


@pytest.fixture
def prices(tmp_path: Path) -> Path:
    """Daily Yahoo CSVs of three tickers the study never used: six numeric columns each."""
    for k, ticker in enumerate(("ACME", "GLOBEX", "INITECH")):
        yahoo_daily_csv(tmp_path / "prices" / f"{ticker}.csv", k, start="2019-01-02", end="2020-12-31",
                        null_days=("2019-07-10",), empty_volume_days=("2020-02-12",))
    return tmp_path / "prices"


def test_a_series_run_takes_the_prepared_columns_and_gap(tmp_path: Path, prices: Path, capsys,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("vidpred.experiment.save_samples", lambda *args, **kwargs: [])  # figures: tested elsewhere
    data = tmp_path / "data"
    code, out, err = cli(capsys, "prepare", "series", "--src", prices, "--data-dir", data, "--name", "yahoo",
                         "data.columns=[Close]", "data.max_gap=4D")
    assert code == 0, err
    assert "kept as the set's defaults for every run, show and predict: data.columns=[Close] data.max_gap=4D" in out
    manifest = json.loads((data / "yahoo" / "manifest.json").read_text())
    assert manifest["settings"] == {"columns": ["Close"], "max_gap": "4D"}
    assert manifest["source"] == str(prices.resolve())

    run = tmp_path / "run"
    code, _, err = run_cli(capsys, "data=series", "data.set=yahoo", f"paths.data_dir={data}", *TINY,
                           f"hydra.run.dir={run}")
    assert code == 0, err
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["data"]["columns"] == ["Close"] and metrics["data"]["frame_shape"] == [1]  # not all six
    assert metrics["settings"]["data.columns"] == ["Close"] and metrics["settings"]["data.max_gap"] == "4D"
    saved = yaml.safe_load((run / ".hydra" / "config.yaml").read_text())["data"]
    assert saved["columns"] == ["Close"] and saved["max_gap"] == "4D"  # what predict and resume read

    # show takes them too; verify lists them
    code, out, err = cli(capsys, "show", "series", "--name", "yahoo", "--data-dir", data, "--out", tmp_path / "i.npy")
    assert code == 0 and np.load(tmp_path / "i.npy").shape == (40, 1), err
    code, out, err = cli(capsys, "verify", "series", "--name", "yahoo", "--data-dir", data)
    assert code == 0 and "prepared with (the set's defaults): data.columns=[Close] data.max_gap=4D" in out, err

    # a run that asks for something else is refused, with the command that prepares the set again
    for given, asked in (("data.max_gap=auto", "data.max_gap=auto (prepared: 4D)"),
                         ("data.columns=[Close,Volume]", "data.columns=[Close,Volume] (prepared: [Close])")):
        code, _, err = run_cli(capsys, "data=series", "data.set=yahoo", f"paths.data_dir={data}", given, *TINY,
                               f"hydra.run.dir={tmp_path / 'other'}")
        assert_one_line_error(code, err, asked, "leave data.", "prepare the set again: python -m vidpred.data prepare "
                              f"series --src {prices.resolve()} --name yahoo --data-dir {data}")
    # the value it was prepared with, given again, is no contradiction
    code, _, err = run_cli(capsys, "data=series", "data.set=yahoo", f"paths.data_dir={data}", "data.max_gap=4D",
                           *TINY, f"hydra.run.dir={tmp_path / 'same'}")
    assert code == 0, err


def test_a_set_prepared_again_with_other_columns_does_not_resume_a_run_of_the_old_one(
        tmp_path: Path, prices: Path, capsys, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("vidpred.experiment.save_samples", lambda *args, **kwargs: [])
    data, run = tmp_path / "data", tmp_path / "run"
    assert cli(capsys, "prepare", "series", "--src", prices, "--data-dir", data, "data.columns=[Close]")[0] == 0
    code, _, err = run_cli(capsys, "data=series", f"paths.data_dir={data}", *TINY, "trainer.max_steps=-1",
                           "trainer.limit_train_batches=2", f"hydra.run.dir={run}")
    assert code == 0, err
    assert cli(capsys, "prepare", "series", "--src", prices, "--data-dir", data, "data.columns=[Open,Close]")[0] == 0
    # the completed run's settings hold the columns it trained on: the same command now differs
    code, _, err = run_cli(capsys, "data=series", f"paths.data_dir={data}", *TINY, "trainer.max_steps=-1",
                           "trainer.limit_train_batches=2", f"hydra.run.dir={run}")
    assert_one_line_error(code, err, "holds a completed run with other settings", "data.columns: ['Close'] -> ['Open', 'Close']")


def test_video_prepare_says_which_clips_go_where_and_runs_take_its_geometry(tmp_path: Path, capsys,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("vidpred.experiment.save_samples", lambda *args, **kwargs: [])
    src, data = tmp_path / "clips", tmp_path / "data"
    names = fabricate_pans(src)
    code, out, err = cli(capsys, "prepare", "videos", "--src", src, "--data-dir", data, "--name", "pans",
                         "data.size=16", "data.channels=3", "data.every=2", "data.context=6", "data.horizon=4",
                         "data.stride=4", "data.val_fraction=0.15", "data.test_fraction=0.15")
    assert code == 0, err
    manifest = json.loads((data / "pans" / "manifest.json").read_text())
    splits = manifest["splits"]
    assert sorted(sum(splits.values(), [])) == sorted(names)
    assert {split: len(files) for split, files in splits.items()} == {"train": 5, "val": 1, "test": 1}
    lines = out.splitlines()
    for split, files in splits.items():
        # 36 frames every 2 -> 18 per clip: windows of 10 frames every 4 start at 0, 4, 8 -> 3 per clip
        line = next(line for line in lines if line.startswith(f"{split}: "))
        assert line.startswith(f"{split}: {len(files)} clip{'s' if len(files) > 1 else ''}, {3 * len(files)} windows "
                               "of 10 frames every 4: ") and all(name in line for name in files)
    code, out, err = cli(capsys, "verify", "videos", "--name", "pans", "--data-dir", data)
    assert code == 0, err
    assert "splits (data.val_fraction 0.15, data.test_fraction 0.15" in out
    assert f"test: 1 clip: {splits['test'][0]}" in out

    # a run names nothing but the set: the geometry, the window and the split come from prepare
    run = tmp_path / "run"
    code, _, err = run_cli(capsys, "data=videos", "data.set=pans", f"paths.data_dir={data}", "data.num_workers=0",
                           *TINY, "model.patch_size=4", f"hydra.run.dir={run}")
    assert code == 0, err
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["choices"]["model"] == "convlstm"
    assert metrics["data"]["frame_shape"] == [3, 16, 16] and metrics["data"]["context"] == 6
    assert metrics["settings"]["data.stride"] == 4 and metrics["settings"]["data.test_fraction"] == 0.15

    # show names the clip and the frames a window comes from
    code, out, err = cli(capsys, "show", "videos", "--name", "pans", "--data-dir", data, "--split", "test",
                         "--index", "1", "--out", tmp_path / "item.npy")
    assert code == 0, err
    assert out.strip().endswith(f"from {splits['test'][0]}, frames 5..14 of 18")
    assert np.load(tmp_path / "item.npy").shape == (10, 3, 16, 16)


def test_show_names_the_file_and_dates_of_a_series_item(tmp_path: Path, prices: Path, capsys) -> None:
    data = tmp_path / "data"
    assert cli(capsys, "prepare", "series", "--src", prices, "--data-dir", data, "data.columns=[Close]")[0] == 0
    code, out, err = cli(capsys, "show", "series", "--data-dir", data, "--split", "test", "--index", "0",
                         "--out", tmp_path / "item.png")
    assert code == 0, err
    assert "from ACME.csv, 2020-" in out  # the first test window: the latest part of the first file


def test_stocks_with_other_tickers_point_at_the_keys_that_choose_them(tmp_path: Path, prices: Path, capsys) -> None:
    data = tmp_path / "data"
    (data / "stocks").mkdir(parents=True)
    for path in prices.iterdir():
        (data / "stocks" / path.name).write_text(path.read_text())
    code, _, err = run_cli(capsys, "data=stocks", f"paths.data_dir={data}", *TINY, f"hydra.run.dir={tmp_path / 'r'}")
    assert_one_line_error(code, err, "no prices of GOOGL, MSFT, TSLA, AAPL, AMZN, NVDA, FB, AMD",
                          "it holds ACME, GLOBEX, INITECH", "data.tickers=[ACME,GLOBEX,INITECH]", "data=series")
    code, _, err = run_cli(capsys, "data=stocks", f"paths.data_dir={data}", "data.tickers=[ACME,GLOBEX,INITECH]",
                           *TINY, f"hydra.run.dir={tmp_path / 'ok'}")
    assert code == 0, err
    # with no file at all, the command that downloads the study's tickers
    empty = tmp_path / "empty"
    code, _, err = run_cli(capsys, "data=stocks", f"paths.data_dir={empty}", *TINY, f"hydra.run.dir={tmp_path / 'e'}")
    assert_one_line_error(code, err, "python -m vidpred.data download stocks")
