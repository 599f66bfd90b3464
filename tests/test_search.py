"""hparams_search=optuna: Hydra's Optuna sweeper minimising the validation mse, a failed trial
recorded as failed while the search goes on, a resumable study, and the report naming the best."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import compose_config

pytest.importorskip("hydra_plugins.hydra_optuna_sweeper", reason="the search extra is not installed")

TINY = ["model.hidden=8", "data.train_size=64", "data.val_size=16", "data.test_size=16", "data.batch_size=16",
        "trainer.max_epochs=1", "trainer.progress=off"]
# lr -1 is an impossible value: with this seed the third trial draws it and fails; the others complete
SPACE = ["hydra.sweeper.params={optim.lr: 'choice(-1, 0.001, 0.01)'}", "hydra.sweeper.sampler.seed=0"]


def search(sweep: Path, trials: int) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "vidpred.run", "-m", "hparams_search=optuna",
                           f"hydra.sweeper.n_trials={trials}", *SPACE, *TINY, f"hydra.sweep.dir={sweep}"],
                          cwd=sweep.parent, capture_output=True, text=True, timeout=600)


def test_the_preset_searches_the_validation_mse_with_a_seeded_tpe_in_sqlite() -> None:
    cfg = compose_config(["hparams_search=optuna", "hydra.sweep.dir=/tmp/s"])
    from hydra import compose, initialize_config_dir

    from vidpred.config import CONFIG_DIR

    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
        hydra = compose(config_name="config", overrides=["hparams_search=optuna", "hydra.sweep.dir=/tmp/s"],
                        return_hydra_config=True).hydra
    sweeper = hydra.sweeper
    assert sweeper._target_.endswith("OptunaSweeper") and sweeper.direction == "minimize"
    assert sweeper.sampler._target_ == "optuna.samplers.TPESampler" and sweeper.sampler.seed == 0
    assert sweeper.storage == "sqlite:////tmp/s/optuna.db" and sweeper.max_failure_rate == 1.0
    assert set(sweeper.params) == {"optim.lr", "model.hidden", "model.teacher_forcing"}
    assert cfg.model.name == "lstm"


def test_a_search_records_failures_resumes_and_is_reported(tmp_path: Path) -> None:
    sweep = tmp_path / "search"
    done = search(sweep, trials=3)
    assert done.returncode == 0, done.stderr[-3000:]
    trials = sorted(p for p in sweep.iterdir() if p.is_dir())
    statuses = [json.loads((t / "metrics.json").read_text())["status"] for t in trials]
    assert len(trials) == 3 and "failed" in statuses and "completed" in statuses
    with sqlite3.connect(sweep / "optuna.db") as db:
        states = sorted(row[0] for row in db.execute("select state from trials"))
    assert states.count("FAIL") == statuses.count("failed") and states.count("COMPLETE") == statuses.count("completed")

    again = search(sweep, trials=1)  # the same command resumes the study: one trial more, in a folder of its own
    assert again.returncode == 0, again.stderr[-3000:]
    assert len([p for p in sweep.iterdir() if p.is_dir()]) == 4
    with sqlite3.connect(sweep / "optuna.db") as db:
        assert db.execute("select count(*) from trials").fetchone()[0] == 4

    from vidpred.report import build_report

    markdown = build_report([sweep], tmp_path / "report").markdown.read_text()
    best = min((json.loads((t / "metrics.json").read_text())["val"]["mse"], t.name)
               for t in sweep.iterdir() if t.is_dir() and json.loads((t / "metrics.json").read_text())["status"] == "completed")
    assert f"Best trial: `{best[1]}`, validation mse {best[0]:.4g}" in markdown
    assert "| `optim.lr` |" in markdown and (tmp_path / "report" / "figures" / "search_search.png").is_file()
