"""The report pools only runs that differ in the seed alone. Run folders are written as run.py writes
them (the composed config in .hydra/, the resolved settings in metrics.json), with known numbers."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from omegaconf import OmegaConf

from vidpred import config, runfolder
from vidpred.report import build_report, collect
from vidpred.report import figures as report_figures
from vidpred.report.study import TABLE1


def job(folder: Path, overrides: list[str], mse: float) -> Path:
    """A completed run folder of the composed ``overrides``, test mse ``mse``."""
    cfg = config.compose(overrides)
    plain = config.to_plain(cfg)
    folder.mkdir(parents=True)
    (folder / ".hydra").mkdir()
    (folder / ".hydra" / "config.yaml").write_text(OmegaConf.to_yaml(cfg))
    (folder / ".hydra" / "overrides.yaml").write_text(OmegaConf.to_yaml(OmegaConf.create(overrides)))
    horizon = plain["data"]["horizon"]
    (folder / "metrics.json").write_text(json.dumps({
        "status": "completed", "error": None, "settings": runfolder.shaping_settings(plain),
        "choices": {"model": plain["model"]["name"], "data": plain["data"]["name"], "layers": plain["layers"],
                    "seed": plain["seed"], "trainer": plain["trainer"]["name"], "precision": "32", "loss": "mse"},
        "test": {"mse": mse, "mse_per_step": [mse * (k + 1) / horizon * 2 for k in range(horizon)]},
        "val": {"mse": mse}}))
    return folder


def test_runs_of_other_settings_never_share_a_cell(tmp_path: Path) -> None:
    sweep = tmp_path / "sweeps"
    # the two runs: a 6-column 3-epoch LSTM and a 1-column 5-epoch LSTM on the same set
    job(sweep / "a" / "six", ["data=series", "data.set=prices", "trainer.max_epochs=3"], 0.60)
    job(sweep / "b" / "one", ["data=series", "data.set=prices", "data.columns=[Close]", "trainer.max_epochs=5"], 0.54)
    # two seeds of one experiment, and a run that only logged differently: one cell
    for seed, mse in ((0, 0.30), (1, 0.34)):
        job(sweep / "c" / f"s{seed}", ["data=series", "data.set=other", "data.columns=[Close]", "trainer.max_epochs=5",
                                       f"seed={seed}"], mse)
    job(sweep / "c" / "quiet", ["data=series", "data.set=other", "data.columns=[Close]", "trainer.max_epochs=5",
                                "seed=2", "trainer.progress=off", "trainer.log_every_n_steps=7"], 0.38)
    out = tmp_path / "report"
    build_report([sweep], out, with_figures=False)
    pivot = pd.read_csv(out / "pivot.csv")
    cells = {row["variant"]: (row["n"], row["mean"]) for _, row in pivot.iterrows() if row["n"] > 0}
    assert cells == {
        "data.columns=null, data.set=prices, trainer.max_epochs=3": (1, 0.60),
        "data.columns=[Close], data.set=prices, trainer.max_epochs=5": (1, 0.54),
        "data.columns=[Close], data.set=other, trainer.max_epochs=5": (3, pytest.approx(0.34)),
    }
    md = (out / "pivot.md").read_text()
    assert "| lstm, 1 [data.columns=[Close], data.set=other, trainer.max_epochs=5] | 3.400e-01 ± 4.0e-02 (n=3) |" in md

    # the per-step figure draws them as three curves, labelled by what sets them apart
    fig = report_figures.per_step_figure("series", collect([sweep]))
    labels = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert len(labels) == 3 and "lstm l1 [data.columns=null, data.set=prices, trainer.max_epochs=3] (n=1)" in labels


def test_a_study_ratio_only_where_the_settings_are_the_studys(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    job(runs / "study_s0", ["data=sins", "seed=0"], 4.0e-4)
    job(runs / "study_s1", ["data=sins", "seed=1", "trainer.progress=log", "trainer.device=cpu"], 6.0e-4)
    job(runs / "short", ["data=sins", "trainer.max_epochs=3", "data.train_size=2000"], 0.115)
    job(runs / "adamw", ["data=sins", "optim.name=adamw"], 5.0e-4)
    for layers in (1, 2):  # a baseline at two layer counts is one experiment, and the study's
        job(runs / f"last_l{layers}", ["data=sins", "model=last", f"layers={layers}"], 0.2)
    # nor does the training loop mean anything to it: another seed with 3 epochs pools with it
    job(runs / "last_short", ["data=sins", "model=last", "seed=1", "trainer.max_epochs=3", "optim.lr=0.01"], 0.3)
    out = tmp_path / "report"
    build_report([runs], out, with_figures=False)
    table = pd.read_csv(out / "table1.csv")
    sins = table[table["data"] == "sins"].set_index("row")
    study = TABLE1.study_value("sins", 1)
    assert sins.loc["LSTM, 1 layer", "n"] == 2 and sins.loc["LSTM, 1 layer", "ratio"] == pytest.approx(5.0e-4 / study)
    short = sins.loc["LSTM, 1 layer [data.train_size=2000, trainer.max_epochs=3]"]
    assert short["n"] == 1 and short["mean"] == 0.115 and np.isnan(short["ratio"])
    assert np.isnan(sins.loc["LSTM, 1 layer [optim.name=adamw]", "ratio"])
    assert sins.loc["baseline: last value", "n"] == 2 and sins.loc["baseline: last value", "mean"] == 0.25
    md = (out / "table1.md").read_text()
    row = next(line for line in md.splitlines() if "trainer.max_epochs=3" in line)
    assert "| 1.150e-01 (n=1) | 4.950e-04 | other settings |" in row  # not "ratio 232.32"
    assert "rows marked [...] hold runs whose settings differ from the study's" in md
