"""The Optuna study behind a search: its sampler and pruner, where it is kept, what becomes of trials
whose process died, and the summary (``search.json``) the report reads without Optuna."""

from __future__ import annotations

import logging
import math
import re
import warnings
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import optuna
from omegaconf import DictConfig
from optuna.distributions import BaseDistribution
from optuna.samplers import BaseSampler
from optuna.trial import FrozenTrial, TrialState

from vidpred import config, runfolder
from vidpred.errors import ConfigError, UserError, one_line, require
from vidpred.experiment import now
from vidpred.io import write_json
from vidpred.search.locks import trial_alive
from vidpred.search.settings import GROUP, SearchConfig

log = logging.getLogger("vidpred")

JOURNAL = "study.journal"
STATUS_OF = {"completed": "COMPLETE", "pruned": "PRUNED", "diverged": "FAIL"}


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
    changed = runfolder.differences(saved, fingerprint)
    if changed:
        raise ConfigError(f"study {search.name!r} ({search.folder}) was searched with other settings "
                          f"({'; '.join(changed[:4])}{'; ...' if len(changed) > 4 else ''}); give the same settings, "
                          f"or another {GROUP}.name for a new study")
    return study


def fingerprint_of(search: SearchConfig, base: DictConfig, space: Mapping[str, Any]) -> dict[str, Any]:
    """What every trial of a study shares: the settings the result depends on (the training budget
    included, so that trials compare), the space and the objectives, flattened to dotted keys."""
    plain = config.to_plain(base)
    settings = runfolder.shaping_settings(plain)
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
        metrics = runfolder.read_metrics(search.folder / run_dir) if run_dir else None
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
    write_json(search.folder / runfolder.SEARCH_SUMMARY, summary(study, search))
