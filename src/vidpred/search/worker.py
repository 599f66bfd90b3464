"""A worker: compose and check the search once, then ask for trials, run them and tell the study,
until it has ``n_trials`` finished ones."""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import optuna
from omegaconf import DictConfig
from optuna.distributions import BaseDistribution
from optuna.trial import FrozenTrial, TrialState

from vidpred import config
from vidpred.errors import require
from vidpred.registry import call_with_config
from vidpred.search.locks import ASK_LOCK, flock, worker_lock
from vidpred.search.settings import DEFAULT_PRESET, GROUP, SearchConfig
from vidpred.search.space import key_of, override, parse_space, refuse_sweeps, representative, trial_overrides
from vidpred.search.study import (JOURNAL, continue_interrupted, fingerprint_of, finished, open_study,
                                  settle_dead_trials, storage_label, write_summary)
from vidpred.search.trial import Outcome, run_trial, tell
from vidpred.training import stop

log = logging.getLogger("vidpred")

POLL_SECONDS = 2.0  # how often a worker looks again while other workers run the last trials


@dataclass
class Plan:
    """A search, composed and checked before any trial runs."""

    search: SearchConfig
    overrides: list[str]
    space: dict[str, BaseDistribution]
    fixed: dict[str, Any]
    fingerprint: dict[str, Any]


def plan(overrides: Sequence[str]) -> Plan:
    """Compose the command's config and check everything a trial would need of it."""
    refuse_sweeps(overrides)
    chosen = any(key_of(o) == GROUP for o in overrides)
    overrides = list(overrides) if chosen else [f"{GROUP}={DEFAULT_PRESET}", *overrides]
    cfg = config.compose(overrides)
    require(isinstance(cfg.get(GROUP), DictConfig), f"{GROUP}: no search preset chosen (e.g. {GROUP}={DEFAULT_PRESET})")
    search = call_with_config(SearchConfig, config.to_plain(cfg[GROUP]), prefix=GROUP)
    space, fixed = parse_space(search.params)
    for entry in search.enqueue:
        unknown = sorted(set(entry) - set(space))
        require(not unknown, f"{GROUP}.enqueue: {', '.join(unknown)} is not searched; the space has {', '.join(space)}")
    # a trial's config must compose: unknown keys and bad values fail here, not in every trial
    base = config.compose(trial_overrides(overrides, fixed, {k: representative(d) for k, d in space.items()}))
    return Plan(search, overrides, space, fixed, fingerprint_of(search, base, space))


def _shown(trial: FrozenTrial | optuna.Trial) -> str:
    return ", ".join(override(k, v) for k, v in trial.params.items())


def describe_values(search: SearchConfig, values: Sequence[float] | None) -> str:
    return ", ".join(f"{n} {v:.4g}" for n, v in zip(search.objectives, values or ()))


def _running(study: optuna.Study, number: int) -> bool:
    return any(t.number == number for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)))


def work(job: Plan, request: stop.StopRequest) -> optuna.Study:
    """One worker: ask for trials and run them until the study has ``n_trials`` finished ones."""
    search = job.search
    folder = search.folder
    with worker_lock(folder) as me:
        with flock(folder / ASK_LOCK):
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
                if request.requested:  # Ctrl-C or SIGTERM between trials (a trial stops at its next step)
                    raise request.stopped()
                with flock(folder / ASK_LOCK):
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
                outcome = run_trial(trial, search, job.overrides, job.fixed, folder / run_dir, request)
                with flock(folder / ASK_LOCK):
                    tell(study, trial, outcome)
                    write_summary(study, search)
            except KeyboardInterrupt:
                with flock(folder / ASK_LOCK):
                    if trial is not None and _running(study, trial.number):  # queued to continue from its last.pt
                        tell(study, trial, Outcome("FAIL", reason="interrupted (Ctrl-C or SIGTERM); it continues "
                                                   "when the search runs again", interrupted=True))
                        continue_interrupted(study, job.space)
                        write_summary(study, search)
                raise
            seconds = time.perf_counter() - tick
            if outcome.state == "COMPLETE":
                log.info("trial %d completed in %.1f s: %s", trial.number, seconds, describe_values(search, outcome.values))
            else:
                log.warning("trial %d %s after %.1f s: %s", trial.number,
                            "pruned" if outcome.state == "PRUNED" else "failed", seconds, outcome.reason)
    return study
