"""A search over settings with Optuna; every trial is an ordinary run folder.

    python -m vidpred.search [OVERRIDES]
    python -m vidpred.search model=convlstm data=mnist hparams_search.n_trials=40
    python -m vidpred.report outputs/search/convlstm_mnist_l1

OVERRIDES are ``python -m vidpred.run``'s and apply to every trial; ``hparams_search.*`` (the preset
``conf/hparams_search/optuna.yaml`` unless ``hparams_search=OTHER`` is given) sets the study's name
and folder, the space, the objectives, the sampler and the pruner. Running the same command again
continues the study; running it in several shells, on machines that share the folder, or in every
task of a SLURM array adds workers to the same study.

A command of its own rather than a Hydra sweeper: Hydra finds a sweeper only as a plugin in an
installed ``hydra_plugins`` namespace, which an editable install hides, and the promises below need
each trial's life (asked, run, resumed, pruned, told) in vidpred's hands. Each trial composes its
config with Hydra's compose API and runs :func:`vidpred.run.run_experiment` in this process.

- **Many workers, one study.** The study is kept in Optuna's journal file ``<dir>/study.journal`` (no
  server; or a database URL). A worker asks for one trial at a time while it holds ``<dir>/.ask.lock``,
  so trials are counted, drawn and settled by one worker at a time: the study ends with ``n_trials``
  finished trials, none run twice. Each worker holds a lock in ``<dir>/workers/`` for its life.
- **A crash loses nothing and repeats nothing.** Each trial draws with a sampler seeded by (``seed``,
  trial number), so a restarted worker draws new values. A RUNNING trial whose worker and run folder
  are both unlocked belongs to a dead process: if its run had ended, it is told from the run folder's
  ``metrics.json``; otherwise it is marked FAIL with the reason and a copy of its parameters is
  queued, which continues in the same run folder from its ``last.pt`` (vidpred resumes a folder
  exactly when the same config runs in it again).
- **Pruning.** Each epoch's validation value is reported to the trial (the trainer's
  ``on_validation_end`` hook); when the pruner gives up on it, the run ends with status ``pruned``.

The trial's study and number are written into its ``metrics.json``, its run folder into the trial's
user attributes; after every change the worker writes ``<dir>/search.json``, which the report reads
without Optuna.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import math
import os
import re
import secrets
import socket
import sys
import time
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from omegaconf import DictConfig

from vidpred import config, rundir, stop
from vidpred.errors import ConfigError, DivergedError, Pruned, UserError, debug_enabled, one_line, require
from vidpred.io import write_json
from vidpred.registry import call_with_config
from vidpred.run import fail, now, run_experiment

try:
    import optuna
    from optuna.distributions import (BaseDistribution, CategoricalDistribution, FloatDistribution,
                                      IntDistribution)
    from optuna.samplers import BaseSampler
    from optuna.trial import FrozenTrial, TrialState
except ModuleNotFoundError:  # the search extra is not installed: main() says so in one line
    optuna = None
    BaseSampler = object  # type: ignore[assignment,misc]

log = logging.getLogger("vidpred")

GROUP = "hparams_search"
DEFAULT_PRESET = "optuna"
JOURNAL = "study.journal"
ASK_LOCK = ".ask.lock"
WORKERS = "workers"
POLL_SECONDS = 2.0  # how often a worker looks again while other workers run the last trials
#: Metrics where higher is better; every other one is an error and is minimised.
MAXIMISED = ("psnr", "ssim", "samples_per_second")
#: metrics.json sections an objective may come from: the test set plays no part in a search.
SECTIONS = ("val", "train")
STATUS_OF = {"completed": "COMPLETE", "pruned": "PRUNED", "diverged": "FAIL"}


# ---------------------------------------------------------------- settings
@dataclass
class SearchConfig:
    """The ``hparams_search`` node (see ``conf/hparams_search/optuna.yaml``)."""

    name: str
    dir: str
    n_trials: int
    storage: str | None
    objectives: list
    sampler: str
    seed: int
    startup_trials: int
    pruner: str
    warmup_epochs: int
    startup_pruning: int
    min_epochs: int
    reduction_factor: int
    params: dict
    enqueue: list

    def __post_init__(self) -> None:
        p = GROUP
        if isinstance(self.objectives, str):  # hparams_search.objectives=val_mse
            self.objectives = [self.objectives]
        require(isinstance(self.objectives, list), f"{p}.objectives must be a list, got {self.objectives!r}")
        require(isinstance(self.enqueue, list), f"{p}.enqueue must be a list of settings, got {self.enqueue!r}")
        require(bool(re.fullmatch(r"[\w.+-]+", self.name)), f"{p}.name={self.name!r}: use letters, digits and _ . + -")
        require(self.n_trials >= 1, f"{p}.n_trials must be at least 1, got {self.n_trials}")
        require(len(self.objectives) >= 1 and len(set(self.objectives)) == len(self.objectives),
                f"{p}.objectives must name one or more distinct metrics, got {self.objectives}")
        for name in self.objectives:
            section, _, key = str(name).partition("_")
            require(section != "test", f"{p}.objectives: {name} is a test metric, and the test set plays no part "
                                       "in a search; use the validation one (val_...)")
            require(section in SECTIONS and bool(key),
                    f"{p}.objectives: {name!r} is not val_<metric> or train_<value> (e.g. val_mse, "
                    "train_samples_per_second)")
        require(self.sampler in ("tpe", "random"), f"{p}.sampler={self.sampler!r}; choose tpe or random")
        require(self.pruner in ("median", "halving", "none"),
                f"{p}.pruner={self.pruner!r}; choose median, halving or none")
        require(self.pruner == "none" or (len(self.objectives) == 1 and self.objectives[0].startswith("val_")),
                f"{p}.pruner={self.pruner} judges one validation value per epoch, and the objectives are "
                f"{self.objectives}; give {p}.pruner=none")
        for key in ("startup_trials", "warmup_epochs", "startup_pruning"):
            require(getattr(self, key) >= 0, f"{p}.{key} must be 0 or more, got {getattr(self, key)}")
        require(self.min_epochs >= 1, f"{p}.min_epochs must be at least 1, got {self.min_epochs}")
        require(self.reduction_factor >= 2, f"{p}.reduction_factor must be at least 2, got {self.reduction_factor}")
        self.params = flatten(self.params, f"{p}.params")
        require(bool(self.params), f"{p}.params is empty: give at least one setting to search")
        self.enqueue = [flatten(entry, f"{p}.enqueue") for entry in self.enqueue]

    @property
    def folder(self) -> Path:
        return Path(self.dir)

    @property
    def directions(self) -> list[str]:
        return ["maximize" if o.partition("_")[2] in MAXIMISED else "minimize" for o in self.objectives]


def flatten(node: Any, where: str) -> dict[str, Any]:
    """``{optim: {lr: x}}`` and ``{optim.lr: x}`` alike as ``{"optim.lr": x}``."""
    require(isinstance(node, Mapping), f"{where} must be a mapping of settings, got {node!r}")
    flat: dict[str, Any] = {}

    def walk(prefix: str, value: Any) -> None:
        if isinstance(value, Mapping):
            for key, inner in value.items():
                walk(f"{prefix}.{key}" if prefix else str(key), inner)
            return
        require(prefix not in flat, f"{where}: {prefix} is given twice")
        flat[prefix] = value

    walk("", node)
    return flat


# ---------------------------------------------------------------- the space
def distribution(key: str, text: Any) -> BaseDistribution | None:
    """A setting's entry in Hydra's sweep syntax as an Optuna distribution; None for a plain value
    (the same for every trial)."""
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.core.override_parser.types import ChoiceSweep, IntervalSweep, RangeSweep
    from hydra.errors import HydraException

    where = f"{GROUP}.params.{key}={text!r}"
    if not isinstance(text, str):
        return None
    try:
        value = OverridesParser.create().parse_override(f"{key}={text}").value()
    except HydraException as exc:
        raise ConfigError(f"{where}: {one_line(exc)}; write interval(a, b), int(interval(a, b)), "
                          "tag(log, interval(a, b)), choice(x, y, ...) or range(a, b, step)") from None
    unknown = set(getattr(value, "tags", ()) or ()) - {"log"}
    require(not unknown, f"{where}: unknown tag {', '.join(sorted(unknown))} (only log is understood)")
    log_scale = "log" in (getattr(value, "tags", ()) or ())
    if isinstance(value, IntervalSweep):
        low, high = value.start, value.end
        require(low is not None and high is not None and low < high, f"{where}: the interval needs low < high")
        require(not log_scale or low > 0, f"{where}: a log scale needs a positive low end")
        if isinstance(low, int) and isinstance(high, int):
            return IntDistribution(low, high, log=log_scale)
        return FloatDistribution(float(low), float(high), log=log_scale)
    require(not log_scale, f"{where}: tag(log, ...) goes with interval(a, b) only")
    if isinstance(value, ChoiceSweep):
        require(not value.shuffle, f"{where}: shuffle means nothing to a search")
        require(all(v is None or isinstance(v, (bool, int, float, str)) for v in value.list),
                f"{where}: choices must be numbers, strings or booleans")
        return CategoricalDistribution(list(value.list))
    if isinstance(value, RangeSweep):
        require(not value.shuffle, f"{where}: shuffle means nothing to a search")
        start, stop, step = value.start, value.stop, value.step
        count = math.ceil((stop - start) / step) if step else 0
        require(count >= 1, f"{where}: the range is empty")
        last = start + (count - 1) * step
        low, high = min(start, last), max(start, last)
        if all(isinstance(v, int) for v in (start, stop, step)):
            return IntDistribution(low, high, step=abs(step))
        return FloatDistribution(float(low), float(round(high, 12)), step=float(abs(step)))
    return None


def parse_space(params: Mapping[str, Any]) -> tuple[dict[str, BaseDistribution], dict[str, Any]]:
    """The searched settings' distributions, and the settings fixed for every trial."""
    space, fixed = {}, {}
    for key, text in params.items():
        found = distribution(key, text)
        if found is None:
            fixed[key] = text
        else:
            space[key] = found
    require(bool(space), f"{GROUP}.params holds no interval, choice or range: nothing to search")
    return space, fixed


def override(key: str, value: Any) -> str:
    """``key=value`` as Hydra parses it back to the same value."""
    if isinstance(value, bool):
        text = "true" if value else "false"
    elif value is None:
        text = "null"
    elif isinstance(value, (int, float)):
        text = repr(value)
    else:
        text = str(value)
        if not re.fullmatch(r"[A-Za-z_][\w./-]*", text) or text.lower() in ("true", "false", "null", "nan", "inf"):
            text = "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"
    return f"{key}={text}"


def _key(entry: str) -> str:
    return entry.split("=", 1)[0].lstrip("+~")


def trial_overrides(overrides: Sequence[str], fixed: Mapping[str, Any], params: Mapping[str, Any]) -> list[str]:
    """A trial's ``python -m vidpred.run`` overrides: the command's, less the search's own, then the
    fixed and drawn settings."""
    # the search's own keys, and settings the search sets, are left out: a trial's values win
    own = [o for o in overrides if _key(o) != GROUP and not _key(o).startswith(GROUP + ".")
           and _key(o) not in fixed and _key(o) not in params]
    return [*own, *(override(k, v) for k, v in fixed.items()), *(override(k, v) for k, v in params.items())]


def _representative(dist: BaseDistribution) -> Any:
    return dist.choices[0] if isinstance(dist, CategoricalDistribution) else dist.low


# ---------------------------------------------------------------- locks
def _probe(path: Path) -> bool:
    """Whether some process holds an exclusive ``flock`` on ``path`` now."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        return False
    except OSError:
        return True
    finally:
        os.close(fd)


@contextlib.contextmanager
def _flock(path: Path, note: str = "") -> Iterator[None]:
    """Hold an exclusive ``flock`` on ``path``, waiting for it; the kernel drops it when the process
    dies, however it dies, so no lock outlives its holder."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        if note:
            os.ftruncate(fd, 0)
            os.pwrite(fd, note.encode(), 0)
        yield
    finally:
        os.close(fd)


@contextlib.contextmanager
def worker_lock(folder: Path) -> Iterator[str]:
    """This worker's name, locked for its life in ``<folder>/workers/`` (a random part: a new process
    with an old pid, in a restarted container say, is not taken for the old one)."""
    name = f"{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(3)}"
    path = folder / WORKERS / f"{name}.lock"
    with _flock(path, json.dumps(rundir.holder()) + "\n"):
        try:
            yield name
        finally:
            path.unlink(missing_ok=True)


def trial_alive(folder: Path, trial: FrozenTrial) -> bool:
    """A RUNNING trial is alive while the worker that asked for it, or its run, holds its lock."""
    worker, run_dir = trial.user_attrs.get("worker"), trial.user_attrs.get("run_dir")
    return bool((worker and _probe(folder / WORKERS / f"{worker}.lock"))
                or (run_dir and rundir.holder_alive(folder / run_dir)))


# ---------------------------------------------------------------- the study
class SeedPerTrial(BaseSampler):
    """A sampler made anew for each trial and seeded from (``seed``, trial number).

    A sampler seeded once draws the same values again in every process that starts with the seed:
    a restarted search would repeat its first trials, and two workers would draw alike. Seeded by the
    trial's number, every trial draws differently, and the draws still follow from ``seed``.
    """

    def __init__(self, make: Callable[[int], BaseSampler], seed: int) -> None:
        self._make, self._seed = make, seed
        self._inner = make(seed)

    def before_trial(self, study: optuna.Study, trial: FrozenTrial) -> None:
        import numpy as np

        self._inner = self._make(int(np.random.SeedSequence([self._seed, trial.number]).generate_state(1)[0]))
        self._inner.before_trial(study, trial)

    def infer_relative_search_space(self, study: optuna.Study, trial: FrozenTrial) -> dict[str, BaseDistribution]:
        return self._inner.infer_relative_search_space(study, trial)

    def sample_relative(self, study: optuna.Study, trial: FrozenTrial,
                        search_space: dict[str, BaseDistribution]) -> dict[str, Any]:
        return self._inner.sample_relative(study, trial, search_space)

    def sample_independent(self, study: optuna.Study, trial: FrozenTrial, param_name: str,
                           param_distribution: BaseDistribution) -> Any:
        return self._inner.sample_independent(study, trial, param_name, param_distribution)

    def after_trial(self, study: optuna.Study, trial: FrozenTrial, state: TrialState,
                    values: Sequence[float] | None) -> None:
        self._inner.after_trial(study, trial, state, values)

    def reseed_rng(self) -> None:
        self._inner.reseed_rng()


def make_sampler(search: SearchConfig) -> SeedPerTrial:
    if search.sampler == "random":
        return SeedPerTrial(lambda seed: optuna.samplers.RandomSampler(seed=seed), search.seed)
    # constant liar: a worker's draw takes the other workers' running trials as already bad, so that
    # they do not all crowd the same spot
    return SeedPerTrial(lambda seed: optuna.samplers.TPESampler(seed=seed, n_startup_trials=search.startup_trials,
                                                                constant_liar=True), search.seed)


def make_pruner(search: SearchConfig) -> optuna.pruners.BasePruner:
    if search.pruner == "median":
        return optuna.pruners.MedianPruner(n_startup_trials=search.startup_pruning,
                                           n_warmup_steps=search.warmup_epochs)
    if search.pruner == "halving":
        return optuna.pruners.SuccessiveHalvingPruner(min_resource=search.min_epochs,
                                                      reduction_factor=search.reduction_factor)
    return optuna.pruners.NopPruner()


def storage_label(search: SearchConfig) -> str:
    """Where the study is kept, as written into ``search.json`` (a database password hidden)."""
    if search.storage is None:
        return JOURNAL
    return re.sub(r"://([^:/@]+):[^@]*@", r"://\1:***@", search.storage)


def open_storage(search: SearchConfig) -> Any:
    if search.storage is None:
        from optuna.storages import JournalStorage
        from optuna.storages.journal import JournalFileBackend

        return JournalStorage(JournalFileBackend(str(search.folder / JOURNAL)))
    try:
        return optuna.storages.RDBStorage(search.storage)
    except Exception as exc:  # SQLAlchemy's many errors (bad URL, missing driver, refused connection)
        raise UserError(f"{GROUP}.storage={storage_label(search)}: {one_line(exc)}; give a database URL "
                        f"SQLAlchemy can open (sqlite:///PATH, postgresql://...) or null for the journal file") from None


def open_study(search: SearchConfig, fingerprint: dict[str, Any]) -> optuna.Study:
    """The study, created with ``fingerprint`` (what its trials must share) or checked against it.
    Call with the ask lock held."""
    study = optuna.create_study(storage=open_storage(search), study_name=search.name, directions=search.directions,
                                sampler=make_sampler(search), pruner=make_pruner(search), load_if_exists=True)
    saved = study.user_attrs.get("vidpred")
    if saved is None:
        require([d.name.lower() for d in study.directions] == search.directions,
                f"study {search.name!r} in {storage_label(search)} was created elsewhere with other directions; "
                f"give another {GROUP}.name")
        study.set_user_attr("vidpred", fingerprint)
        for entry in search.enqueue:
            study.enqueue_trial(entry)
        return study
    changed = rundir.differences(saved, fingerprint)
    if changed:
        raise ConfigError(f"study {search.name!r} ({search.folder}) was searched with other settings "
                          f"({'; '.join(changed[:4])}{'; ...' if len(changed) > 4 else ''}); give the same settings, "
                          f"or another {GROUP}.name for a new study")
    return study


def fingerprint_of(search: SearchConfig, base: DictConfig, space: Mapping[str, Any]) -> dict[str, Any]:
    """What every trial of a study shares: the settings the result depends on (the training budget
    included, so that trials compare), the space and the objectives, flattened to dotted keys."""
    plain = config.to_plain(base)
    settings = rundir.shaping_settings(plain)
    for key in ("trainer.max_epochs", "trainer.max_steps"):
        settings[key] = plain["trainer"][key.split(".")[1]]
    searched = {k: v for k, v in settings.items() if k not in space}
    return {**searched, **{f"{GROUP}.params.{k}": str(v) for k, v in search.params.items()},
            f"{GROUP}.objectives": list(search.objectives)}


def _set_attrs(study: optuna.Study, trial: FrozenTrial, attrs: Mapping[str, Any]) -> None:
    # A trial of another (dead) process has no Trial handle here; Optuna's own stale-trial handling
    # writes to the storage the same way.
    for key, value in attrs.items():
        study._storage.set_trial_user_attr(trial._trial_id, key, value)


def finished(trials: Sequence[FrozenTrial]) -> list[FrozenTrial]:
    """Trials that count towards ``n_trials``: an interrupted one counts through its continuation."""
    return [t for t in trials if t.state in (TrialState.COMPLETE, TrialState.PRUNED)
            or (t.state == TrialState.FAIL and not t.user_attrs.get("interrupted"))]


def settle_dead_trials(study: optuna.Study, search: SearchConfig, space: Mapping[str, BaseDistribution]) -> None:
    """Tell the study what became of trials whose process is gone, and queue a continuation of each
    interrupted trial that has none yet. Call with the ask lock held."""
    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        if trial_alive(search.folder, trial):
            continue
        run_dir = trial.user_attrs.get("run_dir")
        metrics = rundir.read_metrics(search.folder / run_dir) if run_dir else None
        own = metrics is not None and (metrics.get("search") or {}).get("trial") == trial.number
        state = STATUS_OF.get(metrics.get("status")) if own and metrics else None
        values = objective_values(metrics or {}, search.objectives)
        if state == "COMPLETE" and values is not None:  # the worker died after the run, before telling
            log.info("trial %d: its worker is gone after the run completed; told from %s", trial.number, run_dir)
            study.tell(trial.number, values)
        elif state in ("PRUNED", "FAIL"):
            _set_attrs(study, trial, {"reason": metrics.get("error")})
            study.tell(trial.number, state=TrialState[state])
        else:
            who = trial.user_attrs.get("worker", "a worker that died before it started the trial")
            reason = f"interrupted: its process ({who}) is gone (killed?)"
            log.warning("trial %d %s", trial.number, reason.removeprefix("interrupted: "))
            _set_attrs(study, trial, {"reason": reason, "interrupted": True})
            study.tell(trial.number, state=TrialState.FAIL)
    continue_interrupted(study, space)


def continue_interrupted(study: optuna.Study, space: Mapping[str, BaseDistribution]) -> None:
    """Queue each interrupted trial's parameters once more, to run in its run folder (from its last.pt).
    Safe to repeat: a trial already continued is not queued again."""
    trials = study.get_trials(deepcopy=False)
    continued = {t.user_attrs.get("continues") for t in trials}
    for trial in trials:
        if (trial.state == TrialState.FAIL and trial.user_attrs.get("interrupted")
                and trial.number not in continued and set(trial.params) == set(space)):
            study.enqueue_trial(trial.params, user_attrs={"run_dir": trial.user_attrs.get("run_dir")
                                                          or f"trial_{trial.number:04d}",
                                                          "continues": trial.number})


# ---------------------------------------------------------------- one trial
def objective_values(metrics: Mapping[str, Any], objectives: Sequence[str]) -> list[float] | None:
    """The objectives' values in a run's ``metrics.json`` (``val_mse`` is ``metrics["val"]["mse"]``);
    None when one is missing or not finite."""
    values = []
    for name in objectives:
        section, _, key = name.partition("_")
        value = (metrics.get(section) or {}).get(key)
        if not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(value):
            return None
        values.append(float(value))
    return values


class ReportEpochs:
    """Reports each epoch's validation value to the trial and stops the run when the pruner gives up
    on it (a trainer callback: ``on_validation_end``)."""

    def __init__(self, trial: optuna.Trial, objective: str, pruner: str) -> None:
        self.trial, self.metric, self.pruner = trial, objective.partition("_")[2], pruner
        self.reported: set[int] = set()

    def _report(self, value: float, epoch: int) -> None:
        if epoch not in self.reported and math.isfinite(value):
            self.trial.report(value, epoch)
            self.reported.add(epoch)

    def on_validation_end(self, trainer: Any, epoch: int, metrics: Mapping[str, Any]) -> None:
        if self.metric == "mse":  # a resumed run's earlier epochs, from its checkpoint's history
            for row in trainer.summary.history:
                if row.get("val_mse") is not None and isinstance(row.get("epoch"), int) and row["epoch"] < epoch:
                    self._report(float(row["val_mse"]), row["epoch"])
        value = float(metrics[self.metric])
        self._report(value, epoch)
        if self.trial.should_prune():
            raise Pruned(f"pruned after epoch {epoch} by the {self.pruner} pruner: validation {self.metric} "
                         f"{value:.4g} is behind the other trials'")


@dataclass
class Outcome:
    """How a trial ended, as the study is told."""

    state: str                      # COMPLETE | PRUNED | FAIL
    values: list[float] | None = None
    reason: str | None = None
    interrupted: bool = False


@contextlib.contextmanager
def _trial_log(run_dir: Path) -> Iterator[None]:
    """The trial's log lines also go to ``<run>/run.log``, as a Hydra job's do."""
    handler = logging.FileHandler(run_dir / "run.log", delay=True)
    handler.setFormatter(logging.Formatter("[%(asctime)s][%(name)s][%(levelname)s] - %(message)s"))
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        yield
    finally:
        root.removeHandler(handler)
        handler.close()


def run_trial(trial: optuna.Trial, search: SearchConfig, overrides: Sequence[str], fixed: Mapping[str, Any],
              run_dir: Path) -> Outcome:
    """Run one trial in ``run_dir``; every way it can end but an interruption becomes an Outcome."""
    settings = trial_overrides(overrides, fixed, trial.params)
    callbacks = [ReportEpochs(trial, search.objectives[0], search.pruner)] if search.pruner != "none" else []
    marker = {"study": search.name, "trial": trial.number, "storage": storage_label(search),
              "continues": trial.user_attrs.get("continues")}
    try:
        cfg = config.compose(settings)
        with _trial_log(run_dir):
            results = run_experiment(cfg, run_dir, callbacks, search=marker, overrides=settings,
                                     hydra_files={"config.yaml": cfg, "overrides.yaml": settings})
    except Pruned as exc:
        return Outcome("PRUNED", reason=one_line(exc))
    except DivergedError as exc:
        return Outcome("FAIL", reason=f"diverged: {one_line(exc)}")
    except UserError as exc:
        return Outcome("FAIL", reason=one_line(exc))
    except Exception as exc:  # a bug or an out-of-memory in one trial: recorded, and the search goes on
        if debug_enabled():
            raise
        log.exception("trial %d failed", trial.number)
        return Outcome("FAIL", reason=f"{type(exc).__name__}: {one_line(exc)}")
    values = objective_values(results, search.objectives)
    if values is None:
        return Outcome("FAIL", reason=f"no finite {', '.join(search.objectives)} in {run_dir / rundir.METRICS}")
    return Outcome("COMPLETE", values)


def tell(study: optuna.Study, trial: optuna.Trial, outcome: Outcome) -> None:
    """Record ``outcome`` in the study, its reason as a user attribute (ask lock held)."""
    if outcome.reason:
        trial.set_user_attr("reason", outcome.reason)
    if outcome.interrupted:
        trial.set_user_attr("interrupted", True)
    if outcome.state == "COMPLETE":
        study.tell(trial, outcome.values)
    else:
        study.tell(trial, state=TrialState[outcome.state])


# ---------------------------------------------------------------- the summary
def _importances(study: optuna.Study, search: SearchConfig, complete: Sequence[FrozenTrial]) -> dict[str, Any]:
    """Each objective's parameter importances (Optuna's default evaluator, PED-ANOVA)."""
    if len(complete) < 2:
        return {}
    found = {}
    for index, (name, direction) in enumerate(zip(search.objectives, search.directions)):
        sign = -1.0 if direction == "maximize" else 1.0  # the evaluator looks for low values
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                found[name] = optuna.importance.get_param_importances(
                    study, target=lambda t, i=index, s=sign: s * t.values[i])
        except Exception as exc:  # too few distinct trials yet: the report does without
            log.debug("no parameter importances for %s yet: %s", name, exc)
    return found


def best_trials(study: optuna.Study, search: SearchConfig) -> list[FrozenTrial]:
    """The best completed trial, or with several objectives the Pareto front; none before one completes."""
    if not any(t.state == TrialState.COMPLETE for t in study.get_trials(deepcopy=False)):
        return []
    return [study.best_trial] if len(search.objectives) == 1 else sorted(study.best_trials, key=lambda t: t.number)


def summary(study: optuna.Study, search: SearchConfig) -> dict[str, Any]:
    """The study as plain data, for ``search.json``."""
    trials = study.get_trials(deepcopy=False)
    continued_by = {t.user_attrs["continues"]: t.number for t in trials if t.user_attrs.get("continues") is not None}
    complete = [t for t in trials if t.state == TrialState.COMPLETE]
    best = [t.number for t in best_trials(study, search)]
    return {
        "study": search.name, "storage": storage_label(search), "objectives": list(search.objectives),
        "directions": search.directions, "n_trials": search.n_trials, "sampler": search.sampler,
        "seed": search.seed, "pruner": search.pruner, "space": {k: str(v) for k, v in search.params.items()},
        "optuna": optuna.__version__, "updated_at": now(), "best": best,
        "importances": _importances(study, search, complete),
        "trials": [{"number": t.number, "state": t.state.name, "values": t.values, "params": t.params,
                    "run_dir": t.user_attrs.get("run_dir"), "reason": t.user_attrs.get("reason"),
                    "continues": t.user_attrs.get("continues"), "continued_by": continued_by.get(t.number),
                    "worker": t.user_attrs.get("worker"),
                    "intermediate": {str(k): v for k, v in sorted(t.intermediate_values.items())},
                    "started_at": t.datetime_start.isoformat(timespec="seconds") if t.datetime_start else None,
                    "finished_at": t.datetime_complete.isoformat(timespec="seconds") if t.datetime_complete else None}
                   for t in trials],
    }


def write_summary(study: optuna.Study, search: SearchConfig) -> None:
    write_json(search.folder / rundir.SEARCH_SUMMARY, summary(study, search))


# ---------------------------------------------------------------- the worker
@dataclass
class Plan:
    """A search, composed and checked before any trial runs."""

    search: SearchConfig
    overrides: list[str]
    space: dict[str, BaseDistribution]
    fixed: dict[str, Any]
    fingerprint: dict[str, Any]


def _refuse_sweeps(overrides: Sequence[str]) -> None:
    """A sweep on the command line is either a search entry without quotes or a grid: say which."""
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.errors import HydraException

    parser = OverridesParser.create()
    for entry in overrides:
        try:
            parsed = parser.parse_override(entry)
        except HydraException:
            continue  # composing reports it
        if not parsed.is_sweep_override():
            continue
        key, value = entry.split("=", 1)
        if _key(key).startswith(f"{GROUP}.params."):
            raise ConfigError(f"{entry}: quote the search entry, or the shell and Hydra take it apart: "
                              f"'{key}=\"{value}\"'")
        suggested = value if "(" in value else f"choice({value})"
        raise ConfigError(f"{entry} is a sweep; a search draws its settings from {GROUP}.params: "
                          f"'+{GROUP}.params.{_key(key)}=\"{suggested}\"'")


def plan(overrides: Sequence[str]) -> Plan:
    """Compose the command's config and check everything a trial would need of it."""
    _refuse_sweeps(overrides)
    chosen = any(_key(o) == GROUP for o in overrides)
    overrides = list(overrides) if chosen else [f"{GROUP}={DEFAULT_PRESET}", *overrides]
    cfg = config.compose(overrides)
    require(isinstance(cfg.get(GROUP), DictConfig), f"{GROUP}: no search preset chosen (e.g. {GROUP}={DEFAULT_PRESET})")
    search = call_with_config(SearchConfig, config.to_plain(cfg[GROUP]), prefix=GROUP)
    space, fixed = parse_space(search.params)
    for entry in search.enqueue:
        unknown = sorted(set(entry) - set(space))
        require(not unknown, f"{GROUP}.enqueue: {', '.join(unknown)} is not searched; the space has {', '.join(space)}")
    # a trial's config must compose: unknown keys and bad values fail here, not in every trial
    base = config.compose(trial_overrides(overrides, fixed, {k: _representative(d) for k, d in space.items()}))
    return Plan(search, overrides, space, fixed, fingerprint_of(search, base, space))


def _shown(trial: FrozenTrial | optuna.Trial) -> str:
    return ", ".join(override(k, v) for k, v in trial.params.items())


def _describe_values(search: SearchConfig, values: Sequence[float] | None) -> str:
    return ", ".join(f"{n} {v:.4g}" for n, v in zip(search.objectives, values or ()))


def _running(study: optuna.Study, number: int) -> bool:
    return any(t.number == number for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)))


def work(job: Plan) -> optuna.Study:
    """One worker: ask for trials and run them until the study has ``n_trials`` finished ones."""
    search = job.search
    folder = search.folder
    with worker_lock(folder) as me:
        with _flock(folder / ASK_LOCK):
            study = open_study(search, job.fingerprint)
            log.info("search %s: %d trial(s) of %s (%s) with %s (seed %d), %s; study in %s, %d finished so far",
                     search.name, search.n_trials, ", ".join(search.objectives), ", ".join(search.directions),
                     search.sampler.upper() if search.sampler == "tpe" else "random", search.seed,
                     "no pruning" if search.pruner == "none" else f"{search.pruner} pruning",
                     folder / JOURNAL if search.storage is None else storage_label(search),
                     len(finished(study.get_trials(deepcopy=False))))
            settle_dead_trials(study, search, job.space)
            write_summary(study, search)
        waiting = False
        while True:
            trial = None
            try:
                if stop.requested():  # Ctrl-C or SIGTERM between trials (a trial stops at its next step)
                    raise stop.StopRequested(stop.reason())
                with _flock(folder / ASK_LOCK):
                    settle_dead_trials(study, search, job.space)
                    trials = study.get_trials(deepcopy=False)
                    running = [t for t in trials if t.state == TrialState.RUNNING]
                    left = search.n_trials - len(finished(trials)) - len(running)
                    if left > 0:
                        trial = study.ask(job.space)  # a queued trial first (a continuation), else a new draw
                        run_dir = trial.user_attrs.get("run_dir") or f"trial_{trial.number:04d}"
                        trial.set_user_attr("worker", me)
                        trial.set_user_attr("run_dir", run_dir)
                        write_summary(study, search)
                if trial is None:
                    if not running:
                        break
                    if not waiting:
                        log.info("waiting for %d trial(s) running in other workers", len(running))
                    waiting = True
                    time.sleep(POLL_SECONDS)
                    continue
                waiting = False
                continues = trial.user_attrs.get("continues")
                log.info("trial %d%s (%s) in %s", trial.number,
                         f" continues trial {continues}" if continues is not None else "", _shown(trial), folder / run_dir)
                tick = time.perf_counter()
                outcome = run_trial(trial, search, job.overrides, job.fixed, folder / run_dir)
                with _flock(folder / ASK_LOCK):
                    tell(study, trial, outcome)
                    write_summary(study, search)
            except KeyboardInterrupt:
                with _flock(folder / ASK_LOCK):
                    if trial is not None and _running(study, trial.number):  # queued to continue from its last.pt
                        tell(study, trial, Outcome("FAIL", reason="interrupted (Ctrl-C or SIGTERM); it continues "
                                                   "when the search runs again", interrupted=True))
                        continue_interrupted(study, job.space)
                        write_summary(study, search)
                raise
            seconds = time.perf_counter() - tick
            if outcome.state == "COMPLETE":
                log.info("trial %d completed in %.1f s: %s", trial.number, seconds, _describe_values(search, outcome.values))
            else:
                log.warning("trial %d %s after %.1f s: %s", trial.number,
                            "pruned" if outcome.state == "PRUNED" else "failed", seconds, outcome.reason)
    return study


def search_command(overrides: Sequence[str]) -> int:
    """``python -m vidpred.search OVERRIDES``; returns the exit code."""
    require(optuna is not None, "the search needs Optuna: pip install -e '.[search]' in the clone (make install does)")
    job = plan(overrides)
    optuna.logging.set_verbosity(optuna.logging.WARNING)  # vidpred says what happens, once
    with stop.handled():
        study = work(job)
    search = job.search
    trials = study.get_trials(deepcopy=False)
    counts = {s: sum(t.state == s for t in trials) for s in (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL)}
    words = {TrialState.COMPLETE: "completed", TrialState.PRUNED: "pruned", TrialState.FAIL: "failed"}
    tally = ", ".join(f"{n} {words[s]}" for s, n in counts.items() if n)
    best = best_trials(study, search)
    if not best:
        failures = [t for t in trials if t.state == TrialState.FAIL]
        raise UserError(f"none of the {len(trials)} trials of {search.name} completed"
                        + (f"; trial {failures[0].number}: {failures[0].user_attrs.get('reason')}" if failures else "")
                        + f" (all of them: {search.folder / rundir.SEARCH_SUMMARY})")
    shown = "; ".join(f"trial {t.number}: {_describe_values(search, t.values)} | run folder "
                      f"{search.folder / t.user_attrs.get('run_dir', '?')}" for t in best)
    print(f"search {search.name}: {tally} | {'best' if len(best) == 1 else 'Pareto front'} {shown}")
    return 0


def main(argv: Sequence[str] | None = None) -> None:
    args = list(sys.argv[1:] if argv is None else argv)
    if {"-h", "--help"} & set(args):
        print(__doc__.split("\n\n")[1])
        print("\nThe search space and settings: conf/hparams_search/optuna.yaml (override as hparams_search.KEY=...).")
        return
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="[%(asctime)s][%(name)s][%(levelname)s] - %(message)s")
    try:
        require(not {"-m", "--multirun"} & set(args),
                "python -m vidpred.search runs its trials itself: drop -m (more workers: the same command "
                "again, in another shell or machine)")
        code = search_command(args)
    except KeyboardInterrupt:
        if debug_enabled():
            raise
        print("interrupted: run the same command again to continue the study", file=sys.stderr)
        sys.exit(130)
    except (UserError, OSError) as exc:
        fail(exc)
    sys.exit(code)


if __name__ == "__main__":
    main()
