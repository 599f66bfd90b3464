"""Ctrl-C and SIGTERM through the real command: a real child process, signals sent at random moments
to the process or to its whole process group (as ``timeout``, SLURM and a terminal's Ctrl-C do),
with and without DataLoader workers. Every stop exits 130 with ``last.pt`` saved, and the same
command run again ends bit for bit where an uninterrupted run ends."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from helpers.config import REPO, experiment_config

# About 380 steps of a small LSTM: a second or two of training after a few seconds of start-up.
ARGS = ["trainer.device=cpu", "data.train_size=3000", "data.val_size=64", "data.test_size=64", "data.batch_size=16",
        "model.hidden=8", "trainer.max_epochs=2", "trainer.progress=off", "trainer.log_every_n_steps=20"]
# Keys of metrics.json "train" that say how long the run took, not what it computed.
TIMING = ("seconds", "samples_per_second", "resumed_from_step")


def start(run_dir: Path, workers: int) -> subprocess.Popen:
    """``python -m vidpred.run`` in a process group of its own, so the group can be signalled."""
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    env.pop("VIDPRED_DEBUG", None)
    run_dir.parent.mkdir(parents=True, exist_ok=True)
    return subprocess.Popen([sys.executable, "-m", "vidpred.run", *ARGS, f"data.num_workers={workers}",
                             f"hydra.run.dir={run_dir}"], cwd=run_dir.parent, env=env, start_new_session=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def finish(proc: subprocess.Popen) -> tuple[int, str]:
    _, err = proc.communicate(timeout=300)
    return proc.returncode, err


def catches_sigterm(pid: int) -> bool:
    """Whether the process has its own SIGTERM handler yet (before that, SIGTERM kills it)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("SigCgt:"):
            return bool(int(line.split()[1], 16) >> (signal.SIGTERM - 1) & 1)
    return False


def wait_for(condition, proc: subprocess.Popen) -> None:  # noqa: ANN001
    deadline = time.monotonic() + 120
    while not condition():
        assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
        time.sleep(0.01)


def outcome(run_dir: Path) -> dict:
    """What the run computed: metrics without timings, history without times, both checkpoints' weights."""
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["status"] == "completed", metrics
    history = [line.rsplit(",", 1)[0] for line in (run_dir / "history.csv").read_text().splitlines()]
    weights = {name: torch.load(run_dir / "checkpoints" / name, weights_only=True)["model"]
               for name in ("best.pt", "last.pt")}
    return {"test": metrics["test"], "val": metrics["val"], "history": history, "weights": weights,
            "train": {k: v for k, v in metrics["train"].items() if k not in TIMING}}


def assert_same(resumed: dict, reference: dict) -> None:
    for name, state in reference["weights"].items():
        assert state.keys() == resumed["weights"][name].keys()
        for key, tensor in state.items():
            assert torch.equal(resumed["weights"][name][key], tensor), (name, key)
    assert {k: v for k, v in resumed.items() if k != "weights"} == {k: v for k, v in reference.items()
                                                                   if k != "weights"}


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, float]:
    """An uninterrupted run: what it computed and how long it trained."""
    run_dir = tmp_path_factory.mktemp("straight") / "run"
    code, err = finish(start(run_dir, workers=0))
    assert code == 0, err
    return outcome(run_dir), json.loads((run_dir / "metrics.json").read_text())["train"]["seconds"]


def stop_and_resume(tmp_path: Path, reference: tuple[dict, float], sig: signal.Signals, group: bool,
                    workers: int, early: bool, rng: random.Random) -> None:
    """One trial: a signal at a random moment, then the same command again until it completes."""
    computed, train_seconds = reference
    run_dir = tmp_path / f"{sig.name}_{'group' if group else 'process'}_{workers}_{'early' if early else 'training'}"
    proc = start(run_dir, workers)
    if early:  # anywhere from the imports through the data and the first steps
        wait_for(lambda: catches_sigterm(proc.pid), proc)
        delay = rng.uniform(0.0, 4.0)
    else:  # once metrics.json says running, training is about to start
        wait_for(lambda: (run_dir / "metrics.json").is_file(), proc)
        delay = rng.uniform(0.0, 1.2 * train_seconds)
    time.sleep(delay)
    (os.killpg if group else os.kill)(proc.pid, sig)
    code, err = finish(proc)
    assert "Traceback" not in err and "DataLoader worker" not in err, err
    # 0, or killed by the signal: it came after the run had ended (Python's shutdown restores the
    # default handlers); the run is complete then, as the comparison below checks
    if code not in (0, -sig):
        assert code == 130, (delay, err)
        assert err.strip().splitlines()[-1].startswith("interrupted"), err
        last = run_dir / "checkpoints" / "last.pt"
        if (run_dir / "metrics.json").is_file():  # the run had begun: it saved where it stood
            metrics = json.loads((run_dir / "metrics.json").read_text())
            assert metrics["status"] == "failed" and metrics["error"].startswith(f"interrupted ({sig.name}"), metrics
            assert last.is_file(), (delay, err)
        else:
            assert "nothing was written" in err and not last.exists(), err
        code, err = finish(start(run_dir, workers))
        assert code == 0, err
    assert_same(outcome(run_dir), computed)


@pytest.mark.parametrize("sig, group, workers, early", [
    (signal.SIGTERM, False, 0, True),   # the process alone, from start-up on
    (signal.SIGINT, True, 2, False),    # its group, loader workers included, while it trains
])
def test_a_signal_at_a_random_moment_stops_and_the_rerun_matches(tmp_path: Path, reference: tuple[dict, float],
                                                                  sig: signal.Signals, group: bool, workers: int,
                                                                  early: bool) -> None:
    seed = random.randrange(1 << 30)
    print(f"random seed {seed}")  # shown when the test fails
    stop_and_resume(tmp_path, reference, sig, group, workers, early, random.Random(seed))


@pytest.mark.slow
def test_many_signals_at_random_moments(tmp_path: Path, reference: tuple[dict, float]) -> None:
    seed = random.randrange(1 << 30)
    print(f"random seed {seed}")
    rng = random.Random(seed)
    for trial in range(16):
        sig, group, workers, early = (rng.choice([signal.SIGINT, signal.SIGTERM]), rng.random() < 0.5,
                                      rng.choice([0, 2]), rng.random() < 0.25)
        stop_and_resume(tmp_path / str(trial), reference, sig, group, workers, early, rng)


def test_a_second_signal_ends_the_process_at_once_and_a_forwarded_one_does_not() -> None:
    script = ("import time\nfrom vidpred.training import stop\nrequest = stop.StopRequest()\nstop.install(request)\n"
              "print('ready', flush=True)\nwhile not request.requested: time.sleep(0.01)\n"
              "print('requested', flush=True)\ntime.sleep(30)\n")
    proc = subprocess.Popen([sys.executable, "-c", script], cwd=REPO, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    assert proc.stdout.readline() == "ready\n"
    proc.send_signal(signal.SIGINT)
    proc.send_signal(signal.SIGTERM)  # the same request, forwarded by a launcher: no abort
    assert proc.stdout.readline() == "requested\n"
    time.sleep(1.5)  # a person's second Ctrl-C, after the window in which repeats are forwarded copies
    assert proc.poll() is None
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=20)
    lines = err.splitlines()
    assert proc.returncode == 130 and "Traceback" not in err, err
    assert lines[0].startswith("SIGINT: stopping after the current step") and len(lines) == 2, err
    assert lines[1].startswith("interrupted (SIGINT again): stopped at once"), err


@pytest.mark.parametrize("limits", [["trainer.max_epochs=2"], ["trainer.max_epochs=2", "trainer.max_steps=6"]])
def test_a_stop_during_validation_saves_before_it_and_the_resume_validates(tmp_path: Path, limits: list[str],
                                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """The request arrives while the first validation runs (here: from inside it, in-process): the run
    stops between two validation batches with last.pt from before the validation, and the resume
    validates first; with max_steps the validation comes after a mid-epoch stop, which the
    checkpoint must remember."""
    from vidpred.training import stop
    from vidpred.metrics.scores import MetricAccumulator
    from vidpred.experiment import run_experiment
    from vidpred.training import trainer as trainer_module

    args = ["data.train_size=160", "data.val_size=48", "data.test_size=16", "data.batch_size=16", "model.hidden=8",
            "trainer.progress=off", "trainer.log_every_n_steps=2", *limits]
    torch.set_num_threads(1)
    straight = run_experiment(experiment_config(args), tmp_path / "straight")

    request = stop.StopRequest()

    class Interrupting(MetricAccumulator):
        def update(self, prediction: torch.Tensor, target: torch.Tensor) -> None:
            super().update(prediction, target)
            request.ask("SIGTERM")  # as SIGTERM would, after the first validation batch

    monkeypatch.setattr(trainer_module, "make_accumulator", lambda kind, lpips=None: Interrupting())
    with pytest.raises(stop.StopRequested, match="SIGTERM: saved .* at step "):
        run_experiment(experiment_config(args), tmp_path / "run", stop=request)
    monkeypatch.undo()
    state = torch.load(tmp_path / "run" / "checkpoints" / "last.pt", weights_only=True)
    assert state["validation_due"] and state["summary"]["best_val_mse"] is None  # saved before the validation
    assert not (tmp_path / "run" / "checkpoints" / "best.pt").exists()
    resumed = run_experiment(experiment_config(args), tmp_path / "run")
    assert resumed["train"]["resumed_from_step"] == state["summary"]["steps"] > 0
    assert resumed["test"] == straight["test"] and resumed["val"] == straight["val"]
    history = [[line.rsplit(",", 1)[0] for line in (tmp_path / run / "history.csv").read_text().splitlines()]
               for run in ("run", "straight")]  # without the time column
    assert history[0] == history[1]
    assert sum(bool(line.split(",")[3]) for line in history[0][1:]) == (1 if "max_steps" in str(limits) else 2)
