"""Hyper-parameter searches in a report. A search folder (``python -m vidpred.search``) holds its
trials' run folders and ``search.json``, the study as plain data, rewritten after every trial; this
module reads that file and the run folders, so a report needs no Optuna. A search gets its best
trial (or, with several objectives, the Pareto front), every trial's state and objective, the
settings' importances and a figure."""

from __future__ import annotations

import json
import math
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from matplotlib.ticker import MaxNLocator

from vidpred.report.collect import RunRecord, as_mapping, finite
from vidpred.runfolder import SEARCH_SUMMARY


@dataclass
class Search:
    """One search folder: its ``search.json`` and its trials' run folders (by folder name)."""

    folder: Path
    summary: dict[str, Any]
    runs: dict[str, RunRecord]

    @property
    def name(self) -> str:
        return self.folder.name

    @property
    def objectives(self) -> list[str]:
        return [str(o) for o in self.summary.get("objectives") or ["val_mse"]]

    @property
    def directions(self) -> list[str]:
        return [str(d) for d in self.summary.get("directions") or ["minimize"] * len(self.objectives)]

    @property
    def trials(self) -> list[dict[str, Any]]:
        return sorted((as_mapping(t) for t in self.summary.get("trials") or [] if isinstance(t, dict)),
                      key=lambda t: int(t.get("number", 0)))

    @property
    def best(self) -> list[dict[str, Any]]:
        """The best trial, or the Pareto front, as the study named it."""
        numbers = set(self.summary.get("best") or [])
        return [t for t in self.trials if t.get("number") in numbers]

    @property
    def params(self) -> list[str]:
        return list(dict.fromkeys(k for t in self.trials for k in as_mapping(t.get("params"))))

    def run_of(self, trial: dict[str, Any]) -> RunRecord | None:
        return self.runs.get(str(trial.get("run_dir")))


def values(trial: dict[str, Any]) -> list[float] | None:
    found = trial.get("values")
    return [float(v) for v in found] if isinstance(found, list) and all(finite(v) for v in found) else None


def last_epoch(trial: dict[str, Any]) -> int | None:
    steps = [int(k) for k in as_mapping(trial.get("intermediate")) if str(k).isdigit()]
    return max(steps) if steps else None


def searches(runs: Sequence[RunRecord]) -> list[Search]:
    """Every search folder that holds some of ``runs``."""
    groups: dict[Path, list[RunRecord]] = defaultdict(list)
    for run in runs:
        if (run.path.parent / SEARCH_SUMMARY).is_file():
            groups[run.path.parent].append(run)
    found = []
    for folder, trials in sorted(groups.items()):
        try:
            summary = json.loads((folder / SEARCH_SUMMARY).read_text())
        except (OSError, json.JSONDecodeError, UnicodeDecodeError):
            continue  # its trials are still reported as runs
        if isinstance(summary, dict):
            found.append(Search(folder, summary, {run.path.name: run for run in trials}))
    return found


def _shown(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) and math.isfinite(value) else str(value)


def _cell(text: Any) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _note(trial: dict[str, Any]) -> str:
    parts = []
    if trial.get("continues") is not None:
        parts.append(f"continues trial {trial['continues']} from its last.pt")
    if trial.get("reason"):
        parts.append(str(trial["reason"]))
    if trial.get("continued_by") is not None:
        parts.append(f"continued by trial {trial['continued_by']}")
    return "; ".join(parts)


def section(search: Search, figure: Path | None) -> str:
    """The search's part of report.md."""
    summary, trials = search.summary, search.trials
    states = defaultdict(int)
    for trial in trials:
        states[str(trial.get("state", "?")).lower()] += 1
    words = {"complete": "completed", "pruned": "pruned", "fail": "failed", "running": "running", "waiting": "queued"}
    tally = ", ".join(f"{n} {words.get(s, s)}" for s, n in sorted(states.items()))
    goals = ", ".join(f"`{o}` ({'maximised' if d == 'maximize' else 'minimised'})"
                      for o, d in zip(search.objectives, search.directions))
    lines = [f"## Hyper-parameter search `{search.name}`", "",
             f"Study `{summary.get('study')}` (`{summary.get('storage')}`, Optuna {summary.get('optuna', '?')}), "
             f"{len(trials)} trials of {summary.get('n_trials', '?')}: {tally or 'none yet'}. Objective: {goals}; "
             f"the test set plays no part in the search. Sampler {summary.get('sampler')} (seed {summary.get('seed')}), "
             f"pruner {summary.get('pruner')}. A trial interrupted by a crash is marked failed and continued "
             "from its last.pt in its own run folder by a new trial.", ""]
    best = search.best
    if len(search.objectives) == 1 and best:
        trial = best[0]
        run = search.run_of(trial)
        test = as_mapping(run.metrics.get("test")).get("mse") if run else None
        lines.append(f"Best trial: {trial['number']} (run folder `{trial.get('run_dir')}`), {search.objectives[0]} "
                     f"{_shown(values(trial)[0])}" + (f" (test mse {test:.4g})" if finite(test) else "") + ".")
        lines += ["", "| setting | best value |", "|---|---|"]
        lines += [f"| `{k}` | {_shown(v)} |" for k, v in as_mapping(trial.get("params")).items()]
    elif best:
        lines.append(f"Pareto front ({len(best)} trial{'s' if len(best) > 1 else ''}: none is beaten on every "
                     "objective by another):")
        lines += ["", "| trial | " + " | ".join(f"`{o}`" for o in search.objectives) + " | "
                  + " | ".join(f"`{p}`" for p in search.params) + " | run folder |",
                  "|---" * (len(search.objectives) + len(search.params) + 2) + "|"]
        for trial in best:
            params = as_mapping(trial.get("params"))
            lines.append(f"| {trial['number']} | " + " | ".join(_shown(v) for v in values(trial) or []) + " | "
                         + " | ".join(_shown(params.get(p, "")) for p in search.params) + f" | `{trial.get('run_dir')}` |")
    else:
        lines.append("No trial has completed yet.")
    lines += ["", "### Trials", "",
              "| trial | state | " + " | ".join(f"`{o}`" for o in search.objectives) + " | "
              + " | ".join(f"`{p}`" for p in search.params) + " | run folder | note |",
              "|---" * (len(search.objectives) + len(search.params) + 4) + "|"]
    for trial in trials:
        found, params = values(trial), as_mapping(trial.get("params"))
        state = str(trial.get("state", "?")).lower()
        if found is None:
            cells = [""] * len(search.objectives)
        elif state == "pruned":  # Optuna keeps the last value reported before the pruner stopped it
            cells = [f"{_shown(found[0])} (epoch {last_epoch(trial)})"]
        else:
            cells = [_shown(v) for v in found]
        lines.append(f"| {trial.get('number')} | {words.get(state, state)} | " + " | ".join(cells) + " | "
                     + " | ".join(_shown(params.get(p, "")) for p in search.params)
                     + f" | `{trial.get('run_dir')}` | {_cell(_note(trial))} |")
    importances = as_mapping(summary.get("importances"))
    if importances:
        lines += ["", "### Importance of the settings", "",
                  "Optuna's PED-ANOVA estimate over the completed trials (each column sums to 1): how much of "
                  "what sets the best trials apart each setting explains.", "",
                  "| setting | " + " | ".join(f"`{o}`" for o in importances) + " |",
                  "|---" * (len(importances) + 1) + "|"]
        for param in search.params:
            lines.append(f"| `{param}` | " + " | ".join(_shown(as_mapping(v).get(param, ""))
                                                        for v in importances.values()) + " |")
    lines.append("")
    if figure is not None:
        lines.append(f"![search {search.name}](figures/{figure.name})\n")
    return "\n".join(lines) + "\n"


def objective_figure(search: Search, folder: Path) -> Path:
    """One objective: its value per trial (pruned trials at their last epoch, failed ones as dotted
    lines) with the best so far, and beside it each trial's validation per epoch when the trials
    reported it. Several objectives: the first two against each other, the Pareto front joined."""
    from vidpred.plots import new_figure, save_figure

    trials = search.trials
    curves = [t for t in trials if as_mapping(t.get("intermediate"))]
    single = len(search.objectives) == 1
    panels = 1 + bool(curves and single)
    fig, axes = new_figure(1, panels, figsize=(6.5 * panels, 4.2), squeeze=False, constrained_layout=True)
    ax = axes[0, 0]
    if single:
        _per_trial(ax, search, trials)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    else:
        _front(ax, search, trials)
    if panels == 2:
        _per_epoch(axes[0, 1], search, curves)
    fig.suptitle(f"search {search.name}")
    path = folder / f"search_{search.name}.png"
    save_figure(fig, path)
    return path


def _log_if_spread(ax: Any, ys: Sequence[float], axis: str = "y") -> None:
    """A log scale for a positive objective spanning more than a decade (an error usually does)."""
    if ys and min(ys) > 0 and max(ys) / min(ys) > 10:
        (ax.set_yscale if axis == "y" else ax.set_xscale)("log")


def _per_trial(ax: Any, search: Search, trials: list[dict[str, Any]]) -> None:
    objective, maximise = search.objectives[0], search.directions[0] == "maximize"
    groups: dict[str, tuple[list[int], list[float]]] = {"complete": ([], []), "pruned": ([], [])}
    best_x, best_y, best = [], [], None
    for trial in trials:
        state, found = str(trial.get("state", "")).lower(), values(trial)
        if state in groups and found is not None:
            groups[state][0].append(int(trial["number"]))
            groups[state][1].append(found[0])
        if state == "complete" and found is not None:
            best = found[0] if best is None else (max if maximise else min)(best, found[0])
            best_x.append(int(trial["number"]))
            best_y.append(best)
    ax.plot(*groups["complete"], "o", color="tab:blue", label="completed")
    if groups["pruned"][0]:
        ax.plot(*groups["pruned"], "v", color="tab:orange", label="pruned (at its last epoch)")
    if best_x:
        last = max(int(t["number"]) for t in trials)  # the best so far holds on to the last trial
        ax.step([*best_x, last], [*best_y, best_y[-1]], where="post", color="tab:red", label="best so far")
    labelled: set[str] = set()
    for trial in trials:
        if str(trial.get("state", "")).lower() != "fail":
            continue
        label = "interrupted (continued later)" if trial.get("continued_by") is not None else "failed"
        ax.axvline(int(trial["number"]), color="grey" if label != "failed" else "tab:purple", linestyle=":",
                   linewidth=1.2, label=None if label in labelled else label)
        labelled.add(label)
    if trials:
        ax.set_xlim(-0.5, max(int(t["number"]) for t in trials) + 0.5)
    _log_if_spread(ax, groups["complete"][1] + groups["pruned"][1])
    ax.set_xlabel("trial number")
    ax.set_ylabel(f"{objective} ({'higher' if maximise else 'lower'} is better)")
    ax.legend(fontsize=8)


def _per_epoch(ax: Any, search: Search, curves: list[dict[str, Any]]) -> None:
    colors = {"complete": "tab:blue", "pruned": "tab:orange"}
    seen: set[str] = set()
    ys: list[float] = []
    for trial in curves:
        points = sorted((int(k), float(v)) for k, v in as_mapping(trial.get("intermediate")).items()
                        if str(k).isdigit() and finite(v))
        if not points:
            continue
        state = str(trial.get("state", "")).lower()
        label = {"complete": "completed", "pruned": "pruned"}.get(state, state)
        ax.plot([p[0] for p in points], [p[1] for p in points], "-o", markersize=3, linewidth=1,
                color=colors.get(state, "grey"), alpha=0.8, label=None if label in seen else label)
        seen.add(label)
        ys += [p[1] for p in points]
    _log_if_spread(ax, ys)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("epoch")
    ax.set_ylabel(f"validation {search.objectives[0].partition('_')[2]} reported to the pruner")
    ax.legend(fontsize=8)


def _front(ax: Any, search: Search, trials: list[dict[str, Any]]) -> None:
    (xname, yname), (xdir, ydir) = search.objectives[:2], search.directions[:2]
    done = [(t, values(t)) for t in trials if str(t.get("state", "")).lower() == "complete" and values(t)]
    front_numbers = {t.get("number") for t in search.best}
    others = [(t, v) for t, v in done if t.get("number") not in front_numbers]
    front = sorted(((t, v) for t, v in done if t.get("number") in front_numbers), key=lambda pair: pair[1][0])
    ax.plot([v[0] for _, v in others], [v[1] for _, v in others], "o", color="tab:grey", label="completed")
    ax.plot([v[0] for _, v in front], [v[1] for _, v in front], "-o", color="tab:red", label="Pareto front")
    for trial, v in done:  # every point named by its trial number
        ax.annotate(str(trial["number"]), (v[0], v[1]), textcoords="offset points", xytext=(4, 4), fontsize=8,
                    color="tab:red" if trial.get("number") in front_numbers else "tab:grey")
    _log_if_spread(ax, [v[0] for _, v in done], axis="x")
    ax.set_xlabel(f"{xname} ({'higher' if xdir == 'maximize' else 'lower'} is better)")
    ax.set_ylabel(f"{yname} ({'higher' if ydir == 'maximize' else 'lower'} is better)")
    ax.legend(fontsize=8)
