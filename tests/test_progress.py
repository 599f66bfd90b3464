"""Progress says what a run costs: throughput with the digits it needs, the time left from the first
steps, and a warning at the start of a CPU run whose training is going to take long. Step times come
from a clock these tests drive, so nothing here depends on the machine's speed."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

import vidpred.training.trainer as trainer_module
from helpers.config import experiment_config
from vidpred.experiment import run_experiment
from vidpred.training.progress import LONG_RUN_SECONDS, duration_text, long_run_warning, rate_text

SMALL = ["data.train_size=256", "data.val_size=16", "data.test_size=16", "model.hidden=4", "trainer.progress=log",
         "trainer.device=cpu"]


@pytest.mark.parametrize("rate, text", [(0.2521, "0.252"), (3.2, "3.2"), (42.53, "42.5"), (8136.4, "8,136"),
                                        (0.0004, "0.0004")])
def test_throughput_keeps_its_digits(rate: float, text: str) -> None:
    assert rate_text(rate) == text


@pytest.mark.parametrize("seconds, text", [(8640, "2h 24m"), (190, "3m 10s"), (12.4, "12s"), (0, "0s")])
def test_durations_read_as_people_say_them(seconds: float, text: str) -> None:
    assert duration_text(seconds) == text


def test_only_a_long_cpu_run_is_warned_about() -> None:
    assert long_run_warning(16.0, 540, "cuda", "video") is None
    assert long_run_warning(1.0, int(LONG_RUN_SECONDS) - 1, "cpu", "sequence") is None
    warning = long_run_warning(16.0, 540, "cpu", "video")
    assert warning.startswith("this run's training is estimated at 2h 24m on the CPU (16 s a step, 540 steps)")
    assert "trainer=gpu" in warning and "model.patch_size=4" in warning and "data.size=32" in warning


class Clock:
    """``time`` for the trainer: every reading is ``step`` seconds after the one before."""

    def __init__(self, step: float) -> None:
        self.now, self.step = 0.0, step

    def perf_counter(self) -> float:
        self.now += self.step
        return self.now


def test_a_slow_step_shows_its_fraction_of_a_sample_a_second(tmp_path: Path, caplog: pytest.LogCaptureFixture,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(trainer_module, "time", Clock(20.0))  # every step takes 20 s by this clock
    monkeypatch.setattr("vidpred.experiment.save_samples", lambda *args, **kwargs: [])
    caplog.set_level(logging.INFO, logger="vidpred")
    # batches of 4 items at 20 s a step: 0.2 samples a second; six steps in all, the run stops there
    run_experiment(experiment_config([*SMALL, "data.batch_size=4", "trainer.max_epochs=30", "trainer.max_steps=6"]),
                   tmp_path)
    steps = [r.getMessage() for r in caplog.records if "  batch " in r.getMessage()]
    assert steps[0].startswith("epoch 1/30  batch 1/64  step 1/6  loss ")
    assert steps[0].endswith("  0.2 samples/s  ETA 1m 40s")  # not "0 samples/s"; five steps of 20 s left
    # six steps of 20 s are no long run, whatever max_epochs would allow
    assert not [r for r in caplog.records if r.levelno == logging.WARNING and "estimated" in r.getMessage()]


def test_the_estimate_covers_the_whole_run_and_comes_after_three_steps(tmp_path: Path,
                                                                       caplog: pytest.LogCaptureFixture,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(trainer_module, "time", Clock(20.0))
    monkeypatch.setattr("vidpred.experiment.save_samples", lambda *args, **kwargs: [])
    caplog.set_level(logging.INFO, logger="vidpred")
    # 256 items in batches of 64: 4 steps an epoch, 30 epochs = 120 steps of 20 s: 40 minutes
    run_experiment(experiment_config([*SMALL, "trainer.max_epochs=30", "trainer.log_every_n_steps=40"]), tmp_path)
    records = [(r.levelno, r.getMessage()) for r in caplog.records]
    warnings = [m for level, m in records if level == logging.WARNING and "estimated" in m]
    assert warnings == ["this run's training is estimated at 40m 00s on the CPU (20 s a step, 120 steps): on a CUDA "
                        "GPU run it with trainer=gpu, or make it smaller (model.hidden, data.train_size, "
                        "trainer.max_epochs)"]
    messages = [m for _, m in records]
    at = messages.index(warnings[0])
    assert sum("  batch " in m for m in messages[:at]) == 1  # after the first step's line: at the start
    steps = [m for m in messages if "  batch " in m]
    assert steps[0].endswith("3.2 samples/s  ETA 39m 40s")  # 119 steps left at 20 s
    assert steps[-1].split("  step ")[1].startswith("120/120") and steps[-1].endswith("ETA 0s")
