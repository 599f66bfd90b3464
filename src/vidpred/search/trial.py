"""One trial: its settings composed and run as an ordinary run folder, each epoch's validation value
reported to the pruner, and every way the run can end turned into what the study is told."""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import optuna
from optuna.trial import TrialState

from vidpred import config, runfolder
from vidpred.errors import DivergedError, Pruned, UserError, debug_enabled, one_line
from vidpred.experiment import experiment_config, run_experiment
from vidpred.search.settings import SearchConfig
from vidpred.search.space import trial_overrides
from vidpred.search.study import objective_values, storage_label
from vidpred.training import stop

log = logging.getLogger("vidpred")


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


def run_trial(trial: optuna.Trial, search: SearchConfig, overrides: Sequence[str], fixed: Mapping[str, Any],
              run_dir: Path, request: stop.StopRequest) -> Outcome:
    """Run one trial in ``run_dir``; every way it can end but an interruption becomes an Outcome."""
    settings = trial_overrides(overrides, fixed, trial.params)
    callbacks = [ReportEpochs(trial, search.objectives[0], search.pruner)] if search.pruner != "none" else []
    marker = {"study": search.name, "trial": trial.number, "storage": storage_label(search),
              "continues": trial.user_attrs.get("continues")}
    try:
        experiment = experiment_config(config.to_plain(config.compose(settings)), settings)
        results = run_experiment(experiment, run_dir, callbacks, overrides=settings, search=marker, stop=request)
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
        return Outcome("FAIL", reason=f"no finite {', '.join(search.objectives)} in {run_dir / runfolder.METRICS}")
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
