"""End-to-end runs: the run folder's files and keys, learning, resume, precision."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
import torch

from helpers.config import InterruptAt, experiment_config
from vidpred.experiment import run_experiment

SMALL = ["data.train_size=2000", "data.val_size=200", "data.test_size=500", "trainer.progress=off"]


def run(overrides: list[str], run_dir: Path, callbacks=()) -> dict:
    return run_experiment(experiment_config([*SMALL, *overrides]), run_dir, callbacks)


def test_run_folder_has_every_file_and_key(tmp_path: Path) -> None:
    results = run(["trainer.max_epochs=2", "trainer.log_every_n_steps=10", "model.hidden=32"], tmp_path)
    on_disk = json.loads((tmp_path / "metrics.json").read_text())
    assert on_disk["status"] == "completed" and on_disk["error"] is None
    assert on_disk["choices"]["model"] == "lstm" and on_disk["choices"]["data"] == "sins"
    assert on_disk["choices"]["layers"] == 1 and on_disk["choices"]["seed"] == 0
    test = on_disk["test"]
    assert len(test["mse_per_step"]) == 20 and len(test["mae_per_step"]) == 20
    assert test["mse"] == pytest.approx(sum(test["mse_per_step"]) / 20)
    assert test["mse_frame"] == pytest.approx(test["mse"])  # D = 1
    assert test["sequences"] == 500
    assert on_disk["val"]["mse"] == pytest.approx(on_disk["train"]["best_val_mse"])
    train = on_disk["train"]
    assert train["epochs"] == 2 and train["steps"] == 2 * 32 and train["samples"] == 2 * 2000
    assert train["samples_per_second"] > 0 and train["seconds"] > 0
    assert on_disk["params"] == sum(4 * 32 * (1 + 32 + 2) for _ in range(2)) + 32 + 1
    assert on_disk["versions"]["torch"] == torch.__version__
    assert on_disk["device"] == "cpu" and on_disk["precision"] == "32"
    assert results["test"]["mse"] == on_disk["test"]["mse"]

    rows = list(csv.DictReader(open(tmp_path / "history.csv")))
    assert [r["step"] for r in rows if r["val_mse"]] == ["32", "64"]
    assert sum(1 for r in rows if r["train_loss"]) == 6  # every 10 of 64 steps
    assert float(rows[-1]["lr"]) == pytest.approx(1e-3)
    assert (tmp_path / "checkpoints" / "last.pt").is_file() and (tmp_path / "checkpoints" / "best.pt").is_file()
    png = (tmp_path / "samples" / "predictions.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 10_000
    assert not list(tmp_path.rglob("*.tmp"))  # atomic writes leave no temp files


@pytest.mark.slow  # 12 epochs; test_promises bounds a shorter run by last and linear in the fast suite
def test_lstm_learns_sines_far_better_than_baselines(tmp_path: Path) -> None:
    lstm = run(["trainer.max_epochs=12"], tmp_path / "lstm")["test"]["mse"]
    last = run(["model=last"], tmp_path / "last")["test"]["mse"]
    mean = run(["model=mean"], tmp_path / "mean")["test"]["mse"]
    assert lstm * 10 < min(last, mean)


@pytest.mark.parametrize(("interrupt_at", "model"), [
    (40, ["model.teacher_forcing=0.3"]),  # mid-epoch, scheduled sampling (the stepped decoder)
    (64, ["model.teacher_forcing=0.3"]),  # right at an epoch's end
    (40, ["layers=2"]),                   # the written-backward decoder of several layers
])
def test_resume_after_interruption_matches_an_uninterrupted_run(tmp_path: Path, interrupt_at: int,
                                                                model: list[str]) -> None:
    settings = ["trainer.max_epochs=3", "trainer.checkpoint_every_n_steps=25", "optim.scheduler=cosine",
                *model, "trainer.log_every_n_steps=8", "model.hidden=32"]
    straight = run(settings, tmp_path / "straight")
    with pytest.raises(KeyboardInterrupt):
        run(settings, tmp_path / "resumed", callbacks=[InterruptAt(interrupt_at)])
    interrupted = json.loads((tmp_path / "resumed" / "metrics.json").read_text())
    assert interrupted["status"] == "failed" and "resume" in interrupted["error"]
    resumed = run(settings, tmp_path / "resumed")  # the folder holds last.pt: resumes by itself
    assert resumed["train"]["resumed_from_step"] == interrupt_at
    assert resumed["train"]["steps"] == straight["train"]["steps"] == 96
    assert resumed["test"]["mse_per_step"] == straight["test"]["mse_per_step"]
    assert resumed["val"]["mse"] == straight["val"]["mse"]
    history = [open(tmp_path / d / "history.csv").read() for d in ("straight", "resumed")]
    strip_time = [[line.rsplit(",", 1)[0] for line in h.splitlines()] for h in history]
    assert strip_time[0] == strip_time[1]


def test_resume_true_without_a_checkpoint_is_an_error(tmp_path: Path) -> None:
    from vidpred.errors import ConfigError

    with pytest.raises(ConfigError, match="resume=true but"):
        run(["resume=true"], tmp_path)
    assert json.loads((tmp_path / "metrics.json").read_text())["status"] == "failed"


def test_bf16_autocast_runs_on_the_cpu(tmp_path: Path) -> None:
    results = run(["trainer.precision=bf16", "trainer.max_steps=20", "trainer.max_epochs=1"], tmp_path)
    assert results["precision"] == "bf16" and results["status"] == "completed"
    assert 0 < results["test"]["mse"] < 1


def test_max_steps_stops_mid_epoch_and_validates(tmp_path: Path) -> None:
    results = run(["trainer.max_steps=5", "trainer.gradient_clip_val=1.0"], tmp_path)
    assert results["train"]["steps"] == 5 and results["train"]["epochs"] == 0
    assert results["val"]["mse"] > 0


def test_linear_baseline_run_on_sines(tmp_path: Path) -> None:
    results = run(["model=linear"], tmp_path)
    assert results["train"]["steps"] == 0 and results["test_checkpoint"] == "fitted"
    assert results["test"]["mse"] < 1e-3


def test_resume_from_another_run_brings_its_best_weights(tmp_path: Path) -> None:
    """resume=PATH into a new folder: the test still scores the best weights of the whole history."""
    first = run(["trainer.max_epochs=2"], tmp_path / "first")
    second = run(["trainer.max_epochs=2", f"resume={tmp_path / 'first'}"], tmp_path / "second")
    assert second["train"]["resumed_from_step"] == first["train"]["steps"]
    assert (tmp_path / "second" / "checkpoints" / "best.pt").read_bytes() == \
        (tmp_path / "first" / "checkpoints" / "best.pt").read_bytes()
    assert second["test"]["mse"] == first["test"]["mse"]


def test_the_folders_own_checkpoint_wins_over_resume_path(tmp_path: Path) -> None:
    from vidpred.experiment import resume_checkpoint

    other = tmp_path / "other" / "checkpoints"
    other.mkdir(parents=True)
    (other / "last.pt").write_bytes(b"x")
    own = tmp_path / "own" / "checkpoints"
    assert resume_checkpoint(str(tmp_path / "other"), tmp_path / "own") == other / "last.pt"
    own.mkdir(parents=True)
    (own / "last.pt").write_bytes(b"y")
    assert resume_checkpoint(str(tmp_path / "other"), tmp_path / "own") == own / "last.pt"


def test_linear_baseline_counts_its_fitted_weights(tmp_path: Path) -> None:
    assert run(["model=linear"], tmp_path)["params"] == 20 * 20 + 20
