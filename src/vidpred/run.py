"""One experiment: compose the config, build data and model, train, test, write the run folder.

    python -m vidpred.run model=lstm data=sins layers=2
    python -m vidpred.run -m data=sins,noise layers=1,2,3

This module and the other entry points are the only code that reads the Hydra config; everything
below takes plain arguments. The run folder's promises (one process at a time, a completed run never
overwritten, a resume only with the settings it was trained with) are kept here, with
:mod:`vidpred.rundir`.
"""

from __future__ import annotations

import contextlib
import logging
import os
import platform
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, NoReturn

from vidpred import stop

if __name__ == "__main__":  # a Ctrl-C or SIGTERM during the imports below (a second or two) is a stop too
    stop.install()

import hydra  # noqa: E402
import numpy as np  # noqa: E402
import omegaconf  # noqa: E402
import torch  # noqa: E402
from omegaconf import DictConfig, OmegaConf  # noqa: E402

import vidpred  # noqa: E402
from vidpred import config, distributed, rundir  # noqa: E402
from vidpred.distributed import SINGLE, World  # noqa: E402
from vidpred.data import DataSplits, build_data  # noqa: E402
from vidpred.data import DataFamily  # noqa: E402
from vidpred.data import family as data_family  # noqa: E402
from vidpred.data.base import Geometry  # noqa: E402
from vidpred.data.registry import with_prepared  # noqa: E402
from vidpred.errors import ConfigError, DivergedError, Pruned, UserError, debug_enabled, one_line, require  # noqa: E402
from vidpred.io import WriteError, atomic_path, write_error, write_json  # noqa: E402
from vidpred.loggers import NullLogger, build_logger  # noqa: E402
from vidpred.models import Forecaster, build_model, check_model, count_parameters  # noqa: E402
from vidpred.plots import save_samples  # noqa: E402
from vidpred.registry import call_with_config  # noqa: E402
from vidpred.seeding import seed_everything  # noqa: E402
from vidpred.training import checkpoint, memory  # noqa: E402
from vidpred.training.precision import Precision, resolve_device  # noqa: E402
from vidpred.training.objectives import LossConfig  # noqa: E402
from vidpred.training.trainer import (LoaderConfig, MetricsConfig, OptimConfig, Trainer, TrainerConfig,  # noqa: E402
                                      check_global_batch)

log = logging.getLogger("vidpred")

LOADER_KEYS = ("batch_size", "num_workers")
HYDRA_DIR = ".hydra"


def versions() -> dict[str, str | None]:
    return {"vidpred": vidpred.__version__, "python": platform.python_version(),
            "torch": torch.__version__, "cuda": torch.version.cuda, "numpy": np.__version__,
            "hydra": hydra.__version__, "omegaconf": omegaconf.__version__}


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def resume_checkpoint(resume: bool | str, run_dir: Path) -> Path | None:
    """Which ``last.pt`` to continue from: asked for explicitly, or found in the run folder."""
    own = run_dir / "checkpoints" / checkpoint.LAST
    if own.is_file():  # this folder's own progress wins, also over resume=PATH after an interruption
        return own
    if isinstance(resume, str) and resume not in ("", "false", "true"):
        path = Path(resume)
        path = path / "checkpoints" / checkpoint.LAST if path.is_dir() else path
        require(path.is_file(), f"resume={resume}: no checkpoint there (expected a run folder or a last.pt file)")
        return path
    if resume in (True, "true"):
        require(own.is_file(), f"resume=true but {own} does not exist; point hydra.run.dir at the "
                               "interrupted run's folder, or give resume=PATH")
    return None


def load_resume_state(path: Path, settings: dict[str, Any]) -> dict[str, Any]:
    """``last.pt``'s content, if it was trained with the same result-shaping settings."""
    state = checkpoint.load(path)
    if state.get("kind") != "last":
        raise ConfigError(f"{path} holds weights only ({path.name}); resuming needs the optimizer and "
                          f"random states of {checkpoint.LAST}: give resume={path.parent / checkpoint.LAST}")
    changed = rundir.differences(state.get("settings", {}), settings)
    if changed:
        raise ConfigError(f"cannot resume from {path}: it was trained with other settings ({'; '.join(changed)}); "
                          "resume with the same settings, or start a new run folder (hydra.run.dir=...)")
    return state


@dataclass
class Experiment:
    """A built experiment: everything that can fail on a bad setting, before any file is written."""

    data: DataSplits
    trainer: Trainer
    trainer_config: TrainerConfig
    choices: dict[str, Any]


def build_experiment(cfg: DictConfig, plain: dict[str, Any], run_dir: Path, callbacks: Sequence[Any],
                     settings: dict[str, Any], world: World = SINGLE) -> Experiment:
    # Every setting is checked, and the memory the run needs compared with the memory there is,
    # before any data is read or generated: a mistake costs seconds, not a data set's building.
    require(isinstance(cfg.layers, int) and cfg.layers >= 1, f"layers must be a whole number >= 1, got {cfg.layers}")
    require(isinstance(cfg.seed, int), f"seed must be a whole number, got {cfg.seed}")
    require(isinstance(cfg.evaluate, bool), f"evaluate must be true or false, got {cfg.evaluate!r}")
    # the family's declaration tells the data's kind: a model of another kind is refused before any
    # data is read, downloaded or generated
    check_model(cfg.model.name, data_family(cfg.data.name).kind, f"data={cfg.data.name}")
    seed_everything(cfg.seed)
    device = resolve_device(cfg.trainer.device)
    if device.type == "cuda" and world.active:
        device = torch.device("cuda", world.local_rank)  # one GPU per process of the node
    trainer_keys = {k: v for k, v in plain["trainer"].items() if k not in ("name", "device", "precision")}
    trainer_config = call_with_config(TrainerConfig, trainer_keys, prefix="trainer")
    optim = call_with_config(OptimConfig, plain["optim"], prefix="optim")
    loader = call_with_config(LoaderConfig, {k: plain["data"][k] for k in LOADER_KEYS}, prefix="data")
    check_global_batch(loader.batch_size, world)
    loss = call_with_config(LossConfig, plain["loss"], prefix="loss")
    metrics = call_with_config(MetricsConfig, plain["metrics"], prefix="metrics")
    family, geometry, probe = plan_experiment(cfg, plain)
    precision = Precision.create(cfg.trainer.precision, device, family.kind)
    data_params = {k: v for k, v in plain["data"].items() if k not in ("name", *LOADER_KEYS)}
    model_params = {k: v for k, v in plain["model"].items() if k != "name"}
    if probe is not None:
        check_settings(cfg.data.name, family.kind, geometry.frame_shape or (1,), probe, loss, metrics)
        check_memory(memory_need(probe, geometry, data_params, loader, loss), device)

    tick = time.perf_counter()
    data = build_data(cfg.data.name, data_params, plain["paths"]["data_dir"])
    log.info("data %s: %d train / %d val / %d test items of shape %s (%.1f s)", data.name,
             len(data.train), len(data.val), len(data.test), (data.length, *data.frame_shape),
             time.perf_counter() - tick)
    with torch.device("meta"):
        probe = build_model(cfg.model.name, data.kind, data.frame_shape, model_params)
    check_settings(data.name, data.kind, data.frame_shape, probe, loss, metrics)
    if geometry.held_items is None or geometry.frame_shape != data.frame_shape:  # now known: check again (the
        # items are in memory already, so the memory available has shrunk by them)
        check_memory(memory_need(probe, Geometry(data.frame_shape, 0, len(data.train)),
                                 {"context": data.context, "horizon": data.horizon}, loader, loss), device)
    model = build_model(cfg.model.name, data.kind, data.frame_shape, model_params)
    trainer = Trainer(model, data, run_dir, trainer_config, optim, loader, precision, cfg.seed, callbacks,
                      settings=settings, world=world, loss=loss,
                      lpips=build_lpips(metrics, plain["paths"]["data_dir"], device))
    choices = {"model": cfg.model.name, "data": cfg.data.name, "layers": cfg.layers, "seed": cfg.seed,
               "trainer": cfg.trainer.name, "precision": str(cfg.trainer.precision), "loss": cfg.loss.name}
    return Experiment(data, trainer, trainer_config, choices)


def check_settings(data_name: str, kind: str, frame_shape: tuple[int, ...], model: Forecaster, loss: LossConfig,
                   metrics: MetricsConfig) -> None:
    """The settings that depend on the data's kind and frame size: LPIPS and the adversarial loss."""
    if loss.adversarial and model.trainable:
        require(kind == "video", f"loss=adversarial judges video frames; data={data_name} holds sequences")
    if metrics.lpips:
        from vidpred import lpips

        require(kind == "video", f"metrics.lpips=true scores video frames; data={data_name} holds sequences")
        require(min(frame_shape[-2:]) >= lpips.MIN_SIZE,
                f"metrics.lpips=true needs frames of at least {lpips.MIN_SIZE} x {lpips.MIN_SIZE} pixels (AlexNet's "
                f"strides); data={data_name} has {frame_shape[-2]} x {frame_shape[-1]}")


def plan_experiment(cfg: DictConfig, plain: dict[str, Any]) -> tuple[DataFamily, Geometry, Forecaster | None]:
    """The data set's family and what its settings ask for, and the model built on PyTorch's meta
    device (every key checked, nothing allocated); None where the frame shape waits for the files."""
    family = data_family(cfg.data.name)
    geometry = family.plan({k: v for k, v in plain["data"].items() if k not in ("name", *LOADER_KEYS)})
    if geometry.frame_shape is None and family.kind != "sequence":  # the LSTMs do not depend on D
        return family, geometry, None
    with torch.device("meta"):
        probe = build_model(cfg.model.name, family.kind, geometry.frame_shape or (1,),
                            {k: v for k, v in plain["model"].items() if k != "name"})
    return family, geometry, probe


def memory_need(model: Forecaster, geometry: Geometry, data_params: dict[str, Any], loader: LoaderConfig,
                loss: LossConfig) -> memory.Need | None:
    """The memory a run needs (vidpred.training.memory); parts the geometry does not know yet count
    as nothing. None when the lengths are not numbers (the data set's builder names them)."""
    try:
        context, horizon = int(data_params["context"]), int(data_params["horizon"])
    except (KeyError, TypeError, ValueError):
        return None
    return memory.estimate(memory.item_floats(context + horizon, geometry.frame_shape or (1,)),
                           geometry.held_items or 0, count_parameters(model), model.trainable,
                           model.memory_bytes(loader.batch_size, context, horizon, geometry.train_items),
                           loader.batch_size, loader.num_workers, loss.adversarial)


def check_memory(need: memory.Need | None, device: torch.device) -> None:
    if need is not None:
        memory.check(need, device, memory.hint(need))


def build_lpips(metrics: MetricsConfig, data_dir: str, device: torch.device) -> torch.nn.Module | None:
    """The LPIPS network when ``metrics.lpips`` is on (its settings checked by :func:`check_settings`)."""
    if not metrics.lpips:
        return None
    from vidpred import lpips

    return lpips.load_lpips(lpips.weights_folder(data_dir, metrics.lpips_weights), device)


def take_prepared_settings(cfg: DictConfig, overrides: Sequence[str] | None) -> None:
    """A prepared set's settings (what ``vidpred.data prepare`` was given) are the defaults of its
    runs: every data key not given (``overrides``, the command line) takes the prepared value, in
    ``cfg`` itself so that ``.hydra/config.yaml``, ``metrics.json`` and resume checks hold it; a given
    value that differs is refused."""
    data = config.to_plain(cfg.data)
    resolved = with_prepared(cfg.data.name, data, cfg.paths.data_dir, config.data_keys_given(data, overrides))
    for key, value in resolved.items():
        if data.get(key) != value:
            with omegaconf.open_dict(cfg):
                cfg.data[key] = value
            log.info("data.%s=%s, as the set was prepared", key, value)


def run_experiment(cfg: DictConfig, run_dir: Path, callbacks: Sequence[Any] = (),
                   hydra_files: dict[str, Any] | None = None, world: World = SINGLE,
                   search: dict[str, Any] | None = None, overrides: Sequence[str] | None = None) -> dict[str, Any]:
    """Train and test one configuration in ``run_dir``; returns the content of ``metrics.json``.

    The folder is locked for the whole run. A folder that holds a completed run is never trained
    again (``evaluate=true`` scores it again); a failed attempt never replaces what an earlier one
    wrote. ``hydra_files`` (file name -> config) are written into ``.hydra/`` once the attempt is
    known to be valid; without them the composed config is. ``search`` (a search's trial: study and
    trial number) is written into ``metrics.json`` with the attempt.

    In a data-parallel run (``world``) every process calls this; rank 0 alone holds the lock and
    writes files, and the others follow its reading of the folder. ``overrides`` (the command line)
    say which data keys the user gave, against a prepared set's settings.
    """
    run_dir = Path(run_dir)
    if not world.active and stop.requested():  # (ranks agree on a stop once training starts)
        raise stop.StopRequested(f"{stop.reason()} before the run began; nothing was written")
    try:
        with contextlib.ExitStack() as folder:
            if world.main:  # rank 0 alone holds the folder and writes into it
                folder.enter_context(rundir.locked(run_dir))
                folder.enter_context(rundir.log_file(run_dir))
            previous = distributed.broadcast(rundir.read_metrics(run_dir) if world.main else None)
            take_prepared_settings(cfg, overrides)
            plain = config.to_plain(cfg)
            settings = rundir.shaping_settings(plain)
            if previous is not None and previous.get("status") == "completed":
                return _completed_run(cfg, plain, run_dir, previous, settings, callbacks, world)
            require(not cfg.evaluate, f"evaluate=true scores a completed run again, and {run_dir} holds none "
                                      f"(status: {(previous or {}).get('status', 'no metrics.json')})")
            return _train_run(cfg, plain, run_dir, previous, settings, callbacks, hydra_files, world, search)
    except Exception as exc:
        if world.active and not world.main:
            distributed.report_failure(one_line(exc))  # rank 0 writes it into metrics.json
        raise


def _save_hydra_files(run_dir: Path, cfg: DictConfig, hydra_files: dict[str, Any] | None) -> None:
    for name, node in (hydra_files or {"config.yaml": cfg}).items():
        with atomic_path(run_dir / HYDRA_DIR / name) as tmp:
            tmp.write_text(OmegaConf.to_yaml(node if isinstance(node, DictConfig) else OmegaConf.create(node)))


def _train_run(cfg: DictConfig, plain: dict[str, Any], run_dir: Path, previous: dict[str, Any] | None,
               settings: dict[str, Any], callbacks: Sequence[Any],
               hydra_files: dict[str, Any] | None, world: World,
               search: dict[str, Any] | None = None) -> dict[str, Any]:
    results: dict[str, Any] = {"status": "running", "error": None, "choices": {}, "started_at": now(),
                               "process": rundir.holder(), "world_size": world.size, "settings": settings,
                               "versions": versions(), **({"search": dict(search)} if search else {})}
    logger: Any = NullLogger()  # until the configured one exists: a bad logger setting is a failed run too
    written = False
    if previous is not None and previous.get("status") == "running" and world.main:
        # the lock was free: whoever wrote "running" is gone (killed, out of memory, a node lost)
        log.warning("the run here before (%s) is gone without a word; it continues from its last checkpoint",
                    rundir.describe(previous.get("process") or {}))
    try:
        resume_path = resume_checkpoint(cfg.resume, run_dir)
        resume_state = load_resume_state(resume_path, settings) if resume_path else None
        distributed.barrier()  # every rank has read the folder before rank 0 writes into it
        experiment = build_experiment(cfg, plain, run_dir, [*callbacks], settings, world)
        results["choices"] = experiment.choices
        data = experiment.data
        # what vidpred.predict needs to treat new inputs as this run's data was treated
        results["data"] = {"kind": data.kind, "context": data.context, "horizon": data.horizon,
                           "frame_shape": list(data.frame_shape), **data.meta}
        if world.main:
            _save_hydra_files(run_dir, cfg, hydra_files)
            write_json(run_dir / rundir.METRICS, results)
            written = True
            logger = build_logger(cfg.logger.name, {k: v for k, v in plain["logger"].items() if k != "name"},
                                  run_dir, plain, experiment.choices)
            experiment.trainer.callbacks.append(logger)
        _train_and_test(cfg, experiment, run_dir, results,
                        (resume_path, resume_state) if resume_path and resume_state else None)
        results["status"] = "completed"
    except DivergedError as exc:
        results.update(status="diverged", error=one_line(exc))
        raise
    except Pruned as exc:  # a search's verdict, not a failure: the folder resumes like any stopped run
        results.update(status="pruned", error=one_line(exc))
        raise
    except KeyboardInterrupt as exc:
        why = f" ({one_line(exc)})" if str(exc) else ""
        results.update(status="failed", error=f"interrupted{why}; run again in the same folder to resume")
        raise
    except BaseException as exc:
        results.update(status="failed", error=one_line(exc))
        raise
    finally:
        # An attempt that failed before it started leaves an earlier attempt's files as they were.
        if world.main and (written or previous is None):
            if not written:  # a fresh folder records why its attempt was refused, and its choices (.hydra/
                # is kept for attempts known to be valid)
                results["choices"] = results["choices"] or _choices_of(cfg)
                results["overrides"] = [str(o) for o in (hydra_files or {}).get("overrides.yaml", [])]
            results["process"] = None
            results["finished_at"] = now()
            try:
                write_json(run_dir / rundir.METRICS, results)
            except WriteError as exc:  # a full disk: the error that stopped the run is the one to report
                log.warning("%s could not record how the run ended: %s", rundir.METRICS, exc)
            logger.log_summary(results)
            logger.finish(results["status"])
    return results


def _choices_of(cfg: DictConfig) -> dict[str, Any]:
    """The run's choices as far as they can be read from a config that may not resolve."""
    picked = {}
    for key, path in (("model", "model.name"), ("data", "data.name"), ("layers", "layers"), ("seed", "seed"),
                      ("trainer", "trainer.name"), ("precision", "trainer.precision")):
        try:
            picked[key] = OmegaConf.select(cfg, path, throw_on_resolution_failure=True)
        except omegaconf.errors.OmegaConfBaseException:
            picked[key] = None
    picked["precision"] = None if picked["precision"] is None else str(picked["precision"])
    return picked


def _train_and_test(cfg: DictConfig, experiment: Experiment, run_dir: Path, results: dict[str, Any],
                    resume_from: tuple[Path, dict[str, Any]] | None) -> None:
    trainer, data = experiment.trainer, experiment.data
    results.update(device=str(trainer.device), precision=trainer.precision.name)
    summary = trainer.fit(resume_from=resume_from)
    results["train"] = summary.as_dict()
    results["params"] = count_parameters(trainer.model)  # after fit: closed-form baselines size their weights there
    _score(experiment, results)
    if trainer.world.main:
        save_samples(trainer, data, run_dir / "samples", title=f"{cfg.model.name}, {data.name}, layers={cfg.layers}")


def _score(experiment: Experiment, results: dict[str, Any]) -> None:
    """Validation and test metrics of the best-by-validation weights."""
    trainer, limits = experiment.trainer, experiment.trainer_config
    trainer.load_best()
    results["val"] = {k: v for k, v in trainer.evaluate("val", limits.limit_val_batches).items()
                      if not k.endswith("per_step")}
    results["test"] = trainer.evaluate("test", limits.limit_test_batches)
    results["test_checkpoint"] = "best" if trainer.model.trainable else "fitted"
    log.info("test mse %.4g  mae %.4g", results["test"]["mse"], results["test"]["mae"])


def _completed_run(cfg: DictConfig, plain: dict[str, Any], run_dir: Path, previous: dict[str, Any],
                   settings: dict[str, Any], callbacks: Sequence[Any], world: World) -> dict[str, Any]:
    """A folder whose run completed: never trained again; ``evaluate=true`` scores it again."""
    changed = rundir.differences(previous.get("settings", {}), settings)
    if changed:
        raise ConfigError(f"{run_dir} holds a completed run with other settings ({'; '.join(changed)}); "
                          "give this run another folder (hydra.run.dir=... or hydra.sweep.dir=...)")
    if not cfg.evaluate:
        test_mse = (previous.get("test") or {}).get("mse")
        log.warning("%s already holds a completed run (test mse %s): nothing to do. To score it again: "
                    "python -m vidpred.run hydra.run.dir=%s evaluate=true (same settings); to train again, "
                    "choose another hydra.run.dir or delete the folder", run_dir,
                    "?" if test_mse is None else f"{test_mse:.4g}", run_dir)
        return {**previous, "skipped": True}
    experiment = build_experiment(cfg, plain, run_dir, callbacks, settings, world)
    if not experiment.trainer.model.trainable:  # baselines keep their fitted weights in last.pt
        last = run_dir / "checkpoints" / checkpoint.LAST
        checkpoint.load_weights(experiment.trainer.model, checkpoint.load(last)["model"], last)
    results = dict(previous)
    _score(experiment, results)  # a failure here leaves metrics.json as it was
    results["evaluated_at"] = now()
    if world.main:
        write_json(run_dir / rundir.METRICS, results)
    return results


# ---------------------------------------------------------------- the command
@hydra.main(version_base="1.3", config_path=str(config.CONFIG_DIR), config_name=config.CONFIG_NAME)
def hydra_job(cfg: DictConfig) -> float:
    """One job, inside Hydra: returns the validation mse, the value a search minimises."""
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    hydra_cfg = HydraConfig.get()
    run_dir = Path(hydra_cfg.runtime.output_dir)
    hydra_files = {"config.yaml": cfg, "hydra.yaml": HydraConfig.instance().cfg,
                   "overrides.yaml": OmegaConf.create(list(hydra_cfg.overrides.task))}
    # A SLURM job with several tasks per sweep job starts here (submitit calls each task's job).
    opened = distributed.start(distributed.from_environment())
    world = distributed.current()
    distributed.quiet_other_ranks(world)
    results: dict[str, Any] | None = None
    try:
        config.check_top_level(cfg)
        # Signals ask the run to stop (vidpred.stop); this job may run in a launcher's worker process.
        with stop.handled():
            results = run_experiment(cfg, run_dir, hydra_files=hydra_files, world=world,
                                     overrides=list(hydra_cfg.overrides.task))
    except KeyboardInterrupt as exc:
        if hydra_cfg.mode == RunMode.MULTIRUN:
            raise
        why = f" ({exc})" if str(exc) else ""
        raise KeyboardInterrupt(f"interrupted{why}: run the same command with hydra.run.dir={run_dir} "
                                "to resume") from None
    except (UserError, DivergedError, OSError) as exc:
        if hydra_cfg.mode == RunMode.MULTIRUN:
            raise  # Hydra records the failed job and goes on with the others
        fail(exc)  # here, before Hydra adds its own report of the failed job
    finally:
        if opened:
            distributed.finish(together=results is not None)
    assert results is not None
    if world.main:
        done = "complete already: " if results.get("skipped") else ""
        print(f"{done}test mse {results['test']['mse']:.4g} | run folder {run_dir}")
    return results["val"]["mse"]


def main(argv: Sequence[str] | None = None) -> None:
    """``python -m vidpred.run``: Hydra's command line, with every user error as one line, exit 2.

    Under ``torchrun`` every process comes here: they open the process group first and take rank
    0's start time and token, so that Hydra names the same run folder on every rank.
    """
    if argv is not None:
        sys.argv = [sys.argv[0], *argv]
    # Hydra prints its own multi-line reports and exits 1; with HYDRA_FULL_ERROR it re-raises the
    # exception instead, which is translated below into the one line vidpred promises.
    os.environ["HYDRA_FULL_ERROR"] = "1"
    from hydra.core.plugins import Plugins
    from hydra.errors import HydraException
    from omegaconf.errors import OmegaConfBaseException

    # The sweeper of conf/hydra/sweeper/vidpred.yaml, registered by hand (see its module). Hydra's
    # first scan re-executes its own plugin modules, so it must come before the subclass is imported.
    plugins = Plugins.instance()
    from hydra_plugins.vidpred_sweeper import LayerAwareSweeper

    plugins.register(LayerAwareSweeper)

    world = distributed.from_environment()
    try:
        with stop.handled():
            _main(world)
    except KeyboardInterrupt as exc:
        if debug_enabled():
            raise
        hint = str(exc) if str(exc).startswith("interrupted") else "interrupted: run the same command again to resume"
        if world.main:
            print(hint, file=sys.stderr)
        sys.exit(stop.EXIT_CODE)
    except (UserError, DivergedError, HydraException, OmegaConfBaseException, OSError) as exc:
        fail(exc)
    finally:
        distributed.finish()


def _main(world: World) -> None:
    """Open the process group of a data-parallel run, then run Hydra's command line."""
    searched = [a for a in sys.argv[1:] if a.split("=", 1)[0].lstrip("+~") == "hparams_search"]
    require(not searched, f"{searched[0] if searched else ''} is a search, which has a command of its own: "
                          "python -m vidpred.search OVERRIDES (no -m; hparams_search=optuna is its default)")
    if world.active:
        require(not {"-m", "--multirun"} & set(sys.argv[1:]),
                "torchrun runs one experiment on several processes; for a sweep of data-parallel jobs use "
                "hydra/launcher=slurm with hydra.launcher.gpus_per_node=N")
        distributed.start(world)
        distributed.agree_on_run_stamp()
    hydra_job()
    distributed.finish(together=True)


def fail(exc: BaseException) -> NoReturn:
    """``error: <one line>`` on stderr; exit 2 for a user's mistake, 3 for a diverged run."""
    from hydra.errors import HydraException
    from omegaconf.errors import OmegaConfBaseException

    if debug_enabled():
        raise exc
    world = distributed.from_environment()
    if world.active and world.main:
        distributed.main_rank_failed()
    elif world.active:  # rank 0 says it, once for the run, unless it is gone
        if not distributed.failure_reported():
            distributed.report_failure(one_line(exc))
        if distributed.failure_reported():
            sys.exit(3 if isinstance(exc, DivergedError) else 2)
    if isinstance(exc, (HydraException, OmegaConfBaseException)):
        exc = config.config_error(exc, sys.argv[1:])
    elif isinstance(exc, (FileExistsError, NotADirectoryError)):
        exc = UserError(f"{exc.filename} exists and is not a folder; choose another run folder (hydra.run.dir)")
    elif isinstance(exc, OSError):
        exc = (write_error(exc.filename, exc) if exc.filename else None) or UserError(
            f"{exc.strerror or exc}: {exc.filename}" if exc.filename else str(exc))
    print(f"error: {one_line(exc)}", file=sys.stderr)
    sys.exit(3 if isinstance(exc, DivergedError) else 2)


if __name__ == "__main__":
    main()
