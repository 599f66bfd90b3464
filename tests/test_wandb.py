"""logger=wandb, offline: what the run wrote into its wandb folder, read back with wandb's own
protobuf records from the ``.wandb`` transaction log."""

from __future__ import annotations

import json
import os
import struct
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from helpers.config import InterruptAt, experiment_config
from vidpred.errors import ConfigError, DataError
from vidpred.training.loggers import NullLogger, WandbLogger, build_logger, resolve_wandb_mode
from vidpred.experiment import run_experiment

wandb = pytest.importorskip("wandb")
wandb_pb = pytest.importorskip("wandb.proto.wandb_internal_pb2")

TINY = ["logger=wandb", "trainer.max_epochs=2", "trainer.limit_train_batches=3", "trainer.log_every_n_steps=1",
        "data.train_size=48", "data.val_size=16", "data.test_size=16", "data.batch_size=8", "trainer.progress=off"]


@pytest.fixture(autouse=True)
def offline_wandb(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No credentials anywhere, nothing sent: wandb's own settings live in the test's folder."""
    for name in ("WANDB_API_KEY", "WANDB_IDENTITY_TOKEN_FILE", "WANDB_BASE_URL", "WANDB_MODE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("NETRC", str(tmp_path / "home" / ".netrc"))
    monkeypatch.setenv("WANDB_CONFIG_DIR", str(tmp_path / "home" / ".config" / "wandb"))
    monkeypatch.setenv("WANDB_SILENT", "true")


def wandb_records(run_dir: Path) -> list:
    """Every record of the run's one ``.wandb`` file (a LevelDB-style log: 7-byte header, 32 KiB
    blocks, chunks with a 7-byte header of CRC, length and type)."""
    wandb.teardown()  # wandb's service writes the log asynchronously: wait until it is all on disk
    files = list((run_dir / "wandb").glob("offline-run-*/run-*.wandb"))
    assert len(files) == 1, files
    data = files[0].read_bytes()
    assert data[:4] == b":W&B"
    return list(_records(data))


def _records(data: bytes, block: int = 32768) -> Iterator:
    pos, parts = 7, []
    while pos + 7 <= len(data):
        left = block - pos % block
        _, length, kind = struct.unpack("<IHB", data[pos:pos + 7])
        if left < 7 or (length == 0 and kind == 0):
            pos += left  # block trailer padding
            continue
        parts.append(data[pos + 7:pos + 7 + length])
        pos += 7 + length
        if kind in (1, 4):  # FULL or LAST chunk ends a record
            record = wandb_pb.Record()
            record.ParseFromString(b"".join(parts))
            parts = []
            yield record


def of_type(records: list, kind: str) -> list:
    return [getattr(r, kind) for r in records if r.WhichOneof("record_type") == kind]


def items(entries) -> dict:  # noqa: ANN001 - protobuf repeated items
    return {e.key or "/".join(e.nested_key): json.loads(e.value_json) for e in entries}


def test_offline_run_holds_config_train_loss_validation_summary_and_samples(tmp_path: Path) -> None:
    sweep = tmp_path / "multirun" / "2026-11-26" / "01-02-03_ab12"
    sweep.mkdir(parents=True)
    (sweep / "multirun.yaml").write_text("hydra: {}\n")  # as Hydra's sweeper leaves a sweep folder
    run_dir = sweep / "0_lstm_sins_l2_s0"
    results = run_experiment(experiment_config([*TINY, "layers=2"]), run_dir)

    records = wandb_records(run_dir)
    run = of_type(records, "run")[0]
    assert run.project == "vidpred" and run.job_type == "sins"
    assert run.run_group == "2026-11-26/01-02-03_ab12" and run.display_name == "0_lstm_sins_l2_s0"
    assert {"model=lstm", "data=sins", "layers=2", "seed=0"} <= set(run.tags)
    config = items(run.config.update)
    assert config["model"]["layers"] == 2 and config["data"]["train_size"] == 48  # resolved

    rows = [items(h.item) for h in of_type(records, "history")]
    logged = {}
    for row in rows:
        if "train/loss" in row:
            logged[row["_step"]] = row["train/loss"]
    history = pd.read_csv(run_dir / "history.csv")
    train = history[history["train_loss"].notna()]
    assert logged == pytest.approx(dict(zip(train["step"], train["train_loss"])), rel=1e-6)
    assert len(logged) == results["train"]["steps"] == 6
    val = {row["epoch"]: row["val/mse"] for row in rows if "val/mse" in row}
    assert sorted(val) == [1, 2]
    assert val == pytest.approx(dict(zip(history["epoch"][history["val_mse"].notna()].astype(int),
                                         history["val_mse"].dropna())), rel=1e-6)

    summary = {}
    for update in of_type(records, "summary"):
        summary.update(items(update.update))
    assert summary["status"] == "completed"
    assert summary["test/mse"] == pytest.approx(results["test"]["mse"], rel=1e-9)
    assert summary["params"] == results["params"]
    assert of_type(records, "exit")[0].exit_code == 0

    files = run_dir / "wandb"
    tables = list(files.glob("offline-run-*/files/media/table/**/*.table.json"))
    per_step = json.loads(tables[0].read_text())
    assert [row[1] for row in per_step["data"]] == pytest.approx(results["test"]["mse_per_step"], rel=1e-9)
    images = list(files.glob("offline-run-*/files/media/images/samples/*.png"))
    assert images and images[0].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


class FailAt:
    """A callback that fails the run like a data file that turns out corrupt mid-epoch."""

    def on_train_batch_end(self, trainer, step: int, loss: float) -> None:  # noqa: ANN001
        if step == 2:
            raise DataError("item 17 of train.npy is unreadable")


def test_failed_run_is_finished_as_failed(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    with pytest.raises(DataError):
        run_experiment(experiment_config(TINY), run_dir, callbacks=[FailAt()])
    records = wandb_records(run_dir)
    summary = {}
    for update in of_type(records, "summary"):
        summary.update(items(update.update))
    assert summary["status"] == "failed" and "train.npy is unreadable" in summary["error"]
    assert of_type(records, "exit")[0].exit_code == 1
    assert json.loads((run_dir / "metrics.json").read_text())["status"] == "failed"


@pytest.mark.parametrize("base_url", ["http://127.0.0.1:9",             # nothing listens: refused at once
                                      "https://wandb-server.invalid"])  # the name does not resolve
def test_unreachable_server_goes_offline_after_a_short_check(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                             base_url: str) -> None:
    """A plausible API key and no route out: the run goes offline after logger.init_timeout instead of
    wandb's start-up timeout, with one wandb folder, and wandb writes nothing outside the run folder."""
    monkeypatch.setenv("WANDB_API_KEY", "a" * 40)
    monkeypatch.setenv("WANDB_BASE_URL", base_url)
    for name in ("WANDB_CACHE_DIR", "WANDB_DATA_DIR"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr("vidpred.training.loggers._USER_FOLDERS", {"WANDB_CACHE_DIR": None, "WANDB_DATA_DIR": None})
    assert resolve_wandb_mode("auto") == "online"
    with pytest.warns(UserWarning, match="wandb server unreachable") as caught:
        logger = WandbLogger(tmp_path / "run", {"a": 1}, {"model": "lstm", "data": "sins"}, init_timeout=2)
    assert not [w for w in caught if "trying offline" in str(w.message)]  # wandb.init never tried online
    assert logger.mode == "offline" and logger.run is not None
    logger.log_summary({"status": "completed", "test": {"mse": 0.5}})
    logger.finish("completed")
    summary = {}
    for update in of_type(wandb_records(tmp_path / "run"), "summary"):
        summary.update(items(update.update))
    assert summary["test/mse"] == 0.5
    assert len(list((tmp_path / "run" / "wandb").glob("*run-*"))) == 1
    assert list((tmp_path / "run" / "wandb" / "cache").rglob("*.log"))  # the service's logs live here
    home = tmp_path / "home"
    assert not [p for p in home.rglob("*") if p.is_file() and "wandb" in str(p)]
    assert "WANDB_CACHE_DIR" not in os.environ  # set for the run only


def test_missing_wandb_package_never_fails_a_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "wandb", None)  # import wandb -> ImportError
    with pytest.warns(UserWarning, match="not installed"):
        logger = WandbLogger(tmp_path, {}, {"data": "sins"}, mode="offline")
    logger.on_train_batch_end(None, 1, 0.5)
    logger.log_summary({"status": "completed"})
    logger.finish("completed")
    assert logger.run is None


def test_mode_resolution_and_config_errors(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    assert resolve_wandb_mode("auto") == "offline"  # no credentials
    (tmp_path / "home").mkdir(exist_ok=True)
    (tmp_path / "home" / ".netrc").write_text("machine api.wandb.ai\n  login user\n  password " + "b" * 40 + "\n")
    (tmp_path / "home" / ".netrc").chmod(0o600)
    assert resolve_wandb_mode("auto") == "online"
    monkeypatch.setenv("WANDB_MODE", "disabled")
    assert resolve_wandb_mode("auto") == "disabled"
    assert resolve_wandb_mode("offline") == "offline"
    assert isinstance(build_logger("none", {}, tmp_path, {}, {}), NullLogger)
    with pytest.raises(ConfigError, match="colour"):
        build_logger("wandb", {"colour": "red"}, tmp_path, {}, {})
    with pytest.raises(ConfigError, match="logger.mode"):
        build_logger("wandb", {"mode": "sometimes"}, tmp_path, {}, {})
    with pytest.raises(ConfigError, match="choose one of none, wandb"):
        build_logger("tensorboard", {}, tmp_path, {}, {})


def test_sample_images_and_videos_are_logged(tmp_path: Path) -> None:
    from PIL import Image

    samples = tmp_path / "run" / "samples"
    samples.mkdir(parents=True)
    frames = [Image.fromarray(np.full((16, 16), v, dtype=np.uint8)) for v in (0, 128, 255)]
    frames[0].save(samples / "predictions.png")
    frames[0].save(samples / "predictions.gif", save_all=True, append_images=frames[1:], duration=100)
    logger = WandbLogger(tmp_path / "run", {}, {"data": "mnist"}, mode="offline")
    logger.log_summary({"status": "completed"})
    logger.finish("completed")
    wandb.teardown()
    media = tmp_path / "run" / "wandb"
    assert len(list(media.glob("offline-run-*/files/media/images/samples/*.png"))) == 1
    videos = list(media.glob("offline-run-*/files/media/videos/**/*.gif"))
    assert len(videos) == 1 and videos[0].read_bytes()[:6] == b"GIF89a"


def session_records(path: Path) -> list:
    data = path.read_bytes()
    return list(_records(data))


def test_a_resumed_run_continues_the_same_wandb_run(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    with pytest.raises(KeyboardInterrupt):
        run_experiment(experiment_config(TINY), run_dir, callbacks=[InterruptAt(4)])
    first_id = (run_dir / "wandb" / "vidpred_run_id").read_text().strip()
    run_experiment(experiment_config(TINY), run_dir)  # resumes from last.pt at step 4
    wandb.teardown()
    sessions = sorted((run_dir / "wandb").glob("offline-run-*/run-*.wandb"))
    assert len(sessions) == 2 and all(path.name == f"run-{first_id}.wandb" for path in sessions)
    steps = []
    for path in sessions:
        records = session_records(path)
        assert {r.run_id for r in of_type(records, "run")} == {first_id}
        steps.append([h.step.num for h in of_type(records, "history") if h.HasField("step")])
    # the interruption came before the dashboard saw step 4; the second session goes on from step 5
    assert max(steps[0]) == 3 and min(s for s in steps[1] if s > 0) == 5


def test_a_wandb_error_mid_run_switches_wandb_off_and_the_run_completes(tmp_path: Path,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    calls = {"n": 0}
    original = WandbLogger.on_train_batch_end

    def failing(self, trainer, step: int, loss: float) -> None:  # noqa: ANN001
        calls["n"] += 1
        if calls["n"] == 2:  # the dashboard breaks after one logged step
            self.run.log = lambda *a, **k: (_ for _ in ()).throw(RuntimeError("wandb service died"))
        original(self, trainer, step, loss)

    monkeypatch.setattr(WandbLogger, "on_train_batch_end", failing)
    with pytest.warns(UserWarning, match="wandb logging stopped: wandb service died"):
        results = run_experiment(experiment_config(TINY), tmp_path / "run")
    assert results["status"] == "completed" and calls["n"] == 6  # every step still ran
    assert json.loads((tmp_path / "run" / "metrics.json").read_text())["status"] == "completed"
