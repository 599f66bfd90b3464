"""Promises of the README and docs/ that a test can break: each test here fails when its feature is removed.

Sequence data, the trainer, the run folder and the command line. Everything is tiny (a few hundred
items, one or two epochs, hidden 8-32) and runs in-process where it can; the few subprocesses are
the command-line promises themselves. The video promises are in ``test_promises_video.py``.
"""

from __future__ import annotations

import csv
import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from helpers.config import compose_config, experiment_config
from helpers.data_fabricate import stock_csv
from vidpred.data import build_data, FAMILIES
from vidpred.errors import ConfigError, DivergedError
from vidpred.models import MODELS, Forecaster, build_model
from vidpred.models.lstm import Seq2SeqLSTM
from vidpred.experiment import run_experiment
from vidpred.training import checkpoint

# sines, 10 -> 10 steps, 8 batches of 32 per epoch
SEQ = ["data.train_size=256", "data.val_size=64", "data.test_size=64", "data.batch_size=32",
       "data.context=10", "data.horizon=10", "trainer.progress=off", "trainer.device=cpu"]
SINS = dict(context=10, horizon=10, train_size=256, val_size=64, test_size=64,
            seeds={"train": 1, "val": 2, "test": 3})  # conf/data/sins.yaml's seeds
LSTM = ["model.hidden=8"]


pytestmark = pytest.mark.usefixtures("one_thread_no_figures")


def run(overrides: list[str], run_dir: Path, callbacks=()) -> dict:
    return run_experiment(experiment_config([*SEQ, *overrides]), run_dir, callbacks)


def metrics_of(run_dir: Path) -> dict:
    return json.loads((run_dir / "metrics.json").read_text())


def history(run_dir: Path) -> list[dict[str, str]]:
    return list(csv.DictReader(open(run_dir / "history.csv")))


def without_time(run_dir: Path) -> list[dict[str, str]]:
    return [{k: v for k, v in row.items() if k != "time"} for row in history(run_dir)]


def vidpred_run(args: list[str], cwd: Path, **popen) -> subprocess.CompletedProcess | subprocess.Popen:
    env = {**os.environ, "HYDRA_FULL_ERROR": "0", "OMP_NUM_THREADS": "1"}
    env.pop("VIDPRED_DEBUG", None)
    command = [sys.executable, "-m", "vidpred.run", *args]
    if popen:
        return subprocess.Popen(command, cwd=cwd, env=env, text=True, **popen)
    return subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


class AtStep:
    """A callback that calls ``action(trainer)`` at the end of optimizer step ``step``."""

    def __init__(self, step: int, action) -> None:  # noqa: ANN001
        self.step, self.action = step, action

    def on_train_batch_end(self, trainer, step: int, loss: float) -> None:  # noqa: ANN001
        if step == self.step:
            self.action(trainer)


def poison_a_weight(trainer) -> None:  # noqa: ANN001
    with torch.no_grad():
        next(trainer.model.parameters()).view(-1)[0] = float("nan")


def crash(trainer) -> None:  # noqa: ANN001
    raise RuntimeError("simulated crash: nothing is saved, as after a SIGKILL")


def interrupt(trainer) -> None:  # noqa: ANN001
    raise KeyboardInterrupt


# ---------------------------------------------------------------- 1. divergence
def test_a_nan_weight_diverges_at_the_next_step(tmp_path: Path) -> None:
    k = 3
    with pytest.raises(DivergedError, match=f"became nan at step {k + 1};"):
        run([*LSTM, "trainer.max_epochs=1"], tmp_path, [AtStep(k, poison_a_weight)])
    metrics = metrics_of(tmp_path)
    assert metrics["status"] == "diverged"
    assert f"at step {k + 1};" in metrics["error"] and "optim.lr" in metrics["error"]


def test_a_diverging_command_line_run_exits_3(tmp_path: Path, capsys) -> None:
    # Adam moves each weight by about lr per step, so lr=1e6 still ends finite (test mse ~1e12);
    # 1e20 makes the second step's loss overflow float32.
    from helpers.run_cli import run_cli

    out = tmp_path / "run"
    code, _, err = run_cli(capsys, *SEQ, *LSTM, "optim.lr=1e20", "trainer.max_epochs=1", f"hydra.run.dir={out}")
    assert code == 3, err
    last = err.strip().splitlines()[-1]
    assert last.startswith("error: training loss became") and "at step 2;" in last, err
    assert "Traceback" not in err
    metrics = metrics_of(out)
    assert metrics["status"] == "diverged" and "at step 2;" in metrics["error"]


# ---------------------------------------------------------------- 2. best weights are scored
class WreckWeightsAtFitEnd:
    def on_fit_end(self, trainer) -> None:  # noqa: ANN001
        with torch.no_grad():
            for parameter in trainer.model.parameters():
                parameter.zero_()


def test_val_and_test_are_scored_with_the_best_checkpoint(tmp_path: Path) -> None:
    results = run([*LSTM, "trainer.max_epochs=3", "optim.lr=1e-2"], tmp_path, [WreckWeightsAtFitEnd()])
    val_rows = [r for r in history(tmp_path) if r["val_mse"]]
    assert len(val_rows) == 3
    best_row = min(val_rows, key=lambda r: float(r["val_mse"]))
    train = results["train"]
    assert train["best_val_mse"] == float(best_row["val_mse"]) and train["best_epoch"] == int(best_row["epoch"])
    assert results["val"]["mse"] == pytest.approx(train["best_val_mse"], rel=1e-9)

    best = checkpoint.load(tmp_path / "checkpoints" / "best.pt")
    assert best["val_mse"] == train["best_val_mse"]
    model = Seq2SeqLSTM((1,), layers=1, hidden=8)
    model.load_state_dict(best["model"])
    model.eval()
    test = torch.from_numpy(build_data("sins", SINS, "unused").test.array)
    with torch.no_grad():
        prediction = model(test[:, :10], 10)
    per_step = ((prediction.double() - test[:, 10:].double()) ** 2).mean(dim=(0, 2))
    np.testing.assert_allclose(results["test"]["mse_per_step"], per_step.numpy(), rtol=1e-5)
    assert results["test_checkpoint"] == "best"


# ---------------------------------------------------------------- 3. test set vs run seed
def test_the_test_set_does_not_depend_on_the_run_seed_sequences(tmp_path: Path) -> None:
    for data in ("sins", "noise"):
        per_step = [run([f"data={data}", "model=last", f"seed={seed}"], tmp_path / f"{data}{seed}")["test"]
                    for seed in (0, 7)]
        assert per_step[0]["mse_per_step"] == per_step[1]["mse_per_step"], data
        assert per_step[0]["sequences"] == 64


# ---------------------------------------------------------------- 4. resume from a periodic checkpoint
RESUMABLE = [*LSTM, "trainer.max_epochs=2", "trainer.checkpoint_every_n_steps=3", "trainer.log_every_n_steps=2",
             "model.teacher_forcing=0.3", "optim.lr=1e-2"]


def test_a_crash_between_checkpoints_resumes_from_the_periodic_one(tmp_path: Path) -> None:
    straight = run(RESUMABLE, tmp_path / "straight")
    with pytest.raises(RuntimeError, match="simulated crash"):
        run(RESUMABLE, tmp_path / "crashed", [AtStep(5, crash)])  # checkpoints at steps 3 and 6
    assert metrics_of(tmp_path / "crashed")["status"] == "failed"
    assert checkpoint.load(tmp_path / "crashed" / "checkpoints" / "last.pt")["summary"]["steps"] == 3
    resumed = run(RESUMABLE, tmp_path / "crashed")  # the folder holds last.pt: resumes by itself
    assert resumed["train"]["resumed_from_step"] == 3
    assert resumed["train"]["steps"] == straight["train"]["steps"] == 16
    assert without_time(tmp_path / "crashed") == without_time(tmp_path / "straight")
    assert resumed["test"]["mse_per_step"] == straight["test"]["mse_per_step"]
    assert resumed["val"]["mse"] == straight["val"]["mse"]


def test_a_resume_with_a_loader_worker_matches_a_straight_run_without(tmp_path: Path) -> None:
    settings = [*LSTM, "trainer.max_epochs=2", "trainer.log_every_n_steps=2", "model.teacher_forcing=0.5"]
    straight = run([*settings, "data.num_workers=0"], tmp_path / "straight")
    with pytest.raises(KeyboardInterrupt):
        run([*settings, "data.num_workers=1"], tmp_path / "workers", [AtStep(5, interrupt)])
    resumed = run([*settings, "data.num_workers=1"], tmp_path / "workers")
    assert resumed["train"]["resumed_from_step"] == 5
    assert without_time(tmp_path / "workers") == without_time(tmp_path / "straight")
    assert resumed["test"]["mse_per_step"] == straight["test"]["mse_per_step"]


# ---------------------------------------------------------------- 5. model x data refusals
FRAMES = {"sequence": (1,), "video": (1, 8, 8)}


def refusal_mismatches() -> list[tuple[str, str, str]]:
    """(model, data family, what build_model did) wherever that is not what the model declares:
    built for a declared kind, a ConfigError for any other."""
    wrong = []
    for name, cls in sorted(MODELS.items()):
        for data, family in FAMILIES.items():
            try:
                build_model(name, family.kind, FRAMES[family.kind], {"layers": 1})
                outcome = "built"
            except ConfigError:
                outcome = "refused"
            except Exception as exc:  # noqa: BLE001 - a crash is a wrong answer too
                outcome = f"crashed ({type(exc).__name__})"
            if outcome != ("built" if family.kind in cls.kinds else "refused"):
                wrong.append((name, data, outcome))
    return wrong


def test_build_model_refuses_exactly_the_undeclared_kinds(monkeypatch: pytest.MonkeyPatch) -> None:
    assert {f.kind for _, f in FAMILIES.items()} == {"sequence", "video"}
    assert {"lstm", "convlstm", "last", "mean", "linear"} <= set(MODELS)
    assert refusal_mismatches() == []

    class RefusesEverything(Forecaster):  # declares video, builds nothing: the check must see it
        name, kinds = "refuses_everything", ("video",)

        def __init__(self, frame_shape: tuple[int, ...], layers: int) -> None:
            raise ConfigError("refuses every frame shape")

    monkeypatch.setitem(MODELS._entries, RefusesEverything.name, RefusesEverything)  # declared for this test only
    video = sorted(name for name, f in FAMILIES.items() if f.kind == "video")
    assert refusal_mismatches() == [("refuses_everything", data, "refused") for data in video]


# ---------------------------------------------------------------- 6. decoder feedback (LSTM)
@pytest.mark.parametrize("layers", [1, 2, 3])
def test_lstm_decoder_gets_the_last_context_value_then_its_own_predictions(layers: int) -> None:
    """The stepped decoder is watched feeding back; the path the model takes (folded for one layer,
    the written-backward decoder for several on the CPU) gives its numbers and never reads the target."""
    torch.manual_seed(0)
    model = Seq2SeqLSTM((2,), layers=layers, hidden=8, teacher_forcing=1.0).eval()
    inputs: list[torch.Tensor] = []
    cell = torch.lstm_cell
    first_layer = model.decoder.weight_ih_l0

    def watched(x, state, w_ih, *weights):  # noqa: ANN001, ANN202 - the decoder's step, seen from outside
        if w_ih is first_layer:
            inputs.append(x.detach().clone())
        return cell(x, state, w_ih, *weights)

    context, target = torch.rand(3, 6, 2), torch.rand(3, 5, 2)
    with pytest.MonkeyPatch.context() as patch, torch.no_grad():
        patch.setattr(torch, "lstm_cell", watched)
        _, (h, c) = model.encoder(context)
        stepped = model._stepped_decoder(context[:, -1], h, c, 5, target)  # in eval the target is never fed
    assert len(inputs) == 5
    assert torch.equal(inputs[0], context[:, -1])
    for t in range(4):
        assert torch.equal(inputs[t + 1], stepped[:, t]), t
    with torch.no_grad():
        prediction = model(context, 5, target=target)
        torch.testing.assert_close(prediction, stepped, rtol=1e-5, atol=1e-6)
        assert torch.equal(prediction, model(context, 5, target=torch.rand_like(target)))


def test_one_layer_decoder_is_one_fused_call_with_the_stepped_numbers() -> None:
    """layers=1 fed its own predictions folds the head into the recurrent weights: the same
    predictions and gradients as stepping the cell, with one cell step (the first) instead of all."""
    torch.manual_seed(0)
    model = Seq2SeqLSTM((2,), layers=1, hidden=8)
    context = torch.rand(3, 6, 2)
    steps = []
    cell = torch.lstm_cell
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(torch, "lstm_cell", lambda *args: steps.append(1) or cell(*args))
        folded = model(context, 5)
    assert len(steps) == 1
    _, (h, c) = model.encoder(context)
    stepped = model._stepped_decoder(context[:, -1], h, c, 5, None)
    torch.testing.assert_close(folded, stepped, rtol=1e-5, atol=1e-6)
    for a, b in zip(torch.autograd.grad(folded.square().sum(), list(model.parameters())),
                    torch.autograd.grad(stepped.square().sum(), list(model.parameters()))):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-6)


# ---------------------------------------------------------------- 7. meaningful bounds
BOUNDS = ["data.train_size=512", "data.test_size=256", "data.batch_size=8", "trainer.max_epochs=4",
          "model.hidden=32", "optim.lr=5e-3"]


@pytest.fixture(scope="module")
def bound_runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, float]:
    root = tmp_path_factory.mktemp("bounds")
    runs = {"fp32": BOUNDS, "bf16": [*BOUNDS, "trainer.precision=bf16"],
            "last": ["data.train_size=512", "data.test_size=256", "model=last"],
            "linear": ["data.train_size=512", "data.test_size=256", "model=linear"]}
    results = {name: run(overrides, root / name) for name, overrides in runs.items()}
    assert results["bf16"]["precision"] == "bf16" and results["fp32"]["precision"] == "32"
    return {name: r["test"]["mse"] for name, r in results.items()}


def test_bf16_on_the_cpu_is_close_to_fp32_but_not_the_same(bound_runs: dict[str, float]) -> None:
    # measured (seeds 0-3): relative differences 1.9%, 2.5%, 0.1%, 5.5%
    fp32, bf16 = bound_runs["fp32"], bound_runs["bf16"]
    assert bf16 != fp32
    assert abs(bf16 - fp32) < 0.2 * fp32


def test_lstm_beats_the_last_value_and_is_within_reach_of_the_linear_map(bound_runs: dict[str, float]) -> None:
    # measured: last 0.208, linear 1.50e-3, the LSTM 0.044-0.064 over seeds 0-3 (seed 0: 0.064)
    lstm, last, linear = bound_runs["fp32"], bound_runs["last"], bound_runs["linear"]
    assert lstm < last / 2.5
    assert linear < lstm < 60 * linear


# ---------------------------------------------------------------- 8. stock windows by start day
def test_stock_windows_come_from_their_own_period_only(tmp_path: Path) -> None:
    context, horizon = 5, 3
    length = context + horizon
    rng = np.random.default_rng(0)
    series = {}
    for ticker, days in (("AAA", 200), ("BBB", 150)):
        # a rising trend plus a random wiggle: every min-max normalised window is unique to its start
        prices = np.round(100.0 + np.arange(days) + rng.uniform(0.0, 3.0, days), 2)
        path = tmp_path / "stocks" / f"{ticker}.csv"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(stock_csv(prices, "yahoo"))
        series[ticker] = prices
    data = build_data("stocks", dict(context=context, horizon=horizon, tickers=list(series)), tmp_path)

    keys, candidates = [], []
    for ticker, prices in series.items():
        for start in range(len(prices) - length + 1):
            window = prices[start:start + length]
            keys.append((ticker, start))
            candidates.append((window - window.min()) / (window.max() - window.min()))
    candidates = np.array(candidates)
    gaps = np.abs(candidates[:, None] - candidates[None]).max(axis=2) + np.eye(len(candidates))
    assert gaps.min() > 1e-3  # the identification below is unambiguous

    starts: dict[tuple[str, str], list[int]] = {}
    for split in ("train", "val", "test"):
        items = data.split(split).array[:, :, 0]
        distance = np.abs(items[:, None] - candidates[None]).max(axis=2)
        assert distance.min(axis=1).max() < 1e-4
        for index in distance.argmin(axis=1):
            ticker, start = keys[index]
            starts.setdefault((ticker, split), []).append(start)
    for ticker, days in (("AAA", 200), ("BBB", 150)):
        test_start = days - round(0.2 * days)  # docs/data.md: train, then val 10 %, then test 20 %, per ticker
        val_start = test_start - round(0.1 * days)
        expected = {"train": range(0, val_start - length + 1), "val": range(val_start, test_start - length + 1),
                    "test": range(test_start, days - length + 1)}
        for split, span in expected.items():
            assert starts[(ticker, split)] == list(span), (ticker, split)


# ---------------------------------------------------------------- 9. sweeps never collide
def test_two_sweeps_into_one_named_folder_pattern_stay_apart(tmp_path: Path) -> None:
    tiny = ["data.train_size=32", "data.val_size=8", "data.test_size=8", "trainer.max_epochs=1",
            "trainer.progress=off", "trainer.device=cpu"]
    args = ["-m", *tiny, "model=last,mean", "hydra.sweep.dir=outputs/multirun/fixed_${unique:}"]
    procs = [vidpred_run(args, tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE) for _ in range(2)]
    for proc in procs:
        _, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err
    sweeps = sorted((tmp_path / "outputs" / "multirun").iterdir())
    assert len(sweeps) == 2 and all(s.name.startswith("fixed_") and len(s.name) > 6 for s in sweeps)
    for sweep in sweeps:
        jobs = sorted(p.name for p in sweep.iterdir() if p.is_dir())
        assert jobs == ["0_last_sins_l1_s0", "1_mean_sins_l1_s0"]
        assert all(metrics_of(sweep / job)["status"] == "completed" for job in jobs)


# ---------------------------------------------------------------- 10. precision 16 on the CPU
def test_precision_16_on_the_cpu_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="trainer.precision=16 needs a CUDA GPU"):
        run([*LSTM, "trainer.precision=16", "trainer.device=cpu"], tmp_path)
    metrics = metrics_of(tmp_path)
    assert metrics["status"] == "failed" and "needs a CUDA GPU" in metrics["error"]


# ---------------------------------------------------------------- history, metrics, baselines
class RecordLosses:
    def __init__(self) -> None:
        self.losses: dict[int, float] = {}

    def on_train_batch_end(self, trainer, step: int, loss: float) -> None:  # noqa: ANN001
        self.losses[step] = loss


def test_history_train_loss_is_the_mean_of_its_window(tmp_path: Path) -> None:
    recorder = RecordLosses()
    run([*LSTM, "trainer.max_epochs=2", "trainer.log_every_n_steps=3", "optim.lr=1e-2"], tmp_path, [recorder])
    assert sorted(recorder.losses) == list(range(1, 17))
    rows = [r for r in history(tmp_path) if r["train_loss"]]
    assert [int(r["step"]) for r in rows] == [3, 6, 9, 12, 15]  # the window at 9 spans the epoch's end
    for row in rows:
        step = int(row["step"])
        window = [recorder.losses[s] for s in range(step - 2, step + 1)]
        assert float(row["train_loss"]) == pytest.approx(sum(window) / 3, rel=1e-12), step


def test_mae_and_mse_match_numpy_on_the_last_value_baseline(tmp_path: Path) -> None:
    results = run(["model=last"], tmp_path)
    data = build_data("sins", SINS, "unused")
    for split in ("val", "test"):
        items = data.split(split).array.astype(np.float64)
        error = np.repeat(items[:, 9:10], 10, axis=1) - items[:, 10:]
        assert results[split]["mae"] == pytest.approx(np.abs(error).mean(), rel=1e-6), split
        assert results[split]["mse"] == pytest.approx((error ** 2).mean(), rel=1e-6), split
    np.testing.assert_allclose(results["test"]["mae_per_step"], np.abs(error).mean(axis=(0, 2)), rtol=1e-6)


def design_of(items: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    x = items[:, :10, 0].astype(np.float64)
    return np.hstack([x, np.ones((len(x), 1))]), items[:, 10:, 0].astype(np.float64)


@pytest.mark.parametrize("ridge", [0.0, 0.01])
def test_linear_baseline_is_the_least_squares_or_ridge_solution(tmp_path: Path, ridge: float) -> None:
    results = run(["model=linear", f"model.ridge={ridge}"], tmp_path)
    data = build_data("sins", SINS, "unused")
    design, y = design_of(data.train.array)
    if ridge == 0:
        ours = np.linalg.lstsq(design, y, rcond=None)[0]
    else:  # (D'D + ridge n I)^-1 D'y, the Tikhonov term relative to the number of items
        gram = design.T @ design + ridge * len(design) * np.eye(design.shape[1])
        ours = np.linalg.inv(gram) @ design.T @ y
    fitted = checkpoint.load(tmp_path / "checkpoints" / "last.pt")["model"]
    np.testing.assert_allclose(fitted["weight"].numpy(), ours[:-1], rtol=1e-6, atol=1e-9 * np.abs(ours).max())
    np.testing.assert_allclose(fitted["bias"].numpy(), ours[-1], rtol=1e-6, atol=1e-9 * np.abs(ours).max())
    test_design, test_y = design_of(data.test.array)
    mse = ((test_design @ ours - test_y) ** 2).mean()
    assert results["test"]["mse"] == pytest.approx(mse, rel=1e-4)


# ---------------------------------------------------------------- the command line and progress
def test_cfg_job_prints_the_composed_config_and_runs_nothing(tmp_path: Path, capsys,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    from helpers.run_cli import run_cli

    monkeypatch.chdir(tmp_path)
    code, out, err = run_cli(capsys, "--cfg", "job", "model=mean", "optim.lr=0.25")
    assert code == 0, err
    proc = subprocess.CompletedProcess([], code, out, err)
    printed = yaml.safe_load(proc.stdout)
    assert printed["model"]["name"] == "mean" and printed["optim"]["lr"] == 0.25
    assert printed["data"]["name"] == "sins" and printed["trainer"]["max_epochs"] == 20
    assert "test mse" not in proc.stdout
    assert list(tmp_path.iterdir()) == []  # no outputs/ folder, nothing at all


def test_table2_preset_composes_with_the_studys_ten_epochs() -> None:
    assert compose_config([]).trainer.max_epochs == 20
    from vidpred.config import compose

    cfg = compose(["experiment=table2"], return_hydra_config=True)
    assert cfg.trainer.max_epochs == 10
    assert dict(cfg.hydra.sweeper.params) == {"model": "convlstm,last,mean", "data": "mnist,kth,bair",
                                              "layers": "1,2,3"}


@pytest.mark.parametrize("mode", ["log", "off", "bar"])
def test_progress_modes(tmp_path: Path, mode: str, caplog: pytest.LogCaptureFixture,
                        capsys: pytest.CaptureFixture[str]) -> None:
    caplog.set_level(logging.INFO, logger="vidpred")
    overrides = [*LSTM, "trainer.max_epochs=1", "trainer.log_every_n_steps=3", f"trainer.progress={mode}"]
    run_experiment(experiment_config([*SEQ, *overrides]), tmp_path)  # SEQ says progress=off: overridden here
    step_lines = [r.getMessage() for r in caplog.records if "  batch " in r.getMessage()]
    epoch_lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("epoch 1: train loss")]
    err = capsys.readouterr().err
    if mode == "log":
        # the first step (its throughput and the time left come at once), then every 3 of the 8
        assert [line.split("  step ")[1].split()[0] for line in step_lines] == ["1/8", "3/8", "6/8"]
        assert all(" samples/s  ETA " in line for line in step_lines)
        assert len(epoch_lines) == 1 and "\r" not in err
    elif mode == "off":
        assert step_lines == [] and epoch_lines == [] and "\r" not in err
    else:
        assert step_lines == [] and len(epoch_lines) == 1
        drawn = [part for part in err.split("\r") if part.strip()]
        assert err.startswith("\r") and drawn and "batch 8/8  step 8/8" in drawn[-1] and "ETA 0s" in drawn[-1]
