"""Sweeps: the study's presets, the launchers, and a real tiny sweep (parallel, with wandb offline
and a failing job) through the report."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import matplotlib.image as mpimg
import pandas as pd
import pytest
import torch
from hydra import compose, initialize_config_dir
from hydra.utils import instantiate
from omegaconf import DictConfig

from helpers.config import config_groups
from vidpred.config import CONFIG_DIR
from test_wandb import items, of_type, wandb_records

REPO = Path(__file__).resolve().parents[1]
TINY = ["trainer.max_epochs=1", "trainer.limit_train_batches=2", "trainer.log_every_n_steps=1",
        "data.train_size=32", "data.val_size=16", "data.test_size=16", "data.batch_size=8", "trainer.progress=off"]


def compose_with_hydra(overrides: list[str]) -> DictConfig:
    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
        return compose(config_name="config", overrides=overrides, return_hydra_config=True)


@pytest.mark.parametrize("preset, models, data", [
    ("table1", {"lstm", "last", "mean", "linear"}, {"noise", "sins", "stocks"}),
    ("table2", {"convlstm", "last", "mean"}, {"mnist", "kth", "bair"}),
])
def test_presets_sweep_the_study_grid(preset: str, models: set[str], data: set[str]) -> None:
    params = compose_with_hydra([f"experiment={preset}"]).hydra.sweeper.params
    assert set(params["model"].split(",")) == models
    assert set(params["data"].split(",")) == data
    assert params["layers"].split(",") == ["1", "2", "3"]
    # every option the grid names exists in conf/, so the sweep composes
    assert models <= set(config_groups("model"))
    assert data <= set(config_groups("data"))


def test_parallel_launcher_sets_the_threads_of_each_job() -> None:
    cfg = compose_with_hydra(["hydra/launcher=parallel"])
    assert cfg.hydra.launcher._target_.endswith("JoblibLauncher")
    assert cfg.hydra.launcher.n_jobs == -1
    callback = instantiate(cfg.hydra.callbacks.threads)
    before = torch.get_num_threads()
    try:
        callback.on_job_start(config=cfg)
        assert torch.get_num_threads() == 1 and os.environ["OMP_NUM_THREADS"] == "1"
    finally:
        torch.set_num_threads(before)


def test_slurm_preset_composes_into_a_submitit_launcher() -> None:
    pytest.importorskip("hydra_plugins.hydra_submitit_launcher", reason="the cluster extra is not installed")
    cfg = compose_with_hydra(["hydra/launcher=slurm", "hydra.launcher.partition=gpu",
                              "hydra.launcher.cpus_per_task=6", "hydra.sweep.dir=/scratch/sweep"])
    launcher = cfg.hydra.launcher
    assert launcher._target_.endswith("submitit_launcher.SlurmLauncher")
    assert (launcher.partition, launcher.gpus_per_node, launcher.tasks_per_node) == ("gpu", 1, 1)
    assert launcher.submitit_folder == "/scratch/sweep/.submitit/%j"
    assert cfg.hydra.callbacks.threads.threads == 6  # threads follow the CPUs asked for
    built = instantiate(launcher)
    assert type(built).__name__ == "SlurmLauncher" and built.params["partition"] == "gpu"
    # several GPUs per job: one task per GPU, on every node asked for
    many = compose_with_hydra(["hydra/launcher=slurm", "hydra.launcher.gpus_per_node=4", "hydra.launcher.nodes=2",
                               "experiment=table2", "hydra.sweep.dir=/scratch/sweep"]).hydra.launcher
    assert (many.nodes, many.gpus_per_node, many.tasks_per_node) == (2, 4, 4)
    assert instantiate(many).params["tasks_per_node"] == 4


def run_module(module: str, args: list[str], env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", module, *args], cwd=REPO, capture_output=True, text=True,
                          timeout=600, env={**os.environ, **(env or {})})


@pytest.fixture(scope="module")
def sweeps(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A parallel sweep of the Table 1 preset (narrowed to 2 models x 2 data sets x 2 layer counts) with
    wandb offline, and a second sweep whose only job fails."""
    root = tmp_path_factory.mktemp("sweeps")
    env = {"WANDB_MODE": "offline", "WANDB_SILENT": "true", "WANDB_API_KEY": "",
           "HOME": str(root / "home"), "WANDB_CONFIG_DIR": str(root / "home" / "wandb")}
    grid = run_module("vidpred.run", ["-m", "experiment=table1", "model=lstm,last", "data=sins,noise",
                                      "layers=1,2", "hydra/launcher=parallel", "logger=wandb", *TINY,
                                      f"hydra.sweep.dir={root / 'grid'}"], env)
    assert grid.returncode == 0, grid.stderr[-3000:]
    bad = run_module("vidpred.run", ["-m", "model=lstm", "data=sins", "layers=3", "optim.lr=-1", *TINY,
                                     f"hydra.sweep.dir={root / 'bad'}"])
    assert bad.returncode != 0  # Hydra records the failed job and the sweep exits non-zero
    return root


def test_the_sweep_wrote_every_job_and_the_failure(sweeps: Path) -> None:
    jobs = sorted(p.name for p in (sweeps / "grid").iterdir() if p.is_dir())
    assert sorted(j.split("_", 1)[1] for j in jobs) == sorted(f"{m}_{d}_l{n}_s0" for m in ("lstm", "last")
                                                              for d in ("sins", "noise") for n in (1, 2))
    assert {(json.loads((sweeps / "grid" / j / "metrics.json").read_text())["status"]) for j in jobs} == {"completed"}
    failed = json.loads(next((sweeps / "bad").glob("*/metrics.json")).read_text())
    assert failed["status"] == "failed" and "optim.lr" in failed["error"]


def test_wandb_groups_the_sweep_and_holds_each_jobs_metrics(sweeps: Path) -> None:
    groups = set()
    for run_dir in sorted(p for p in (sweeps / "grid").iterdir() if p.is_dir()):
        metrics = json.loads((run_dir / "metrics.json").read_text())
        records = wandb_records(run_dir)
        run = of_type(records, "run")[0]
        groups.add(run.run_group)
        assert run.job_type == metrics["choices"]["data"] and run.display_name == run_dir.name
        summary = {}
        for update in of_type(records, "summary"):
            summary.update(items(update.update))
        assert summary["test/mse"] == pytest.approx(metrics["test"]["mse"], rel=1e-9)
        assert of_type(records, "exit")[0].exit_code == 0
    assert groups == {f"{sweeps.name}/grid"}  # one group: the sweep


def test_report_of_the_sweeps_matches_the_runs(sweeps: Path, tmp_path: Path) -> None:
    from vidpred.report import build_report

    out = tmp_path / "report"
    report = build_report([sweeps / "grid", sweeps / "bad"], out)
    assert len(report.runs) == 9 and sum(not run.completed for run in report.runs) == 1

    table = pd.read_csv(out / "table1.csv")
    # the tiny runs are not the study's experiment: rows of their own, saying how they differ, no ratio
    tiny = table[table["variant"].fillna("").str.contains("data.train_size=32")]
    assert tiny["ratio"].isna().all()
    for metrics_file in (sweeps / "grid").glob("*/metrics.json"):
        metrics = json.loads(metrics_file.read_text())
        c = metrics["choices"]
        if c["model"] == "lstm":
            cell = tiny[(tiny["model"] == "lstm") & (tiny["layers"] == c["layers"]) & (tiny["data"] == c["data"])]
        else:  # a baseline is one row whatever the layers: its runs at two layer counts count once
            cell = tiny[(tiny["model"] == c["model"]) & (tiny["data"] == c["data"])]
        assert len(cell) == 1 and cell.iloc[0]["n"] == 1
        assert cell.iloc[0]["mean"] == pytest.approx(metrics["test"]["mse"], rel=1e-12)
    sins_l3 = table[(table["model"] == "lstm") & (table["layers"] == 3) & (table["data"] == "sins")]
    failed_cell = sins_l3[sins_l3["not_completed"] == 1].iloc[0]
    assert failed_cell["n"] == 0 and "optim.lr=-1" in failed_cell["variant"]

    md = (out / "report.md").read_text()
    failure = next(line for line in md.splitlines() if "0_lstm_sins_l3_s0" in line)
    assert "| failed |" in failure and "optim.lr must be positive" in failure
    figures = sorted((out / "figures").glob("*.png"))
    assert {"loss_sins.png", "per_step_noise.png", "samples_sins_lstm.png"} <= {f.name for f in figures}
    for figure in figures:
        assert figure.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and mpimg.imread(figure).ndim == 3
