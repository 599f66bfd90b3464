"""The command line: a real run through Hydra, one-line errors, sweep folders that never collide."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from helpers.config import REPO
from helpers.data_cli import assert_one_line_error
from helpers.run_cli import run_cli
from vidpred.models import MODELS

TINY = ["data.train_size=64", "data.val_size=16", "data.test_size=16", "trainer.max_epochs=1",
        "trainer.progress=off"]


def vidpred_run(args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "HYDRA_FULL_ERROR": "0"}
    env.pop("VIDPRED_DEBUG", None)
    return subprocess.run([sys.executable, "-m", "vidpred.run", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=300)


def test_a_run_from_the_command_line_writes_its_folder(tmp_path: Path) -> None:
    out = tmp_path / "run"
    proc = vidpred_run([*TINY, "model=mean", f"hydra.run.dir={out}"], tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert f"run folder {out}" in proc.stdout
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["status"] == "completed" and metrics["choices"]["model"] == "mean"
    assert (out / ".hydra" / "config.yaml").is_file() and (out / "history.csv").is_file()


@pytest.mark.parametrize("override, message", [
    ("layers=0", "layers must be a whole number >= 1, got 0"),
    ("optim.lr=-1", "optim.lr must be positive, got -1"),
    ("data.horizon=0", "data.horizon must be at least 1, got 0"),
    ("trainer.precision=8", "unknown trainer.precision 8; choose auto, 32, bf16 or 16"),
    ("trainer.max_epochs=0", "trainer.max_epochs must be at least 1"),
    ("data.batch_size=0", "data.batch_size must be at least 1"),
    ("resume=true", "resume=true but"),
    ("+trainer.colour=3", "trainer: got an unexpected keyword argument 'colour'"),
    ("+optim.momentum=0.9", "optim: got an unexpected keyword argument 'momentum'"),
    ("optim.lr=abc", "optim.lr must be a number, got 'abc'"),
    ("trainer.max_epochs=abc", "trainer.max_epochs must be a whole number, got 'abc'"),
    ("data.train_size=abc", "data.train_size must be a whole number, got 'abc'"),
])
def test_impossible_values_end_in_one_line(tmp_path: Path, capsys, override: str, message: str) -> None:
    """In-process, through the real command line (Hydra included); the exit code and the one line
    of a separate process are checked by test_a_separate_process_exits_2_with_one_line."""
    out = tmp_path / "run"
    code, _, err = run_cli(capsys, *TINY, override, f"hydra.run.dir={out}")
    assert_one_line_error(code, err, message)
    # nothing half-written: the run folder records the failure
    assert json.loads((out / "metrics.json").read_text())["status"] == "failed"


def test_a_separate_process_exits_2_with_one_line(tmp_path: Path) -> None:
    proc = vidpred_run([*TINY, "optim.lr=-1", f"hydra.run.dir={tmp_path / 'run'}"], tmp_path)
    assert proc.returncode == 2 and proc.stderr == "error: optim.lr must be positive, got -1\n", proc.stderr


def test_no_cuda_is_a_one_line_error(tmp_path: Path, capsys) -> None:
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA: the error case cannot happen")
    code, _, err = run_cli(capsys, *TINY, "trainer=gpu", f"hydra.run.dir={tmp_path / 'run'}")
    assert_one_line_error(code, err, "no CUDA GPU is visible")


def test_unknown_config_option_fails_with_the_choices(tmp_path: Path, capsys) -> None:
    code, _, err = run_cli(capsys, "model=gru", f"hydra.run.dir={tmp_path / 'run'}")
    assert_one_line_error(code, err, f"unknown option model=gru; choose one of {', '.join(sorted(MODELS))}")


def test_debug_switch_shows_the_traceback(tmp_path: Path) -> None:
    env = {**os.environ, "VIDPRED_DEBUG": "1", "HYDRA_FULL_ERROR": "1"}
    proc = subprocess.run([sys.executable, "-m", "vidpred.run", *TINY, "layers=0",
                           f"hydra.run.dir={tmp_path / 'run'}"], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode != 0 and "Traceback" in proc.stderr and "ConfigError" in proc.stderr


def test_makefile_help_lists_the_targets() -> None:
    proc = subprocess.run(["make", "-s", "help"], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0
    for target in ("demo", "test", "help"):
        assert f"make {target}" in proc.stdout


def test_debug_fast_runs_a_few_batches(tmp_path: Path) -> None:
    from helpers.config import experiment_config
    from vidpred.experiment import run_experiment

    results = run_experiment(experiment_config(["debug=fast", "data.train_size=400", "data.val_size=100",
                                                "data.test_size=300"]), tmp_path)
    assert results["train"]["steps"] == 5 and results["test"]["sequences"] == 2 * 64


def test_a_bad_logger_setting_marks_the_run_failed(tmp_path: Path, capsys) -> None:
    out = tmp_path / "run"
    code, _, err = run_cli(capsys, *TINY, "logger=wandb", "logger.mode=sometimes", f"hydra.run.dir={out}")
    assert_one_line_error(code, err, "logger.mode='sometimes'")
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["status"] == "failed" and "logger.mode" in metrics["error"]
