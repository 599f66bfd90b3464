"""Hyper-parameter searches in a report: every trial is a run like any other; a search folder
(where Optuna keeps ``optuna.db`` and writes ``optimization_results.yaml``) also gets its best trial
and a figure of the validation objective per trial."""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from vidpred.report.collect import RunRecord, as_mapping, finite

RESULTS = "optimization_results.yaml"
STUDY = "optuna.db"


@dataclass
class Search:
    """The trials of one search folder, in the order they started."""

    folder: Path
    trials: list[RunRecord]
    best_params: dict[str, Any]
    best_value: float | None

    @property
    def name(self) -> str:
        return self.folder.name

    def objective(self, run: RunRecord) -> float | None:
        value = as_mapping(run.metrics.get("val")).get("mse")
        return float(value) if run.completed and finite(value) else None

    @property
    def best(self) -> RunRecord | None:
        """The trial Optuna named best (the completed trial with the lowest validation mse)."""
        scored = [(self.objective(run), run) for run in self.trials if self.objective(run) is not None]
        return min(scored, key=lambda pair: pair[0])[1] if scored else None


def searches(runs: Sequence[RunRecord]) -> list[Search]:
    groups: dict[Path, list[RunRecord]] = defaultdict(list)
    for run in runs:
        if (run.path.parent / STUDY).is_file() or (run.path.parent / RESULTS).is_file():
            groups[run.path.parent].append(run)
    found = []
    for folder, trials in sorted(groups.items()):
        results = as_mapping(_read_yaml(folder / RESULTS))
        value = results.get("best_value")
        found.append(Search(folder, sorted(trials, key=lambda r: (str(r.metrics.get("started_at", "")), str(r.path))),
                            as_mapping(results.get("best_params")), float(value) if finite(value) else None))
    return found


def _read_yaml(path: Path) -> Any:
    try:
        return yaml.safe_load(path.read_text()) if path.is_file() else None
    except (yaml.YAMLError, OSError, UnicodeDecodeError):
        return None


def section(search: Search, figure: Path | None) -> str:
    """The search's part of report.md."""
    done = sum(search.objective(run) is not None for run in search.trials)
    lines = [f"## Hyper-parameter search `{search.name}`", "",
             f"Objective: the validation mse (`val_mse`) of each trial, minimised; the test set plays no part "
             f"in the search. {len(search.trials)} trials: {done} completed, {len(search.trials) - done} failed "
             "or unfinished (failed trials are recorded as failed in the study and the search goes on).", ""]
    best = search.best
    if best is not None:
        test = as_mapping(best.metrics.get("test")).get("mse")
        lines.append(f"Best trial: `{best.path.name}`, validation mse {search.objective(best):.4g}"
                     + (f" (test mse {test:.4g})" if finite(test) else "") + ".")
        params = search.best_params or {k: v for k, v in best.overrides.items() if k in _searched(search)}
        if params:
            lines += ["", "| setting | best value |", "|---|---|"]
            lines += [f"| `{key}` | {_shown(value)} |" for key, value in sorted(params.items())]
        lines.append("")
    if figure is not None:
        lines.append(f"![search {search.name}](figures/{figure.name})\n")
    return "\n".join(lines) + "\n"


def _searched(search: Search) -> set[str]:
    """Overrides that differ between trials: the searched settings."""
    values: dict[str, set[str]] = defaultdict(set)
    for run in search.trials:
        for key, value in run.overrides.items():
            values[key].add(value)
    return {key for key, seen in values.items() if len(seen) > 1}


def _shown(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) and math.isfinite(value) else str(value)


def objective_figure(search: Search, folder: Path) -> Path:
    """Validation mse of each trial in the order they ran, and the best so far."""
    from vidpred.report.figures import plt, save_figure

    fig, ax = plt.subplots(figsize=(7, 4))
    xs, ys, best, failed = [], [], [], []
    for number, run in enumerate(search.trials):
        value = search.objective(run)
        if value is None:
            failed.append(number)
            continue
        xs.append(number)
        ys.append(value)
        best.append(min(ys))
    ax.plot(xs, ys, "o", color="tab:blue", label="trial")
    ax.step(xs, best, where="post", color="tab:red", label="best so far")
    for number in failed:
        ax.axvline(number, color="grey", linestyle=":", linewidth=1)
    ax.set_yscale("log")
    ax.set_xlabel("trial (in the order they started; dotted: failed)")
    ax.set_ylabel("validation mse")
    ax.set_title(f"search {search.name}")
    ax.legend(fontsize=8)
    path = folder / f"search_{search.name}.png"
    save_figure(fig, path)
    return path
