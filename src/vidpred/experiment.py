"""One experiment, from a resolved config to a run folder: check every setting, build the data and the
model, train, score the best-by-validation weights, and write what happened.

The config arrives as plain data (the entry points resolve Hydra's config into dicts and lists); nothing
here reads Hydra. The run folder's promises are kept here, with :mod:`vidpred.runfolder`: one process
at a time, a completed run never trained again, a failed attempt never overwriting an earlier one, and
a resume only with the settings the checkpoint was trained with.
"""

from __future__ import annotations

import contextlib
import logging
import platform
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import torch
import yaml

import vidpred
from vidpred import config as configs, runfolder
from vidpred.data import DataFamily, DataSplits, build_data, family, split_data_keys
from vidpred.data.base import Geometry
from vidpred.data.registry import with_prepared
from vidpred.errors import ConfigError, DivergedError, Pruned, one_line, require
from vidpred.io import WriteError, atomic_path, write_json
from vidpred.models import Forecaster, build_model, check_model, count_parameters
from vidpred.plots import save_samples
from vidpred.registry import call_with_config
from vidpred.training import checkpoint, distributed, memory
from vidpred.training.batches import check_global_batch
from vidpred.training.distributed import SINGLE, World
from vidpred.training.loggers import NullLogger, build_logger
from vidpred.training.losses import LossConfig
from vidpred.training.precision import Precision, resolve_device
from vidpred.training.seeding import seed_everything
from vidpred.training.settings import LoaderConfig, MetricsConfig, OptimConfig, TrainerConfig
from vidpred.training.stop import StopRequest
from vidpred.training.trainer import Trainer

log = logging.getLogger("vidpred")


def versions() -> dict[str, str | None]:
    import hydra
    import omegaconf

    return {"vidpred": vidpred.__version__, "python": platform.python_version(),
            "torch": torch.__version__, "cuda": torch.version.cuda, "numpy": np.__version__,
            "hydra": hydra.__version__, "omegaconf": omegaconf.__version__}


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


# ---------------------------------------------------------------- resuming
def resume_checkpoint(resume: bool | str, run_dir: Path) -> Path | None:
    """Which ``last.pt`` to continue from: asked for explicitly, or found in the run folder."""
    own = runfolder.checkpoint_path(run_dir, checkpoint.LAST)
    if own.is_file():  # this folder's own progress wins, also over resume=PATH after an interruption
        return own
    if isinstance(resume, str) and resume not in ("", "false", "true"):
        path = Path(resume)
        path = runfolder.checkpoint_path(path, checkpoint.LAST) if path.is_dir() else path
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
    changed = runfolder.differences(state.get("settings", {}), settings)
    if changed:
        raise ConfigError(f"cannot resume from {path}: it was trained with other settings ({'; '.join(changed)}); "
                          "resume with the same settings, or start a new run folder (hydra.run.dir=...)")
    return state


# ---------------------------------------------------------------- building
def experiment_config(plain: dict[str, Any], overrides: Sequence[str] | None = None) -> dict[str, Any]:
    """What an experiment runs with: the resolved config ``plain``, where a prepared set's settings
    (what ``vidpred.data prepare`` was given) are the defaults of the data keys the user did not give
    (``overrides``, the command line); a given value that differs is refused."""
    data = plain["data"]
    resolved = with_prepared(data["name"], data, plain["paths"]["data_dir"], configs.data_keys_given(data, overrides))
    for key, value in resolved.items():
        if data.get(key) != value:
            log.info("data.%s=%s, as the set was prepared", key, value)
    return {**plain, "data": resolved}


@dataclass
class Experiment:
    """A built experiment: everything that can fail on a bad setting, before any file is written."""

    data: DataSplits
    trainer: Trainer
    trainer_config: TrainerConfig
    choices: dict[str, Any]


def choices_of(config: Mapping[str, Any]) -> dict[str, Any]:
    """What the run is, in the names of the config groups: the tables' and dashboards' columns."""
    section = lambda group: config.get(group) if isinstance(config.get(group), Mapping) else {}  # noqa: E731
    precision = section("trainer").get("precision")
    return {"model": section("model").get("name"), "data": section("data").get("name"), "layers": config.get("layers"),
            "seed": config.get("seed"), "trainer": section("trainer").get("name"),
            "precision": None if precision is None else str(precision), "loss": section("loss").get("name")}


def build_experiment(config: Mapping[str, Any], run_dir: Path, callbacks: Sequence[Any], settings: dict[str, Any],
                     world: World = SINGLE, stop: StopRequest | None = None) -> Experiment:
    # Every setting is checked, and the memory the run needs compared with the memory there is,
    # before any data is read or generated: a mistake costs seconds, not a data set's building.
    layers, seed = config["layers"], config["seed"]
    require(isinstance(layers, int) and not isinstance(layers, bool) and layers >= 1,
            f"layers must be a whole number >= 1, got {layers}")
    require(isinstance(seed, int) and not isinstance(seed, bool), f"seed must be a whole number, got {seed}")
    require(isinstance(config["evaluate"], bool), f"evaluate must be true or false, got {config['evaluate']!r}")
    model_name, data_name = config["model"]["name"], config["data"]["name"]
    # the family's declaration tells the data's kind: a model of another kind is refused before any
    # data is read, downloaded or generated
    check_model(model_name, family(data_name).kind, f"data={data_name}")
    seed_everything(seed)
    device = resolve_device(config["trainer"]["device"])
    if device.type == "cuda" and world.active:
        device = torch.device("cuda", world.local_rank)  # one GPU per process of the node
    trainer_keys = {k: v for k, v in config["trainer"].items() if k not in ("name", "device", "precision")}
    trainer_config = call_with_config(TrainerConfig, trainer_keys, prefix="trainer")
    optim = call_with_config(OptimConfig, config["optim"], prefix="optim")
    data_params, loader_keys = split_data_keys(config["data"])
    loader = call_with_config(LoaderConfig, loader_keys, prefix="data")
    check_global_batch(loader.batch_size, world)
    loss = call_with_config(LossConfig, config["loss"], prefix="loss")
    metrics = call_with_config(MetricsConfig, config["metrics"], prefix="metrics")
    model_params = {k: v for k, v in config["model"].items() if k != "name"}
    chosen, geometry, probe = plan_experiment(data_name, data_params, model_name, model_params)
    precision = Precision.create(config["trainer"]["precision"], device, chosen.kind)
    if probe is not None:
        check_settings(data_name, chosen.kind, geometry.frame_shape or (1,), probe, loss, metrics)
        check_memory(memory_need(probe, geometry, data_params, loader, loss), device)

    tick = time.perf_counter()
    data_dir = config["paths"]["data_dir"]
    data = build_data(data_name, data_params, data_dir)
    log.info("data %s: %d train / %d val / %d test items of shape %s (%.1f s)", data.name,
             len(data.train), len(data.val), len(data.test), (data.length, *data.frame_shape),
             time.perf_counter() - tick)
    with torch.device("meta"):
        probe = build_model(model_name, data.kind, data.frame_shape, model_params)
    check_settings(data.name, data.kind, data.frame_shape, probe, loss, metrics)
    if geometry.held_items is None or geometry.frame_shape != data.frame_shape:  # now known: check again (the
        # items are in memory already, so the memory available has shrunk by them)
        check_memory(memory_need(probe, Geometry(data.frame_shape, 0, len(data.train)),
                                 {"context": data.context, "horizon": data.horizon}, loader, loss), device)
    model = build_model(model_name, data.kind, data.frame_shape, model_params)
    trainer = Trainer(model, data, run_dir, trainer_config, optim, loader, precision, seed, callbacks,
                      settings=settings, world=world, loss=loss, lpips=build_lpips(metrics, data_dir, device),
                      stop_request=stop)
    return Experiment(data, trainer, trainer_config, choices_of(config))


def check_settings(data_name: str, kind: str, frame_shape: tuple[int, ...], model: Forecaster, loss: LossConfig,
                   metrics: MetricsConfig) -> None:
    """The settings that depend on the data's kind and frame size: LPIPS and the adversarial loss."""
    if loss.adversarial and model.trainable:
        require(kind == "video", f"loss=adversarial judges video frames; data={data_name} holds sequences")
    if metrics.lpips:
        from vidpred.metrics import lpips

        require(kind == "video", f"metrics.lpips=true scores video frames; data={data_name} holds sequences")
        require(min(frame_shape[-2:]) >= lpips.MIN_SIZE,
                f"metrics.lpips=true needs frames of at least {lpips.MIN_SIZE} x {lpips.MIN_SIZE} pixels (AlexNet's "
                f"strides); data={data_name} has {frame_shape[-2]} x {frame_shape[-1]}")


def plan_experiment(data_name: str, data_params: dict[str, Any], model_name: str,
                    model_params: dict[str, Any]) -> tuple[DataFamily, Geometry, Forecaster | None]:
    """The data set's family and what its settings ask for, and the model built on PyTorch's meta
    device (every key checked, nothing allocated); None where the frame shape waits for the files."""
    chosen = family(data_name)
    geometry = chosen.plan(data_params)
    if geometry.frame_shape is None and chosen.kind != "sequence":  # the LSTMs do not depend on D
        return chosen, geometry, None
    with torch.device("meta"):
        probe = build_model(model_name, chosen.kind, geometry.frame_shape or (1,), model_params)
    return chosen, geometry, probe


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
    from vidpred.data.lpips_weights import weights_folder
    from vidpred.metrics.lpips import load_lpips

    return load_lpips(weights_folder(data_dir, metrics.lpips_weights), device)


# ---------------------------------------------------------------- running
def run_experiment(config: Mapping[str, Any], run_dir: Path, callbacks: Sequence[Any] = (), *,
                   world: World = SINGLE, overrides: Sequence[str] | None = None, hydra_settings: str | None = None,
                   search: dict[str, Any] | None = None, stop: StopRequest | None = None) -> dict[str, Any]:
    """Train and test the resolved ``config`` in ``run_dir``; returns the content of ``metrics.json``.

    The folder is locked for the whole run. A folder that holds a completed run is never trained
    again (``evaluate=true`` scores it again); a failed attempt never replaces what an earlier one
    wrote. ``.hydra/`` gets the config and, where given, the ``overrides`` (the command line) and ``hydra_settings``
    (Hydra's own, as YAML) once the attempt is known to be valid. ``search`` (a search's trial: study
    and trial number) is written into ``metrics.json`` with the attempt. ``stop`` is the request a
    signal sets (:mod:`vidpred.training.stop`): the run ends at the next step boundary.

    In a data-parallel run (``world``) every process calls this; rank 0 alone holds the lock and
    writes files, and the others follow its reading of the folder.
    """
    run_dir = Path(run_dir)
    stop = stop or StopRequest()
    if not world.active and stop.requested:  # (ranks agree on a stop once training starts)
        raise stop.stopped("before the run began; nothing was written")
    config = dict(config)
    try:
        with contextlib.ExitStack() as folder:
            if world.main:  # rank 0 alone holds the folder and writes into it
                folder.enter_context(runfolder.locked(run_dir))
                folder.enter_context(runfolder.log_file(run_dir))
            previous = distributed.broadcast(runfolder.read_metrics(run_dir) if world.main else None)
            settings = runfolder.shaping_settings(config)
            attempt = Attempt(config, run_dir, list(callbacks), settings, world, stop,
                              HydraFiles(config, None if overrides is None else list(overrides), hydra_settings))
            if previous is not None and previous.get("status") == "completed":
                return attempt.completed(previous)
            require(not config["evaluate"], f"evaluate=true scores a completed run again, and {run_dir} holds "
                                            f"none (status: {(previous or {}).get('status', 'no metrics.json')})")
            return attempt.train(previous, search)
    except Exception as exc:
        if world.active and not world.main:
            distributed.report_failure(one_line(exc))  # rank 0 writes it into metrics.json
        raise


@dataclass
class HydraFiles:
    """What ``.hydra/`` holds: the resolved config, the command line's overrides, Hydra's settings."""

    config: Mapping[str, Any]
    overrides: list[str] | None  # the command line (None: called from Python)
    hydra_settings: str | None

    def write(self, run_dir: Path) -> None:
        texts = {"config.yaml": yaml.safe_dump(dict(self.config), sort_keys=False)}
        if self.overrides is not None:
            texts["overrides.yaml"] = yaml.safe_dump(self.overrides)
        if self.hydra_settings is not None:
            texts["hydra.yaml"] = self.hydra_settings
        for name, text in texts.items():
            with atomic_path(runfolder.hydra_path(run_dir, name)) as tmp:
                tmp.write_text(text)


@dataclass
class Attempt:
    """One attempt at the run of a locked folder."""

    config: dict[str, Any]
    run_dir: Path
    callbacks: list[Any]
    settings: dict[str, Any]
    world: World
    stop: StopRequest
    hydra_files: HydraFiles

    def train(self, previous: dict[str, Any] | None, search: dict[str, Any] | None) -> dict[str, Any]:
        """Train (or continue training) and test; ``metrics.json`` says how it went, however it went."""
        config, run_dir, world = self.config, self.run_dir, self.world
        results: dict[str, Any] = {"status": "running", "error": None, "choices": {}, "started_at": now(),
                                   "process": runfolder.holder(), "world_size": world.size,
                                   "settings": self.settings, "versions": versions(),
                                   **({"search": dict(search)} if search else {})}
        logger: Any = NullLogger()  # until the configured one exists: a bad logger setting is a failed run too
        written = False
        if previous is not None and previous.get("status") == "running" and world.main:
            # the lock was free: whoever wrote "running" is gone (killed, out of memory, a node lost)
            log.warning("the run here before (%s) is gone without a word; it continues from its last checkpoint",
                        runfolder.describe(previous.get("process") or {}))
        try:
            resume_path = resume_checkpoint(config["resume"], run_dir)
            resume_state = load_resume_state(resume_path, self.settings) if resume_path else None
            distributed.barrier()  # every rank has read the folder before rank 0 writes into it
            experiment = build_experiment(config, run_dir, self.callbacks, self.settings, world, self.stop)
            results["choices"] = experiment.choices
            results["declaration"] = experiment.trainer.model.declaration()
            data = experiment.data
            # what vidpred.predict needs to treat new inputs as this run's data was treated
            results["data"] = {"kind": data.kind, "context": data.context, "horizon": data.horizon,
                               "frame_shape": list(data.frame_shape), **data.meta}
            if world.main:
                self.hydra_files.write(run_dir)
                write_json(runfolder.metrics_path(run_dir), results)
                written = True
                logger = build_logger(config["logger"]["name"],
                                      {k: v for k, v in config["logger"].items() if k != "name"},
                                      run_dir, config, experiment.choices)
                experiment.trainer.callbacks.append(logger)
            self._train_and_test(experiment, results,
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
                    results["choices"] = results["choices"] or choices_of(config)
                    results["overrides"] = list(self.hydra_files.overrides or [])
                results["process"] = None
                results["finished_at"] = now()
                try:
                    write_json(runfolder.metrics_path(run_dir), results)
                except WriteError as exc:  # a full disk: the error that stopped the run is the one to report
                    log.warning("%s could not record how the run ended: %s", runfolder.METRICS, exc)
                logger.log_summary(results)
                logger.finish(results["status"])
        return results

    def _train_and_test(self, experiment: Experiment, results: dict[str, Any],
                        resume_from: tuple[Path, dict[str, Any]] | None) -> None:
        trainer, data = experiment.trainer, experiment.data
        results.update(device=str(trainer.device), precision=trainer.precision.name)
        summary = trainer.fit(resume_from=resume_from)
        results["train"] = summary.as_dict()
        results["params"] = count_parameters(trainer.model)  # after fit: closed-form baselines size their weights there
        results["macs_per_sample"] = trainer.model.macs_per_sample(data.frame_shape, data.context, data.horizon)
        score(experiment, results)
        if trainer.world.main:
            choices = experiment.choices
            save_samples(trainer, data, runfolder.samples_dir(self.run_dir),
                         title=f"{choices['model']}, {data.name}, layers={choices['layers']}")

    def completed(self, previous: dict[str, Any]) -> dict[str, Any]:
        """A folder whose run completed: never trained again; ``evaluate=true`` scores it again."""
        run_dir = self.run_dir
        changed = runfolder.differences(previous.get("settings", {}), self.settings)
        if changed:
            raise ConfigError(f"{run_dir} holds a completed run with other settings ({'; '.join(changed)}); "
                              "give this run another folder (hydra.run.dir=... or hydra.sweep.dir=...)")
        if not self.config["evaluate"]:
            test_mse = (previous.get("test") or {}).get("mse")
            log.warning("%s already holds a completed run (test mse %s): nothing to do. To score it again: "
                        "python -m vidpred.run hydra.run.dir=%s evaluate=true (same settings); to train again, "
                        "choose another hydra.run.dir or delete the folder", run_dir,
                        "?" if test_mse is None else f"{test_mse:.4g}", run_dir)
            return {**previous, "skipped": True}
        experiment = build_experiment(self.config, run_dir, self.callbacks, self.settings, self.world, self.stop)
        if not experiment.trainer.model.trainable:  # baselines keep their fitted weights in last.pt
            last = runfolder.checkpoint_path(run_dir, checkpoint.LAST)
            checkpoint.load_weights(experiment.trainer.model, checkpoint.load(last)["model"], last)
        results = dict(previous)
        score(experiment, results)  # a failure here leaves metrics.json as it was
        results["evaluated_at"] = now()
        if self.world.main:
            write_json(runfolder.metrics_path(run_dir), results)
        return results


def score(experiment: Experiment, results: dict[str, Any]) -> None:
    """Validation and test metrics of the best-by-validation weights."""
    trainer, limits = experiment.trainer, experiment.trainer_config
    trainer.load_best()
    results["val"] = {k: v for k, v in trainer.evaluate("val", limits.limit_val_batches).items()
                      if not k.endswith("per_step")}
    results["test"] = trainer.evaluate("test", limits.limit_test_batches)
    results["test_checkpoint"] = "best" if trainer.model.trainable else "fitted"
    results["inference"] = trainer.inference["test"]  # the test set's forward passes, on the run's device
    log.info("test mse %.4g  mae %.4g", results["test"]["mse"], results["test"]["mae"])
