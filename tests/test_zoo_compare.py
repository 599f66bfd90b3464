"""experiment=zoo: the comparison set as one sweep, and the report's compute-matched table and figure,
checked against the run folders the sweep wrote."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from hydra import compose, initialize_config_dir

from helpers.data_fabricate import fabricate_mnist
from vidpred.config import CONFIG_DIR
from vidpred.models import build_model
from vidpred.plots import read_samples
from vidpred.report import build_report
from vidpred.report.collect import collect
from vidpred.report.compare import comparison_panels, comparisons
from vidpred.report.figures import samples_figure

REPO = Path(__file__).resolve().parents[1]
MEMBERS = ["convlstm_l1", "convlstm_l2", "convlstm_l3", "predrnn", "simvp_gsta", "simvp_tau"]


def test_the_zoo_preset_sweeps_every_member_with_seeds_at_the_published_sizes() -> None:
    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
        preset = compose(config_name="config", overrides=["experiment=zoo"], return_hydra_config=True)
        params = preset.hydra.sweeper.params
        assert params["zoo"].split(",") == MEMBERS and params["seed"].split(",") == ["0", "1", "2"]
        assert preset.data.name == "mnist" and preset.metrics.lpips is True
        seen = {}
        for member in MEMBERS:
            cfg = compose(config_name="config", overrides=["experiment=zoo", f"zoo={member}"])
            seen[member] = (cfg.model.name, cfg.layers, dict(cfg.model))
        small = compose(config_name="config", overrides=["experiment=zoo", "zoo=simvp_tau", "zoo_size=small"])
        alone = compose(config_name="config", overrides=["zoo=predrnn", "data=mnist"])  # without the preset
    assert [seen[m][:2] for m in MEMBERS] == [("convlstm", 1), ("convlstm", 2), ("convlstm", 3), ("predrnn", 4),
                                               ("simvp", 1), ("simvp", 1)]
    assert seen["convlstm_l2"][2]["hidden"] == 64 and seen["predrnn"][2]["hidden"] == 128
    assert [seen[m][2]["translator"] for m in ("simvp_gsta", "simvp_tau")] == ["gsta", "tau"]
    assert (seen["simvp_tau"][2]["translator_hidden"], seen["simvp_tau"][2]["translator_layers"]) == (512, 8)
    assert (small.model.translator, small.model.translator_hidden, small.model.translator_layers) == ("tau", 64, 2)
    assert alone.model.hidden == 128


@pytest.fixture(scope="module")
def zoo_sweep(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real zoo sweep, small: three members (two of one model), two seeds, a few steps each on fabricated digits."""
    root = tmp_path_factory.mktemp("zoo")
    fabricate_mnist(root / "data", train=0, test=60, test_seq=None)
    sweep = root / "sweep"
    done = subprocess.run(
        [sys.executable, "-m", "vidpred.run", "-m", "experiment=zoo", "zoo_size=small",
         "zoo=convlstm_l1,convlstm_l2,simvp_tau", "seed=0,1", "metrics.lpips=false",
         "data.train_digits=test", "data.test_source=generated", "data.train_size=8", "data.val_size=4",
         "data.test_size=8", "trainer.max_steps=2", "trainer.progress=off", f"paths.data_dir={root / 'data'}",
         f"hydra.sweep.dir={sweep}"],
        cwd=REPO, capture_output=True, text=True, timeout=900, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert done.returncode == 0, done.stderr[-3000:]
    return sweep


def test_each_zoo_run_records_its_cost(zoo_sweep: Path) -> None:
    folders = sorted(p for p in zoo_sweep.iterdir() if p.is_dir())
    assert [f.name.split("_", 1)[1] for f in folders] == sorted(
        f"{m}_mnist_s{s}" for m in ("convlstm_l1", "convlstm_l2", "simvp_tau") for s in (0, 1))
    for folder in folders:
        metrics = json.loads((folder / "metrics.json").read_text())
        config = yaml.safe_load((folder / ".hydra" / "config.yaml").read_text())
        model = config["model"]
        built = build_model(model["name"], "video", (1, 64, 64), {k: v for k, v in model.items() if k != "name"})
        assert metrics["macs_per_sample"] == built.macs_per_sample((1, 64, 64), 10, 10) > 0
        assert metrics["params"] == sum(p.numel() for p in built.parameters())
        inference = metrics["inference"]
        # eight test items in batches of four; the first batch is left out of the timing
        assert inference["samples"] == 4 and inference["seconds"] > 0
        assert inference["samples_per_second"] == pytest.approx(inference["samples"] / inference["seconds"])
        assert metrics["train"]["samples_per_second"] > 0


def test_the_report_compares_the_models_at_their_cost(zoo_sweep: Path, tmp_path: Path) -> None:
    report = build_report([zoo_sweep], tmp_path / "report")
    table = pd.read_csv(tmp_path / "report" / "compare_mnist.csv")
    assert list(table["model"]) == ["ConvLSTM", "ConvLSTM", "SimVP"]
    assert list(table["layers"].fillna(-1)) == [1, 2, -1] and list(table["n"]) == [2, 2, 2]
    runs = {p.name: json.loads((p / "metrics.json").read_text()) for p in zoo_sweep.iterdir() if p.is_dir()}
    for row, member in zip(table.itertuples(), ("convlstm_l1", "convlstm_l2", "simvp_tau")):
        mine = [m for name, m in runs.items() if f"_{member}_" in name]
        assert row.params == mine[0]["params"] and row.macs_per_sample == mine[0]["macs_per_sample"]
        tests = pd.Series([m["test"]["mse"] for m in mine])
        assert row.test_mse == pytest.approx(tests.mean()) and row.test_mse_std == pytest.approx(tests.std())
        speeds = pd.Series([m["inference"]["samples_per_second"] for m in mine])
        assert row.inference_samples_per_second == pytest.approx(speeds.mean())
    assert "test_lpips" not in table.columns  # the runs computed none
    text = report.markdown.read_text()
    assert "## Models compared on mnist" in text and "| ConvLSTM | 2 |" in text
    # errors in scientific notation, PSNR (dB) and SSIM as plain decimals, each with its n
    row = next(line for line in text.splitlines() if line.startswith("| SimVP |"))
    cells = [c.strip() for c in row.strip("|").split("|")]
    assert re.fullmatch(r"\d\.\d{3}e[-+]\d\d ± \d\.\de[-+]\d\d \(n=2\)", cells[6]), cells  # test mse
    assert re.fullmatch(r"\d+\.\d\d ± \d+\.\d\d \(n=2\)", cells[8]), cells  # test psnr
    assert re.fullmatch(r"-?\d\.\d{3} ± \d\.\d{3} \(n=2\)", cells[9]), cells  # test ssim
    assert float(cells[8].split()[0]) == pytest.approx(table["test_psnr"].iloc[2], abs=0.005)

    figure = tmp_path / "report" / "figures" / "compare_mnist.png"
    assert figure in report.figures


def test_the_comparison_figure_shows_one_item_as_every_model_predicted_it(zoo_sweep: Path, tmp_path: Path) -> None:
    rows = comparisons(collect([zoo_sweep]))["mnist"]
    notes: list[str] = []
    panels = comparison_panels("mnist", rows, notes)
    names = [name for name, _ in panels]
    assert names == ["ConvLSTM (1 layer)", "ConvLSTM (2 layers)", "SimVP"] and notes == []
    for (_, found), row in zip(panels, rows):  # each row's seed-0 run, all on the same test item
        seed0 = next(r for r in row.done if r.choices["seed"] == 0)
        assert (found["prediction"] == read_samples(seed0.path / "samples")["prediction"]).all()
        assert (found["truth"][0] == panels[0][1]["truth"][0]).all()
    fig = samples_figure(panels, "t")
    labels = [ax.get_ylabel() for ax in fig.axes if ax.get_ylabel()]
    assert labels == ["truth", *(f"{n}\n{what}" for n in names for what in ("prediction", "|difference|")),
                      "|truth - prediction|"]  # the colour bar

    # a run whose saved item is another one is left out, and the note says so
    moved = tmp_path / "moved"
    shutil.copytree(zoo_sweep, moved)
    odd = next(r for r in comparisons(collect([moved]))["mnist"][1].done if r.choices["seed"] == 0)
    path = odd.path / "samples" / "predictions.npz"
    with np.load(path) as found:
        arrays = dict(found)
    arrays["truth"] = arrays["truth"][::-1].copy()
    np.savez_compressed(path, **arrays)
    panels = comparison_panels("mnist", comparisons(collect([moved]))["mnist"], notes)
    assert [name for name, _ in panels] == ["ConvLSTM (1 layer)", "SimVP"]
    assert len(notes) == 1 and notes[0].startswith("compare_mnist.png: ConvLSTM (2 layers) left out")
