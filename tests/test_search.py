"""python -m vidpred.search: Optuna's ask/tell on its current release line. A search killed mid-trial
and run again ends with n_trials distinct trials, the killed one continued exactly from its last.pt;
a hopeless trial is pruned; two workers share one study without running a trial twice; the report
names the best trial or the Pareto front. Real processes where the promise is about processes,
tiny configs everywhere."""

from __future__ import annotations

import importlib.metadata
import json
import os
import random
import signal
import subprocess
import sys
import time
import tomllib
from pathlib import Path

import pandas as pd
import pytest
import yaml

from helpers.config import REPO, experiment_config
from helpers.run_cli import run_cli
from vidpred.search.command import main as search_main
from vidpred.search.space import override, trial_overrides
from vidpred.search.study import make_pruner, make_sampler, storage_label
from vidpred.search.trial import ReportEpochs
from vidpred.search.worker import plan
from vidpred.errors import Pruned, UserError
from vidpred.report import build_report
from vidpred.experiment import run_experiment

optuna = pytest.importorskip("optuna", reason="the search extra is not installed")
from optuna.storages import JournalStorage  # noqa: E402
from optuna.storages.journal import JournalFileBackend  # noqa: E402
from optuna.trial import TrialState  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_thread_no_figures")

# 16 steps an epoch, four epochs; only the learning rate is searched
TINY = ["model.hidden=8", "data.train_size=256", "data.val_size=32", "data.test_size=32", "data.batch_size=16",
        "trainer.max_epochs=4", "trainer.progress=off", "~hparams_search.params.model",
        "hparams_search.params.optim.lr='tag(log, interval(1e-3, 3e-2))'"]
ENV = {**os.environ, "OMP_NUM_THREADS": "1"}  # the children compute as this process does (one thread)


def command(folder: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "vidpred.search", *TINY, f"hparams_search.dir={folder}", *extra]


def load(folder: Path, name: str = "lstm_sins_l1") -> optuna.Study:
    """The study as optuna.load_study reads it from another process (optuna-dashboard does the same)."""
    return optuna.load_study(study_name=name, storage=JournalStorage(JournalFileBackend(str(folder / "study.journal"))))


def metrics(run_dir: Path) -> dict:
    return json.loads((run_dir / "metrics.json").read_text())


def status(run_dir: Path) -> str | None:
    try:
        return metrics(run_dir)["status"]
    except (OSError, ValueError):
        return None


def running_with_checkpoint(folder: Path) -> list[Path]:
    return [d for d in sorted(folder.glob("trial_*"))
            if status(d) == "running" and (d / "checkpoints" / "last.pt").is_file()]


def freeze(proc: subprocess.Popen) -> None:
    """SIGSTOP, and wait until the kernel has stopped it (nothing it writes is half-way then)."""
    os.kill(proc.pid, signal.SIGSTOP)
    while Path(f"/proc/{proc.pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "T":
        time.sleep(0.001)


def freeze_mid_trial(proc: subprocess.Popen, folder: Path, timeout: float = 120) -> Path:
    """Stop the search at whatever moment it is in, until that moment is in the middle of a trial's
    run (metrics.json says running, a last.pt exists, no journal write under way); returns that run."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, "the search ended before it was caught in the middle of a trial"
        if running_with_checkpoint(folder):
            freeze(proc)
            caught = running_with_checkpoint(folder)
            if caught and not (folder / "study.journal.lock").exists():
                return caught[0]
            os.kill(proc.pid, signal.SIGCONT)
        time.sleep(0.005)
    raise AssertionError("no trial was caught mid-way")


# ---------------------------------------------------------------- the preset and its checks
def test_the_preset_composes_a_checked_search_space(tmp_path: Path) -> None:
    job = plan([f"hparams_search.dir={tmp_path}"])
    space = job.space
    assert job.search.objectives == ["val_mse"] and job.search.directions == ["minimize"]
    assert space["optim.lr"] == optuna.distributions.FloatDistribution(1e-4, 1e-2, log=True)
    assert space["model.hidden"] == optuna.distributions.CategoricalDistribution([16, 32, 64, 128])
    assert space["model.teacher_forcing"] == optuna.distributions.FloatDistribution(0.0, 0.5)
    assert job.search.name == "lstm_sins_l1" and job.search.folder == tmp_path
    job.search.storage = "postgresql://ann:s3cret@db.lab:5432/studies"
    assert storage_label(job.search) == "postgresql://ann:***@db.lab:5432/studies"  # search.json shows no password
    # every form of Hydra's sweep syntax, and plain values held fixed for every trial
    job = plan([f"hparams_search.dir={tmp_path}", "model=convlstm", "data=mnist",
                        "+hparams_search.params.model.kernel_size='range(1, 8, 2)'",
                        "+hparams_search.params.model.patch_size='tag(log, int(interval(1, 8)))'",
                        "+hparams_search.params.optim.name='choice(adam, adamw)'",
                        "+hparams_search.params.trainer.max_epochs=3"])
    assert job.space["model.kernel_size"] == optuna.distributions.IntDistribution(1, 7, step=2)
    assert job.space["model.patch_size"] == optuna.distributions.IntDistribution(1, 8, log=True)
    assert job.space["optim.name"] == optuna.distributions.CategoricalDistribution(["adam", "adamw"])
    assert job.fixed == {"trainer.max_epochs": 3} and job.search.name == "convlstm_mnist_l1"
    assert trial_overrides(["model=convlstm", "hparams_search.n_trials=3", "optim.lr=0.5"], job.fixed,
                                   {"optim.lr": 0.01, "optim.name": "adam"}) == \
        ["model=convlstm", "trainer.max_epochs=3", "optim.lr=0.01", "optim.name=adam"]


@pytest.mark.parametrize("value", [1e-05, 0.001, 3, -2, True, None, "adam", "1e-3", "two words", "it's", "null"])
def test_an_override_parses_back_to_the_value_it_was_made_from(value: object) -> None:
    from hydra.core.override_parser.overrides_parser import OverridesParser

    parsed = OverridesParser.create().parse_override(override("optim.x", value)).value()
    assert parsed == value and type(parsed) is type(value)


@pytest.mark.parametrize("overrides, message", [
    (["hparams_search.objectives=[test_mse]"], "test set plays no part"),
    (["hparams_search.objectives=[val_mse,train_samples_per_second]"], "hparams_search.pruner=none"),
    (["hparams_search.sampler=grid"], "choose tpe or random"),
    (["hparams_search.params.optim.lr='interval(1e-2, 1e-4)'"], "low < high"),
    (["hparams_search.params.optim.lr='tag(log, interval(0, 1))'"], "positive low end"),
    (["hparams_search.params.optim.lr='interval(1e-4'"], "write interval(a, b)"),
    (["+hparams_search.params.optim.lrr='interval(1e-4, 1e-2)'"], "optim.lrr"),
    (["hparams_search.enqueue=[{optim: {wd: 1}}]"], "optim.wd is not searched"),
    (["~hparams_search.params"], "hparams_search.params"),
])
def test_a_bad_search_setting_is_one_line_before_any_trial(tmp_path: Path, overrides: list[str], message: str) -> None:
    with pytest.raises(UserError) as caught:
        plan([f"hparams_search.dir={tmp_path}", *overrides])
    assert message in str(caught.value) and "\n" not in str(caught.value)
    assert not list(tmp_path.iterdir())  # nothing written


def test_without_optuna_the_search_says_how_to_install_it(capsys: pytest.CaptureFixture,
                                                         monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setitem(sys.modules, "optuna", None)  # as where the search extra is not installed
    with pytest.raises(SystemExit) as done:
        search_main([f"hparams_search.dir={tmp_path}"])
    err = capsys.readouterr().err
    assert done.value.code == 2 and err == "error: the search needs Optuna: pip install -e '.[search]' in the clone " \
        "(make install does)\n"


def test_the_run_command_sends_a_search_to_its_own_command(capsys: pytest.CaptureFixture, tmp_path: Path) -> None:
    code, _, err = run_cli(capsys, "-m", "hparams_search=optuna", f"hydra.sweep.dir={tmp_path}")
    assert code == 2 and err.strip().startswith("error: hparams_search=optuna is a search")
    assert "python -m vidpred.search" in err and not list(tmp_path.iterdir())


def test_a_restarted_study_draws_as_one_that_never_stopped(tmp_path: Path) -> None:
    """Seeds per trial number: a study continued by a new process (a new sampler object) draws what
    the uninterrupted study draws, TPE's modelled draws included, and never its first trials again."""
    job = plan([f"hparams_search.dir={tmp_path}", "hparams_search.startup_trials=2", "hparams_search.seed=7"])

    def objective(trial: optuna.trial.FrozenTrial) -> float:
        return (trial.params["optim.lr"] - 3e-3) ** 2 + trial.params["model.teacher_forcing"]

    def ask_and_tell(study: optuna.Study, count: int) -> None:
        for _ in range(count):
            trial = study.ask(job.space)
            study.tell(trial, objective(trial))

    straight = optuna.create_study(sampler=make_sampler(job.search))
    ask_and_tell(straight, 5)
    storage = JournalStorage(JournalFileBackend(str(tmp_path / "journal")))
    ask_and_tell(optuna.create_study(study_name="s", storage=storage, sampler=make_sampler(job.search)), 2)
    restarted = optuna.load_study(study_name="s", storage=storage, sampler=make_sampler(job.search))
    ask_and_tell(restarted, 3)
    assert [t.params for t in restarted.trials] == [t.params for t in straight.trials]
    assert len({t.params["optim.lr"] for t in restarted.trials}) == 5
    # what the per-trial seed prevents: a sampler seeded once repeats its first draws after a restart
    plain = optuna.samplers.TPESampler(seed=7, n_startup_trials=2)
    ask_and_tell(optuna.create_study(study_name="p", storage=storage, sampler=plain), 1)
    repeated = optuna.load_study(study_name="p", storage=storage, sampler=optuna.samplers.TPESampler(seed=7, n_startup_trials=2))
    ask_and_tell(repeated, 1)
    assert repeated.trials[1].params == repeated.trials[0].params


def test_the_halving_pruner_judges_at_its_first_rung_of_min_epochs(tmp_path: Path) -> None:
    """The epochs go through the trainer callback the search installs (a trainer with no history)."""
    job = plan([f"hparams_search.dir={tmp_path}", "hparams_search.pruner=halving",
                        "hparams_search.min_epochs=2", "hparams_search.reduction_factor=2"])
    study = optuna.create_study(pruner=make_pruner(job.search))
    trainer = type("Trainer", (), {"summary": type("Summary", (), {"history": []})()})()
    good = study.ask()
    hook = ReportEpochs(good, "val_mse", "halving")
    for epoch in (1, 2, 3):
        hook.on_validation_end(trainer, epoch, {"mse": 0.1})
    study.tell(good, 0.1)
    bad = study.ask()
    hook = ReportEpochs(bad, "val_mse", "halving")
    hook.on_validation_end(trainer, 1, {"mse": 0.5})  # no rung before min_epochs
    with pytest.raises(Pruned, match="pruned after epoch 2 by the halving pruner: validation mse 0.5"):
        hook.on_validation_end(trainer, 2, {"mse": 0.5})  # the worse of two at the rung, where 1 in 2 goes on
    assert bad.study.trials[1].intermediate_values == {1: 0.5, 2: 0.5}


# ---------------------------------------------------------------- crashes, pruning, workers
def test_a_search_killed_mid_trial_continues_it_exactly_and_repeats_nothing(tmp_path: Path) -> None:
    folder = tmp_path / "search"
    # the pruner hears every epoch but, with this many startup trials, never prunes here
    args = command(folder, "hparams_search.n_trials=3", "hparams_search.startup_pruning=50")
    first = subprocess.Popen(args, cwd=tmp_path, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        killed = freeze_mid_trial(first, folder)
        os.kill(first.pid, signal.SIGKILL)
    finally:
        first.kill()
        first.communicate()
    assert first.returncode == -signal.SIGKILL and status(killed) == "running"

    again = subprocess.run(args, cwd=tmp_path, env=ENV, capture_output=True, text=True, timeout=600)
    assert again.returncode == 0, again.stderr[-3000:]
    log_lines = again.stderr.splitlines()
    # vidpred's own opening line first; no plugin set-up lines of Hydra or Optuna anywhere
    assert "][vidpred][INFO] - search lstm_sins_l1: 3 trial(s) of val_mse" in log_lines[0]
    assert not [line for line in log_lines if "HYDRA" in line or "[I 20" in line or "Warning" in line]

    study = load(folder)
    complete = [t for t in study.trials if t.state == TrialState.COMPLETE]
    failed = [t for t in study.trials if t.state == TrialState.FAIL]
    assert len(complete) == 3 and len(failed) == 1 and len(study.trials) == 4
    interrupted = failed[0]
    assert interrupted.user_attrs["interrupted"] and "is gone (killed?)" in interrupted.user_attrs["reason"]
    assert interrupted.user_attrs["run_dir"] == killed.name
    continuation = next(t for t in complete if t.user_attrs.get("continues") == interrupted.number)
    assert continuation.params == interrupted.params and continuation.user_attrs["run_dir"] == killed.name
    assert len({t.params["optim.lr"] for t in complete}) == 3  # no draw repeated after the restart
    assert f"trial {continuation.number} continues trial {interrupted.number}" in again.stderr

    for trial in complete:  # the run folders and the study agree
        found = metrics(folder / trial.user_attrs["run_dir"])
        assert found["status"] == "completed" and found["search"]["trial"] == trial.number
        assert found["val"]["mse"] == trial.values[0]
    resumed = metrics(killed)
    assert resumed["train"]["resumed_from_step"] > 0 and resumed["search"]["continues"] == interrupted.number

    # the continued trial is, bit for bit, the run of its settings that nobody interrupted
    overrides = yaml.safe_load((killed / ".hydra" / "overrides.yaml").read_text())
    assert f"optim.lr={continuation.params['optim.lr']!r}" in overrides
    reference = run_experiment(experiment_config(overrides), tmp_path / "reference")
    assert resumed["val"] == reference["val"] and resumed["test"] == reference["test"]
    history = pd.read_csv(killed / "history.csv").drop(columns="time")
    pd.testing.assert_frame_equal(history, pd.read_csv(tmp_path / "reference" / "history.csv").drop(columns="time"))
    # every epoch was reported to the continuation, those before the crash from its checkpoint
    epochs = history.dropna(subset=["val_mse"])
    assert continuation.intermediate_values == dict(zip(epochs["epoch"].astype(int), epochs["val_mse"]))

    summary = json.loads((folder / "search.json").read_text())
    assert [(t["number"], t["state"], t["run_dir"]) for t in summary["trials"]] == \
        [(t.number, t.state.name, t.user_attrs["run_dir"]) for t in study.trials]
    best = min(complete, key=lambda t: t.values[0])
    assert summary["best"] == [best.number] and f"best trial {best.number}: val_mse {best.values[0]:.4g}" in again.stdout

    markdown = build_report([folder], tmp_path / "report").markdown.read_text()
    assert (f"Best trial: {best.number} (run folder `{best.user_attrs['run_dir']}`), val_mse "
            f"{best.values[0]:.4g}") in markdown
    assert f"continued by trial {continuation.number}" in markdown


@pytest.mark.slow  # two searches in new processes, on top of the SIGKILL test of the same promise
def test_sigterm_at_any_moment_stops_the_search_and_the_same_command_continues_it(tmp_path: Path) -> None:
    folder = tmp_path / "search"
    args = command(folder, "hparams_search.n_trials=3", "hparams_search.pruner=none")
    moment = random.uniform(0.0, 2.5)  # seconds after the study opened: anywhere in its three trials
    first = subprocess.Popen(args, cwd=tmp_path, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        while not (folder / "search.json").is_file():
            assert first.poll() is None and time.monotonic() < deadline, first.stderr.read() if first.stderr else ""
            time.sleep(0.01)
        time.sleep(moment)
        first.send_signal(signal.SIGTERM)
        _, err = first.communicate(timeout=120)
    finally:
        if first.poll() is None:
            first.kill()
    assert first.returncode in (0, 130), f"SIGTERM {moment:.2f} s in: exit {first.returncode}: {err[-2000:]}"
    if first.returncode == 130:
        assert err.strip().endswith("interrupted: run the same command again to continue the study")
    again = subprocess.run(args, cwd=tmp_path, env=ENV, capture_output=True, text=True, timeout=600)
    assert again.returncode == 0, again.stderr[-3000:]
    study = load(folder)
    complete = [t for t in study.trials if t.state == TrialState.COMPLETE]
    assert len(complete) == 3 and len({t.params["optim.lr"] for t in complete}) == 3, f"SIGTERM {moment:.2f} s in"
    for trial in study.trials:
        assert trial.state in (TrialState.COMPLETE, TrialState.FAIL)
        if trial.state == TrialState.FAIL:  # only ever an interrupted trial, continued by a completed one
            assert trial.user_attrs["interrupted"], trial.user_attrs
            continuation = next(t for t in complete if t.user_attrs.get("continues") == trial.number)
            assert continuation.params == trial.params
            assert continuation.user_attrs["run_dir"] == trial.user_attrs["run_dir"]


def test_a_hopeless_trial_is_pruned_and_reported(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    folder = tmp_path / "search"
    with pytest.raises(SystemExit) as done:
        search_main([*TINY, f"hparams_search.dir={folder}", "hparams_search.n_trials=2",
                      "hparams_search.params.optim.lr='tag(log, interval(1e-7, 1e-1))'",
                      # a learning rate that works, then one that cannot learn anything in four epochs
                      "hparams_search.enqueue=[{optim: {lr: 0.03}}, {optim: {lr: 1e-7}}]",
                      "hparams_search.startup_pruning=1", "hparams_search.warmup_epochs=1"])
    assert done.value.code == 0
    study = load(folder)
    good, bad = study.trials
    assert (good.state, bad.state) == (TrialState.COMPLETE, TrialState.PRUNED)
    assert bad.params == {"optim.lr": 1e-7} and list(bad.intermediate_values) == [1]
    assert bad.intermediate_values[1] > good.intermediate_values[1]
    pruned = metrics(folder / bad.user_attrs["run_dir"])
    assert pruned["status"] == "pruned" and pruned["error"].startswith("pruned after epoch 1 by the median pruner")
    assert pruned["search"]["trial"] == bad.number
    history = pd.read_csv(folder / bad.user_attrs["run_dir"] / "history.csv")
    assert history["epoch"].max() <= 1  # it trained one epoch of four

    from vidpred.report.search import objective_figure, searches
    from vidpred.report.collect import collect

    # the report command reads the search where Optuna cannot even be imported
    without_optuna = ("import runpy, sys; sys.modules['optuna'] = None; sys.argv[0] = 'vidpred.report'; "
                      "runpy.run_module('vidpred.report', run_name='__main__')")
    done = subprocess.run([sys.executable, "-c", without_optuna, str(folder), "--out", str(tmp_path / "report")],
                          cwd=tmp_path, env=ENV, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    markdown = (tmp_path / "report" / "report.md").read_text()
    assert f"| {bad.number} | pruned | {bad.values[0]:.4g} (epoch 1) | 1e-07 | `trial_0001` | pruned after epoch 1" in markdown
    assert "trial_0001` | lstm | sins | 1 | 0 | pruned | pruned after epoch 1" in markdown  # a run that did not complete
    assert "2 trials of 2: 1 completed, 1 pruned" in markdown

    figures: list = []
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("vidpred.plots.save_figure", lambda fig, path: figures.append(fig))
        objective_figure(searches(collect([folder]))[0], tmp_path)
    per_trial, per_epoch = figures[0].axes
    ticks = [t for t in per_trial.get_xticks() if per_trial.get_xlim()[0] <= t <= per_trial.get_xlim()[1]]
    assert ticks and all(float(t).is_integer() for t in ticks)  # trials are whole numbers
    assert per_trial.get_xlabel() == "trial number" and per_trial.get_ylabel().startswith("val_mse")
    points = {line.get_label(): line.get_xydata().tolist() for line in per_trial.get_lines()}
    assert points["completed"] == [[0, good.values[0]]] and points["pruned (at its last epoch)"] == [[1, bad.values[0]]]
    curves = {line.get_label(): line.get_xydata().tolist() for line in per_epoch.get_lines()}
    assert curves["pruned"] == [[1, bad.intermediate_values[1]]] and len(curves["completed"]) == 4
    assert all(float(t).is_integer() for t in per_epoch.get_xticks())


def test_two_workers_share_one_study_without_running_a_trial_twice(tmp_path: Path) -> None:
    """Worker A is frozen in the middle of its first trial; worker B, started meanwhile, takes the
    other trials, leaves A's alone (A holds its lock) and waits for it; A then finishes its trial."""
    folder = tmp_path / "search"
    args = command(folder, "hparams_search.n_trials=3", "hparams_search.pruner=none")
    a = subprocess.Popen(args, cwd=tmp_path, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    b = None
    try:
        held = freeze_mid_trial(a, folder)
        b = subprocess.Popen(args, cwd=tmp_path, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 300
        while not (folder / "search.json").is_file() or sum(
                t["state"] == "COMPLETE" for t in json.loads((folder / "search.json").read_text())["trials"]) < 2:
            assert b.poll() is None and time.monotonic() < deadline, "worker B did not run the other trials"
            time.sleep(0.05)
        assert status(held) == "running"  # A's trial, untouched while A is alive
        os.kill(a.pid, signal.SIGCONT)
        a_out, a_err = a.communicate(timeout=300)
        b_out, b_err = b.communicate(timeout=300)
    finally:
        for proc in (a, b):
            if proc is not None and proc.poll() is None:
                proc.kill()
                proc.communicate()
    assert a.returncode == 0 and b.returncode == 0, a_err[-2000:] + b_err[-2000:]
    assert "waiting for 1 trial(s) running in other workers" in b_err
    study = load(folder)
    assert [t.state for t in study.trials] == [TrialState.COMPLETE] * 3
    assert len({t.params["optim.lr"] for t in study.trials}) == 3
    assert len({t.user_attrs["run_dir"] for t in study.trials}) == 3
    workers = {t.user_attrs["run_dir"]: t.user_attrs["worker"] for t in study.trials}
    assert len(set(workers.values())) == 2 and list(workers.values()).count(workers[held.name]) == 1
    assert not list((folder / "workers").iterdir())  # each worker let go of its lock as it ended


def test_two_objectives_in_a_database_give_a_pareto_front_in_the_report(tmp_path: Path) -> None:
    folder, url = tmp_path / "search", f"sqlite:///{tmp_path / 'studies.db'}"
    with pytest.raises(SystemExit) as done:
        search_main([*TINY, f"hparams_search.dir={folder}", "hparams_search.n_trials=3", "hparams_search.pruner=none",
                      "hparams_search.objectives=[val_mse,train_samples_per_second]", "trainer.max_epochs=1",
                      f"hparams_search.storage='{url}'"])
    assert done.value.code == 0
    study = optuna.load_study(study_name="lstm_sins_l1", storage=url)  # SQLAlchemy 2 under Optuna's RDB storage
    assert [t.state for t in study.trials] == [TrialState.COMPLETE] * 3 and not (folder / "study.journal").exists()
    summary = json.loads((folder / "search.json").read_text())
    assert summary["directions"] == ["minimize", "maximize"] and summary["storage"] == url
    assert summary["best"] == sorted(t.number for t in study.best_trials)
    points = {t["number"]: t["values"] for t in summary["trials"]}
    front = sorted(n for n, (mse, speed) in points.items()
                   if not any(m <= mse and s >= speed and (m, s) != (mse, speed) for m, s in points.values()))
    assert summary["best"] == front and front
    for number, (mse, speed) in points.items():
        found = metrics(folder / f"trial_{number:04d}")
        assert (found["val"]["mse"], found["train"]["samples_per_second"]) == (mse, speed)
    markdown = build_report([folder], tmp_path / "report").markdown.read_text()
    assert f"Pareto front ({len(front)} trial" in markdown
    rows = [line for line in markdown.split("Pareto front")[1].split("### Trials")[0].splitlines()
            if line.startswith("| ") and line[2].isdigit()]
    assert [int(row.split("|")[1]) for row in rows] == front


# ---------------------------------------------------------------- packaging
def test_the_search_extra_takes_optunas_current_major_and_caps_nothing() -> None:
    extras = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    assert not [r for r in extras["search"] if "<" in r or "==" in r or "sweeper" in r]
    assert int(importlib.metadata.version("optuna").split(".")[0]) >= 5
    assert int(importlib.metadata.version("sqlalchemy").split(".")[0]) >= 2
