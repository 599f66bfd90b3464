"""Experiment loggers (dashboards). Local files are always written by the run itself; a logger
adds a remote view. ``logger=none`` is the default; ``logger=wandb`` sends each run to Weights &
Biases.

A logger is also a trainer callback: the trainer calls ``on_train_batch_end`` and
``on_validation_end``; the run calls ``log_summary`` with the final ``metrics.json`` content and
``finish`` exactly once, also when the run fails.
"""

from __future__ import annotations

import logging
import netrc
import os
import shutil
import socket
import threading
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from vidpred import runfolder
from vidpred.errors import ConfigError
from vidpred.io import atomic_path
from vidpred.registry import Registry

log = logging.getLogger("vidpred")


class NullLogger:
    """Logs nothing beyond the run folder's own files."""

    def log_summary(self, results: dict[str, Any]) -> None:
        """Called once with the finished run's ``metrics.json`` content."""

    def finish(self, status: str) -> None:
        """Called exactly once, also when the run fails."""


WANDB_MODES = ("auto", "online", "offline", "disabled")
RUN_ID_FILE = "vidpred_run_id"  # inside <run>/wandb/: a resumed run continues the same wandb run
DEFAULT_BASE_URL = "https://api.wandb.ai"
# wandb's caches and staging area (service logs, artifacts) go to ~/.cache and ~/.local/share unless
# these are set; vidpred points them into the run folder, unless the user set them before.
FOLDER_ENV = {"WANDB_CACHE_DIR": "cache", "WANDB_DATA_DIR": "data"}
_USER_FOLDERS = {name: os.environ.get(name) for name in FOLDER_ENV}


def wandb_credentials_present() -> bool:
    """Whether wandb could log in without asking: an API key in the environment or in netrc."""
    if os.environ.get("WANDB_API_KEY") or os.environ.get("WANDB_IDENTITY_TOKEN_FILE"):
        return True
    host = urlparse(os.environ.get("WANDB_BASE_URL", DEFAULT_BASE_URL)).hostname or "api.wandb.ai"
    candidates = [os.environ.get("NETRC", ""), str(Path.home() / ".netrc"), str(Path.home() / "_netrc")]
    for path in filter(None, candidates):
        try:
            if netrc.netrc(path).authenticators(host):
                return True
        except (OSError, netrc.NetrcParseError):
            continue
    return False


def resolve_wandb_mode(mode: str) -> str:
    """``auto``: ``WANDB_MODE`` if set, else online with credentials and offline without."""
    if mode != "auto":
        return mode
    return os.environ.get("WANDB_MODE") or ("online" if wandb_credentials_present() else "offline")


def unreachable(base_url: str, timeout: float) -> str | None:
    """Why wandb's server cannot be reached within ``timeout`` seconds (None: a TCP connection opened).

    A check of a few seconds instead of wandb's own start-up timeout: without a route out, every run
    of a sweep would otherwise wait out that timeout before falling back to offline. The probe runs in
    a thread because a name lookup ignores socket timeouts.
    """
    parts = urlparse(base_url)
    host, port = parts.hostname or "", parts.port or (443 if parts.scheme == "https" else 80)
    outcome: dict[str, str] = {}

    def probe() -> None:
        try:
            with socket.create_connection((host, port), timeout=timeout):
                outcome["ok"] = ""
        except OSError as exc:
            outcome["error"] = " ".join(str(exc).split()) or type(exc).__name__

    thread = threading.Thread(target=probe, daemon=True)
    thread.start()
    thread.join(timeout)
    if "ok" in outcome:
        return None
    return f"{host}:{port}: {outcome.get('error', f'no answer within {timeout:g} s')}"


def sweep_group(run_dir: Path) -> str | None:
    """The sweep (or search) a run belongs to, named after its folder."""
    from vidpred.runfolder import is_sweep_folder

    sweep = run_dir.resolve().parent
    return f"{sweep.parent.name}/{sweep.name}" if is_sweep_folder(sweep) else None


class WandbLogger(NullLogger):
    """One wandb run per vidpred run, with its files inside the run folder (``<run>/wandb/``).

    wandb never fails a run: if it cannot start online it falls back to offline (sync later with
    ``wandb sync <run>/wandb/offline-run-*``), and any later wandb error disables it with a warning.
    """

    def __init__(self, run_dir: Path, config: dict[str, Any], choices: dict[str, Any], *,
                 project: str = "vidpred", entity: str | None = None, mode: str = "auto",
                 group: str | None = None, job_type: str | None = None, tags: Sequence[str] = (),
                 run_name: str | None = None, log_every_n_steps: int = 1, log_samples: bool = True,
                 init_timeout: float = 10.0) -> None:
        if mode not in WANDB_MODES:
            raise ConfigError(f"logger.mode={mode!r}; choose one of {', '.join(WANDB_MODES)}")
        if log_every_n_steps < 1:
            raise ConfigError(f"logger.log_every_n_steps must be at least 1, got {log_every_n_steps}")
        if init_timeout <= 0:
            raise ConfigError(f"logger.init_timeout must be positive (seconds), got {init_timeout}")
        self.run_dir = Path(run_dir)
        self.log_every_n_steps = log_every_n_steps
        self.log_samples = log_samples
        self.run: Any = None
        self._step = 0
        self.mode = resolve_wandb_mode(mode)
        if self.mode == "disabled":
            return
        choice_tags = [f"{k}={v}" for k, v in choices.items() if v is not None]
        self._init_args = dict(
            project=project, entity=entity, config=config, dir=str(self.run_dir),
            group=group or sweep_group(self.run_dir), job_type=job_type or str(choices.get("data")),
            tags=[*choice_tags, *tags], name=run_name or self.run_dir.name,
        )
        self._init_timeout = init_timeout
        self._start()

    # ------------------------------------------------------------------ start and guard
    def _start(self) -> None:
        try:
            import wandb
        except ImportError:
            self._disable("the wandb package is not installed (pip install wandb)")
            return
        folder = self.run_dir / "wandb"
        for name, sub in FOLDER_ENV.items():
            os.environ[name] = _USER_FOLDERS[name] or str(folder / sub)
        id_file = folder / RUN_ID_FILE
        run_id = id_file.read_text().strip() if id_file.is_file() else None
        if self.mode == "online":
            problem = unreachable(os.environ.get("WANDB_BASE_URL", DEFAULT_BASE_URL), self._init_timeout)
            if problem is not None:
                warnings.warn(f"wandb server unreachable ({problem}); logging offline, sync later with "
                              f"wandb sync {folder}/offline-run-*", stacklevel=2)
                self.mode = "offline"
        modes = [self.mode] + (["offline"] if self.mode == "online" else [])
        for mode in modes:
            before = set(folder.glob("*run-*")) if folder.is_dir() else set()
            try:
                settings = wandb.Settings(init_timeout=self._init_timeout, console="off", quiet=True,
                                          disable_git=True, save_code=False)
                self.run = wandb.init(**self._init_args, mode=mode, id=run_id,
                                      resume="allow" if run_id else None, reinit="finish_previous",
                                      settings=settings)
                break
            except Exception as exc:  # noqa: BLE001 - wandb must never stop a run
                for abandoned in set(folder.glob("*run-*")) - before:  # one wandb folder per run
                    shutil.rmtree(abandoned, ignore_errors=True)
                warnings.warn(f"wandb could not start {mode} ({exc}); "
                              + ("trying offline" if mode != modes[-1] else "going on without wandb"),
                              stacklevel=2)
        if self.run is None:
            return
        self.mode = mode
        with atomic_path(id_file) as tmp:  # never through a link planted at the name
            tmp.write_text(self.run.id + "\n")
        self._guard(lambda: (self.run.define_metric("epoch"),
                             self.run.define_metric("val/*", step_metric="epoch")))
        log.info("wandb %s run %s (group %s)", mode, self.run.id, self._init_args["group"])

    def _disable(self, reason: str) -> None:
        warnings.warn(f"wandb logging stopped: {reason}", stacklevel=3)
        self.run = None

    def _guard(self, action: Any) -> None:
        """Run a wandb call; the first failure switches wandb off for the rest of the run."""
        if self.run is None:
            return
        try:
            action()
        except Exception as exc:  # noqa: BLE001 - wandb must never stop a run
            self._disable(str(exc))

    # ------------------------------------------------------------------ trainer hooks
    def on_train_batch_end(self, trainer: Any, step: int, loss: float) -> None:
        self._step = max(self._step, step)
        if step % self.log_every_n_steps == 0:
            extra = {f"train/{k}": v for k, v in getattr(trainer, "step_values", {}).items() if k != "train_loss"}
            self._guard(lambda: self.run.log({"train/loss": loss, **extra}, step=step))

    def on_validation_end(self, trainer: Any, epoch: int, metrics: dict[str, Any]) -> None:
        values = {f"val/{k}": v for k, v in metrics.items() if isinstance(v, (int, float))}
        self._step = max(self._step, trainer.summary.steps)
        self._guard(lambda: self.run.log({**values, "epoch": epoch}, step=self._step))

    # ------------------------------------------------------------------ end of the run
    def log_summary(self, results: dict[str, Any]) -> None:
        self._guard(lambda: self._write_summary(results))
        if results.get("test"):
            self._guard(lambda: self._log_curves(results["test"]))
        if self.log_samples:
            self._guard(self._log_samples)

    def _write_summary(self, results: dict[str, Any]) -> None:
        summary = self.run.summary
        summary["status"] = results.get("status")
        if results.get("error"):
            summary["error"] = results["error"]
        for section in ("test", "val", "train"):
            for key, value in (results.get(section) or {}).items():
                if isinstance(value, (int, float)) and not isinstance(value, bool):
                    summary[f"{section}/{key}"] = value
        for key in ("params", "device", "precision"):
            if key in results:
                summary[key] = results[key]

    def _log_curves(self, test: dict[str, Any]) -> None:
        import wandb

        mse, mae = test.get("mse_per_step") or [], test.get("mae_per_step") or []
        if not mse:
            return
        table = wandb.Table(columns=["predicted step", "mse", "mae"],
                            data=[[i + 1, m, mae[i] if i < len(mae) else None] for i, m in enumerate(mse)])
        self.run.log({"test/mse_per_step": wandb.plot.line(table, "predicted step", "mse",
                                                           title="test MSE per predicted step"),
                      "test/per_step": table}, step=self._step)

    def _log_samples(self) -> None:
        import wandb

        folder = runfolder.samples_dir(self.run_dir)
        media: dict[str, Any] = {}
        for path in sorted(folder.glob("*.png")):
            media[f"samples/{path.stem}"] = wandb.Image(str(path), caption=path.stem)
        for path in sorted(folder.glob("*.gif")):
            media[f"videos/{path.stem}"] = wandb.Video(str(path), caption=path.stem, format="gif")
        if media:
            self.run.log(media, step=self._step)

    def finish(self, status: str) -> None:
        run, self.run = self.run, None
        if run is not None:
            try:
                run.finish(exit_code=0 if status == "completed" else 1)
                # The next run of this process (a sweep worker) starts its own wandb service, whose
                # logs then go into that run's folder.
                import wandb

                wandb.teardown()
            except Exception as exc:  # noqa: BLE001 - wandb must never stop a run
                warnings.warn(f"wandb could not finish the run ({exc})", stacklevel=2)
        for name in FOLDER_ENV:
            if _USER_FOLDERS[name] is None:
                os.environ.pop(name, None)


def _wandb(params: dict[str, Any], run_dir: Path, config: dict[str, Any], choices: dict[str, Any]) -> WandbLogger:
    known = set(WandbLogger.__init__.__kwdefaults__ or {})
    unknown = sorted(set(params) - known)
    if unknown:
        raise ConfigError(f"unknown logger key(s) {', '.join(unknown)} for logger=wandb; known: {', '.join(sorted(known))}")
    return WandbLogger(run_dir, config, choices, **params)


#: Every logger by the option of ``conf/logger``: a factory of (its config keys, the run folder, the
#: run's config, its choices).
LOGGERS: Registry[Callable[..., NullLogger]] = Registry("logger")
LOGGERS.add("none", lambda params, run_dir, config, choices: NullLogger())
LOGGERS.add("wandb", _wandb)


def build_logger(name: str, params: dict[str, Any], run_dir: Path, config: dict[str, Any],
                 choices: dict[str, Any]) -> NullLogger:
    """The logger ``name`` with its config keys ``params``."""
    return LOGGERS.get(name)(params, run_dir, config, choices)
