"""One experiment: compose the config, build data and model, train, test, write the run folder.

    python -m vidpred.run model=lstm data=sins layers=2
    python -m vidpred.run -m data=sins,noise layers=1,2,3

This module and the CLIs are the only code that reads the Hydra config; everything below takes
plain arguments.
"""

from __future__ import annotations

import logging
import os
import platform
import secrets
import signal
import sys
import threading
import time
from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import hydra
import numpy as np
import omegaconf
import torch
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf

import vidpred
from vidpred.data import build_data
from vidpred.errors import DivergedError, UserError, debug_enabled, one_line, require
from vidpred.io import write_json
from vidpred.loggers import NullLogger, build_logger
from vidpred.models import build_model, count_parameters
from vidpred.plots import save_samples
from vidpred.registry import call_with_config
from vidpred.seeding import seed_everything
from vidpred.training import checkpoint
from vidpred.training.precision import Precision, resolve_device
from vidpred.training.trainer import LoaderConfig, OptimConfig, Trainer, TrainerConfig

log = logging.getLogger("vidpred")

LOADER_KEYS = ("batch_size", "num_workers")


def find_config_dir() -> Path:
    """``conf/`` of a source checkout (editable install), else the copy installed in the package."""
    here = Path(__file__).resolve().parent
    for candidate in (here.parents[1] / "conf", here / "conf"):
        if (candidate / "config.yaml").exists():
            return candidate
    raise FileNotFoundError("vidpred's conf/ folder was not found beside the package")


CONFIG_DIR = find_config_dir()

# A token unique to this process, cached so that one sweep resolves it once: run and sweep
# folder names never collide, even for two sweeps started in the same second.
if not OmegaConf.has_resolver("unique"):
    OmegaConf.register_new_resolver("unique", lambda: f"{os.getpid():x}{secrets.token_hex(2)}",
                                    use_cache=True)


def versions() -> dict[str, str | None]:
    return {"vidpred": vidpred.__version__, "python": platform.python_version(),
            "torch": torch.__version__, "cuda": torch.version.cuda, "numpy": np.__version__,
            "hydra": hydra.__version__, "omegaconf": omegaconf.__version__}


def resume_checkpoint(resume: bool | str, run_dir: Path) -> Path | None:
    """Which ``last.pt`` to continue from: asked for explicitly, or found in the run folder."""
    own = run_dir / "checkpoints" / checkpoint.LAST
    if own.is_file():  # this folder's own progress wins, also over resume=PATH after an interruption
        return own
    if isinstance(resume, str) and resume not in ("", "false", "true"):
        path = Path(resume)
        path = path / "checkpoints" / checkpoint.LAST if path.is_dir() else path
        require(path.is_file(), f"resume={resume}: no checkpoint there (expected a run folder or a .pt file)")
        return path
    if resume in (True, "true"):
        require(own.is_file(), f"resume=true but {own} does not exist; point hydra.run.dir at the "
                               "interrupted run's folder, or give resume=PATH")
    return own if own.is_file() else None


def run_experiment(cfg: DictConfig, run_dir: Path, callbacks: Sequence[Any] = ()) -> dict[str, Any]:
    """Train and test one configuration; write ``metrics.json``, ``history.csv``, checkpoints and
    samples into ``run_dir``. Returns the content of ``metrics.json``."""
    run_dir = Path(run_dir)
    choices = {"model": cfg.model.name, "data": cfg.data.name, "layers": cfg.layers, "seed": cfg.seed,
               "trainer": cfg.trainer.name, "precision": str(cfg.trainer.precision)}
    results: dict[str, Any] = {"status": "running", "error": None, "choices": choices,
                               "started_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                               "versions": versions()}
    write_json(run_dir / "metrics.json", results)
    logger = NullLogger()  # until the configured one exists: a bad logger setting is a failed run too
    try:
        plain = OmegaConf.to_container(cfg, resolve=True)
        logger = build_logger(cfg.logger.name, {k: v for k, v in plain["logger"].items() if k != "name"},
                              run_dir, plain, choices)
        _train_and_test(cfg, plain, run_dir, results, [*callbacks, logger])
        results["status"] = "completed"
    except DivergedError as exc:
        results.update(status="diverged", error=one_line(exc))
        raise
    except BaseException as exc:
        results.update(status="failed", error=one_line(exc) if not isinstance(exc, KeyboardInterrupt)
                       else "interrupted; run again in the same folder to resume")
        raise
    finally:
        results["finished_at"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
        write_json(run_dir / "metrics.json", results)
        logger.log_summary(results)
        logger.finish(results["status"])
    return results


def _train_and_test(cfg: DictConfig, plain: dict[str, Any], run_dir: Path, results: dict[str, Any],
                    callbacks: Sequence[Any]) -> None:
    require(isinstance(cfg.layers, int) and cfg.layers >= 1, f"layers must be a whole number >= 1, got {cfg.layers}")
    require(isinstance(cfg.seed, int), f"seed must be a whole number, got {cfg.seed}")
    seed_everything(cfg.seed)
    device = resolve_device(cfg.trainer.device)
    precision = Precision.create(cfg.trainer.precision, device)
    trainer_keys = {k: v for k, v in plain["trainer"].items() if k not in ("name", "device", "precision")}
    trainer_config = call_with_config(TrainerConfig, trainer_keys, prefix="trainer")
    optim = call_with_config(OptimConfig, plain["optim"], prefix="optim")
    loader = LoaderConfig(**{k: plain["data"][k] for k in LOADER_KEYS})

    tick = time.perf_counter()
    data_params = {k: v for k, v in plain["data"].items() if k not in ("name", *LOADER_KEYS)}
    data = build_data(cfg.data.name, data_params)
    log.info("data %s: %d train / %d val / %d test items of shape %s (%.1f s)", data.name,
             len(data.train), len(data.val), len(data.test), (data.length, *data.frame_shape),
             time.perf_counter() - tick)
    model_params = {k: v for k, v in plain["model"].items() if k != "name"}
    model = build_model(cfg.model.name, data.kind, data.frame_shape, model_params)
    results.update(device=str(device), precision=precision.name)

    trainer = Trainer(model, data, run_dir, trainer_config, optim, loader, precision, cfg.seed, callbacks)
    summary = trainer.fit(resume_from=resume_checkpoint(cfg.resume, run_dir))
    results["train"] = summary.as_dict()
    results["params"] = count_parameters(model)  # after fit: closed-form baselines size their weights there
    trainer.load_best()  # validation and test both score the best-by-validation weights
    results["val"] = {k: v for k, v in trainer.evaluate("val", trainer_config.limit_val_batches).items()
                      if not k.endswith("per_step")}
    results["test"] = trainer.evaluate("test", trainer_config.limit_test_batches)
    results["test_checkpoint"] = "best" if model.trainable else "fitted"
    log.info("test mse %.4g  mae %.4g", results["test"]["mse"], results["test"]["mae"])
    save_samples(trainer, data, run_dir / "samples", title=f"{cfg.model.name}, {data.name}, layers={cfg.layers}")


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


@hydra.main(version_base="1.3", config_path=str(CONFIG_DIR), config_name="config")
def main(cfg: DictConfig) -> float:
    hydra_cfg = HydraConfig.get()
    run_dir = Path(hydra_cfg.runtime.output_dir)
    if threading.current_thread() is threading.main_thread():
        # A scheduler's SIGTERM (time limit, preemption, `kill`) stops the run like Ctrl-C: the
        # trainer saves last.pt and metrics.json says why, so the run can resume.
        signal.signal(signal.SIGTERM, _interrupt)
    try:
        results = run_experiment(cfg, run_dir)
    except KeyboardInterrupt:
        if hydra_cfg.mode == RunMode.MULTIRUN or debug_enabled():
            raise
        print(f"interrupted: run the same command with hydra.run.dir={run_dir} to resume", file=sys.stderr)
        sys.exit(130)
    except (UserError, DivergedError) as exc:
        # In a sweep let Hydra record the failed job and go on with the others.
        if hydra_cfg.mode == RunMode.MULTIRUN or debug_enabled():
            raise
        print(f"error: {one_line(exc)}", file=sys.stderr)
        sys.exit(2 if isinstance(exc, UserError) else 3)
    print(f"test mse {results['test']['mse']:.4g} | run folder {run_dir}")
    return results["test"]["mse"]


if __name__ == "__main__":
    main()
