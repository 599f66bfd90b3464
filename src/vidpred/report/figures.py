"""The report's figures (PNG), one per data set, drawn by matplotlib from the runs' numbers: training
loss curves (the study's Figures 4 and 9), test MSE per predicted step (Figures 5 and 10) and sample
predictions per layer count (Figures 6-8 and 11-16, from the arrays each run keeps in
``samples/predictions.npz``).

Each figure is built by a ``*_figure`` function that returns the matplotlib ``Figure`` (tests read
its axes and lines); the functions without the suffix save them. Runs that differ in more than the
seed are drawn as curves of their own, labelled by the settings they differ in.

Values that are not finite, or too large for a log axis (a diverging run can write 1e308), are left
out of the curves; each figure says below it what it left out, and so does ``notes``.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import matplotlib
import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from vidpred import runfolder
from vidpred.plots import CONTEXT, STYLES, TRUTH, column_name, new_figure, read_samples, save_figure, video_rows
from vidpred.report.collect import (RunRecord, as_mapping, dedupe_baselines, settings_label,
                                    varying_keys)

FEW_POINTS = 40  # curves with fewer logged points than this also mark each point
#: The largest value drawn: beyond float32's range no float32 model's error can be a measurement,
#: and matplotlib's log axes overflow on values near float64's.
PLOTTABLE = float(np.finfo(np.float32).max)


def plottable(values: np.ndarray) -> np.ndarray:
    """Which values a log-scale curve can show."""
    return np.isfinite(values) & (np.abs(values) <= PLOTTABLE)


def _note_below(fig: Figure, notes: Sequence[str]) -> None:
    if notes:
        fig.text(0.01, -0.02, "\n".join(notes), fontsize=7, va="top", ha="left", wrap=True)


def _numbers(column: Any) -> np.ndarray:
    return pd.to_numeric(column, errors="coerce").to_numpy(dtype=float)


def _shown(value: float) -> str:
    return "nan" if np.isnan(value) else ("inf" if value == np.inf else ("-inf" if value == -np.inf else f"{value:.3g}"))


def _base_label(run: RunRecord) -> str:
    model = run.choices.get("model")
    label = str(model) if not run.layered else f"{model} l{run.choices.get('layers')}"
    return label if run.loss == "mse" else f"{label} ({run.loss})"


def curve_labels(runs: Sequence[RunRecord]) -> dict[Path, str]:
    """A label per run: its model (and layers, loss), and in brackets the settings in which it differs
    from other runs of that model, so runs that are not one experiment never share a curve."""
    groups: dict[str, list[RunRecord]] = defaultdict(list)
    for run in runs:
        groups[_base_label(run)].append(run)
    labels = {}
    for base, members in groups.items():
        keys = varying_keys(members)
        for run in members:
            labels[run.path] = base + (f" [{settings_label(run, keys)}]" if keys else "")
    return labels


def _by_data(runs: Sequence[RunRecord]) -> dict[str, list[RunRecord]]:
    groups: dict[str, list[RunRecord]] = defaultdict(list)
    for run in dedupe_baselines(runs):
        if run.completed:
            groups[str(run.choices.get("data"))].append(run)
    return dict(sorted(groups.items()))


def _looks(labels: Sequence[str]) -> dict[str, dict[str, Any]]:
    """Colour, dash pattern and marker per label: lines that lie on each other stay apart."""
    cmap = matplotlib.colormaps["tab10"]
    return {label: {"color": cmap(i % 10), **STYLES[i % len(STYLES)]} for i, label in enumerate(sorted(set(labels)))}


def _finish(fig: Figure, ax: Axes, xlabel: str, ylabel: str, title: str) -> Figure:
    ax.set_yscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.legend(fontsize=8, loc="best")
    return fig


def loss_figure(data: str, group: Sequence[RunRecord], left_out: list[str] | None = None) -> Figure | None:
    """Training loss against step (lines, a marker on each logged point where there are few) and the
    validation MSE of each epoch (hollow markers), one colour per experiment. Values a log axis
    cannot show are gaps in the curves, listed in ``left_out`` and below the figure."""
    left_out = [] if left_out is None else left_out
    curves = [(run, run.history()) for run in group]
    curves = [(run, h) for run, h in curves if h is not None and "train_loss" in h and h["train_loss"].notna().any()]
    if not curves:
        return None
    labels = curve_labels([run for run, _ in curves])
    looks = _looks(list(labels.values()))
    fig, ax = new_figure(figsize=(7.5, 4.4), constrained_layout=True)
    labelled: set[str] = set()
    for run, history in curves:
        label, look = labels[run.path], looks[labels[run.path]]
        dropped = 0
        steps = _numbers(history["step"])
        for column in ("train_loss", "val_mse"):
            if column not in history:
                continue
            values = _numbers(history[column])
            present = ~np.isnan(values)
            keep = present & plottable(values)
            dropped += int((present & ~keep).sum())
            shown = np.where(keep, values, np.nan)[present]  # a left-out point is a gap in the line
            if column == "train_loss":
                few = int(present.sum()) < FEW_POINTS
                ax.plot(steps[present], shown, color=look["color"], linestyle=look["linestyle"], linewidth=1.2,
                        marker=look["marker"] if few else None, markersize=3,
                        label=None if label in labelled else label)
            else:
                ax.plot(steps[present], shown, linestyle="none", marker="o", markersize=5,
                        markerfacecolor="none", markeredgecolor=look["color"])
        labelled.add(label)
        if dropped:
            left_out.append(f"{label} ({run.path.name}): {dropped} value(s) left out, not finite or above "
                            f"{PLOTTABLE:.1e}")
    ax.plot([], [], linestyle="none", marker="o", markerfacecolor="none", markeredgecolor="grey",
            label="validation mse (per epoch)")
    _note_below(fig, left_out)
    return _finish(fig, ax, "training step", "MSE (lines: training loss)", f"training on {data}")


def _per_data(draw: Any, name: str, runs: Sequence[RunRecord], folder: Path, notes: list[str] | None) -> list[Path]:
    """``draw(data, runs, left_out)`` per data set, saved as ``<name>_<data>.png``; what it left out
    goes into ``notes``."""
    written = []
    for data, group in _by_data(runs).items():
        left_out: list[str] = []
        fig = draw(data, group, left_out)
        if fig is not None:
            written.append(save_figure(fig, folder / f"{name}_{data}.png"))
        if notes is not None:
            notes += [f"{name}_{data}.png: {line}" for line in left_out]
    return written


def loss_curves(runs: Sequence[RunRecord], folder: Path, notes: list[str] | None = None) -> list[Path]:
    """Per data set: :func:`loss_figure`; what it left out goes into ``notes``."""
    return _per_data(loss_figure, "loss", runs, folder, notes)


def per_step_figure(data: str, group: Sequence[RunRecord], left_out: list[str] | None = None) -> Figure | None:
    """Test MSE of each predicted step, the mean over the seeds of each experiment. A run whose curve
    holds a value that is not finite or too large to draw is left out, listed in ``left_out`` and
    below the figure."""
    left_out = [] if left_out is None else left_out
    labels = curve_labels(group)
    curves: dict[str, list[list[float]]] = defaultdict(list)
    for run in group:
        steps = as_mapping(run.metrics.get("test")).get("mse_per_step")
        if not steps:
            continue
        values = np.array([np.nan if not isinstance(v, (int, float)) else float(v) for v in steps])
        if plottable(values).all():
            curves[labels[run.path]].append(list(values))
        else:
            left_out.append(f"{labels[run.path]} ({run.path.name}) left out: its test mse_per_step holds "
                            f"{', '.join(sorted({_shown(v) for v in values[~plottable(values)]}))}")
    if not curves:
        return None
    fig, ax = new_figure(figsize=(7.5, 4.4), constrained_layout=True)
    _note_below(fig, left_out)
    looks = _looks(list(curves))
    for label, values in sorted(curves.items()):
        length = min(len(v) for v in values)
        mean = np.nanmean(np.array([v[:length] for v in values]), axis=0)
        ax.plot(np.arange(1, length + 1), mean, markersize=5, linewidth=1.3, markerfacecolor="none",
                label=f"{label} (n={len(values)})", **looks[label])
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    return _finish(fig, ax, "predicted step", "test MSE (mean over seeds)", f"test error per predicted step, {data}")


def per_step_curves(runs: Sequence[RunRecord], folder: Path, notes: list[str] | None = None) -> list[Path]:
    """Per data set: :func:`per_step_figure`; what it left out goes into ``notes``."""
    return _per_data(per_step_figure, "per_step", runs, folder, notes)


def samples_figure(panels: Sequence[tuple[str, dict[str, Any]]], title: str) -> Figure | None:
    """The same test items as several runs predicted them (``panels``: a label and the arrays of a
    run's ``predictions.npz``). Video: the first item, a prediction row and a |difference| row per
    run under the truth, one colour scale; sequences: a panel per item (the first column), the truth
    and every run's prediction."""
    panels = [(label, found) for label, found in panels if found is not None]
    if not panels:
        return None
    first = panels[0][1]
    item = int(first["indices"][0])
    if first["context"].ndim == 5:  # video (N, T, C, H, W)
        truth = first["truth"][0]
        rows = [("truth", truth, "frame")]
        for label, found in panels:
            prediction = found["prediction"][0]
            rows.append((f"{label}\nprediction", prediction, "frame"))
            rows.append((f"{label}\n|difference|", np.abs(truth - prediction), "difference"))
        return video_rows(rows, first["context"][0][-1], truth.shape[0], f"{title}: test item {item}")
    count = len(first["indices"])
    columns = [str(c) for c in first["columns"]] if "columns" in first else []
    fig, axes = new_figure(1, count, figsize=(4.2 * count, 3.4), squeeze=False, constrained_layout=True)
    tc, horizon = first["context"].shape[1], first["truth"].shape[1]
    past, future = np.arange(1, tc + 1), np.arange(tc + 1, tc + horizon + 1)
    looks = _looks([label for label, _ in panels])
    for k, ax in enumerate(axes[0]):
        ax.plot(past, first["context"][k, :, 0], **CONTEXT)
        ax.plot(future, first["truth"][k, :, 0], **TRUTH)
        for label, found in panels:
            ax.plot(future, found["prediction"][k, :, 0], markersize=4, linewidth=1.2, markerfacecolor="none",
                    label=label, **looks[label])
        ax.axvline(tc + 0.5, color="grey", linewidth=0.5)
        ax.set_title(f"test item {int(first['indices'][k])}", fontsize=9)
        ax.set_xlabel("step")
    name = column_name(columns, 0) if columns else "value"
    axes[0, 0].set_ylabel(f"{name} (model units)")
    axes[0, 0].legend(fontsize=7, loc="best")
    shown = f", column {column_name(columns, 0)}" if first["context"].shape[2] > 1 else ""
    fig.suptitle(title + shown)
    return fig


def sample_panels(runs: Sequence[RunRecord], folder: Path) -> list[Path]:
    """Per data set and model: the sample predictions of one run per layer count (the lowest seed)."""
    written = []
    for data, group in _by_data(runs).items():
        labels = curve_labels(group)
        per_model: dict[str, dict[str, RunRecord]] = defaultdict(dict)
        for run in sorted(group, key=lambda r: (r.choices.get("seed") or 0, str(r.path))):
            per_model[str(run.choices.get("model"))].setdefault(labels[run.path], run)
        for model, by_label in sorted(per_model.items()):
            panels = [(label, read_samples(runfolder.samples_dir(run.path))) for label, run in sorted(by_label.items())]
            fig = samples_figure(panels, f"sample test predictions, {data}, {model}")
            if fig is not None:
                written.append(save_figure(fig, folder / f"samples_{data}_{model}.png"))
    return written


def loss_comparison(runs: Sequence[RunRecord], folder: Path) -> list[Path]:
    """Per sweep and data set whose runs trained with different losses (loss=mse, loss=adversarial):
    the same test item as each loss's run predicted it, one above the other (same model and layers)."""
    groups: dict[tuple[str, str, str, object], dict[str, RunRecord]] = defaultdict(dict)
    for run in sorted((r for r in runs if r.completed), key=lambda r: (r.choices.get("seed") or 0, str(r.path))):
        key = (run.sweep, str(run.choices.get("data")), str(run.choices.get("model")), run.choices.get("layers"))
        groups[key].setdefault(run.loss, run)
    written = []
    for (sweep, data, model, layers), by_loss in sorted(groups.items(), key=lambda item: str(item[0])):
        if len(by_loss) < 2:
            continue
        panels = [(f"loss={loss}", read_samples(runfolder.samples_dir(run.path))) for loss, run in sorted(by_loss.items())]
        fig = samples_figure(panels, f"{data}, {model}, {layers} layers")
        if fig is None:
            continue
        stem = f"losses_{data}_{model}_l{layers}" + (f"_{sweep}" if sweep else "")
        written.append(save_figure(fig, folder / f"{stem}.png"))
    return written


__all__ = ["curve_labels", "loss_comparison", "loss_curves", "loss_figure", "per_step_curves",
           "per_step_figure", "sample_panels", "samples_figure"]
