"""The report's figures (PNG), one per data set: training loss curves (the study's Figures 4 and 9),
test MSE per predicted step (Figures 5 and 10) and sample predictions per layer count (Figures
6-8 and 11-16, assembled from the runs' own ``samples/`` images).

Values that are not finite, or too large for a log axis (a diverging run can write 1e308), are left
out of the curves; each figure says below it what it left out, and so does ``notes``.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # files only: reports are made on servers and in CI
import matplotlib.image as mpimg  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from vidpred.plots import save_figure  # noqa: E402
from vidpred.report.collect import RunRecord, as_mapping, dedupe_baselines  # noqa: E402
from vidpred.report.study import BASELINES  # noqa: E402


#: The largest value drawn: beyond float32's range no float32 model's error can be a measurement,
#: and matplotlib's log axes overflow on values near float64's.
PLOTTABLE = float(np.finfo(np.float32).max)


def plottable(values: np.ndarray) -> np.ndarray:
    """Which values a log-scale curve can show."""
    return np.isfinite(values) & (np.abs(values) <= PLOTTABLE)


def _note_below(fig: plt.Figure, notes: Sequence[str]) -> None:
    if notes:
        fig.text(0.01, -0.02, "\n".join(notes), fontsize=7, va="top", ha="left", wrap=True)


def _label(run: RunRecord) -> str:
    model = run.choices.get("model")
    label = str(model) if model in BASELINES else f"{model} l{run.choices.get('layers')}"
    return label if run.loss == "mse" else f"{label} ({run.loss})"


def _by_data(runs: Sequence[RunRecord]) -> dict[str, list[RunRecord]]:
    groups: dict[str, list[RunRecord]] = defaultdict(list)
    for run in dedupe_baselines(runs):
        if run.completed:
            groups[str(run.choices.get("data"))].append(run)
    return dict(sorted(groups.items()))


def _colors(labels: Sequence[str]) -> dict[str, tuple[float, ...]]:
    cmap = plt.get_cmap("tab10")
    return {label: cmap(i % 10) for i, label in enumerate(sorted(set(labels)))}


def _save_log_plot(fig: plt.Figure, ax: plt.Axes, xlabel: str, ylabel: str, title: str, path: Path) -> Path:
    """Label a log-scale curve plot, save it and return its path."""
    ax.set_yscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.legend(fontsize=8)
    save_figure(fig, path)
    return path


def _numbers(column: Any) -> np.ndarray:
    return pd.to_numeric(column, errors="coerce").to_numpy(dtype=float)


def loss_curves(runs: Sequence[RunRecord], folder: Path, notes: list[str] | None = None) -> list[Path]:
    """Per data set: training loss against step (solid) and validation MSE per epoch (dots)."""
    written = []
    for data, group in _by_data(runs).items():
        curves = [(run, run.history()) for run in group]
        curves = [(run, h) for run, h in curves if h is not None and "train_loss" in h
                  and h["train_loss"].notna().any()]
        if not curves:
            continue
        colors = _colors([_label(run) for run, _ in curves])
        fig, ax = plt.subplots(figsize=(7, 4.2))
        labelled: set[str] = set()
        left_out = []
        for run, history in curves:
            label = _label(run)
            dropped = 0
            for column, style in (("train_loss", {"linewidth": 1.2}), ("val_mse", {"marker": "o", "markersize": 3,
                                                                                  "linestyle": "none"})):
                if column not in history:
                    continue
                values, steps = _numbers(history[column]), _numbers(history["step"])
                present = ~np.isnan(values)
                keep = present & plottable(values)
                dropped += int((present & ~keep).sum())
                shown = np.where(keep, values, np.nan)[present]  # a left-out point is a gap in the line
                ax.plot(steps[present], shown, color=colors[label],
                        label=None if label in labelled or column != "train_loss" else label, **style)
            labelled.add(label)
            if dropped:
                left_out.append(f"{label} ({run.path.name}): {dropped} value(s) left out, not finite or above "
                                f"{PLOTTABLE:.1e}")
        _note_below(fig, left_out)
        written.append(_save_log_plot(fig, ax, "training step", "MSE (line: train loss, dots: validation)",
                                      f"training on {data}", folder / f"loss_{data}.png"))
        if notes is not None:
            notes += [f"loss_{data}.png: {line}" for line in left_out]
    return written


def per_step_curves(runs: Sequence[RunRecord], folder: Path, notes: list[str] | None = None) -> list[Path]:
    """Per data set: test MSE of each predicted step, averaged over the seeds of each model. A run
    whose curve holds a value that is not finite or too large to draw is left out, and said so."""
    written = []
    for data, group in _by_data(runs).items():
        curves: dict[str, list[list[float]]] = defaultdict(list)
        left_out = []
        for run in group:
            steps = as_mapping(run.metrics.get("test")).get("mse_per_step")
            if not steps:
                continue
            values = np.array([np.nan if not isinstance(v, (int, float)) else float(v) for v in steps])
            if plottable(values).all():
                curves[_label(run)].append(list(values))
            else:
                left_out.append(f"{_label(run)} ({run.path.name}) left out: its test mse_per_step holds "
                                f"{', '.join(sorted({_shown(v) for v in values[~plottable(values)]}))}")
        if notes is not None:
            notes += [f"per_step_{data}.png: {line}" for line in left_out]
        if not curves:
            continue
        fig, ax = plt.subplots(figsize=(7, 4.2))
        _note_below(fig, left_out)
        colors = _colors(list(curves))
        for label, values in sorted(curves.items()):
            length = min(len(v) for v in values)
            mean = np.nanmean(np.array([v[:length] for v in values]), axis=0)
            ax.plot(np.arange(1, length + 1), mean, marker=".", color=colors[label],
                    linestyle="--" if label in BASELINES else "-", label=f"{label} (n={len(values)})")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        written.append(_save_log_plot(fig, ax, "predicted step", "test MSE",
                                      f"test error per predicted step, {data}", folder / f"per_step_{data}.png"))
    return written


def _shown(value: float) -> str:
    return "nan" if np.isnan(value) else ("inf" if value == np.inf else ("-inf" if value == -np.inf else f"{value:.3g}"))


def sample_panels(runs: Sequence[RunRecord], folder: Path) -> list[Path]:
    """Per data set and model: the first sample image of one run per layer count, stacked."""
    written = []
    for data, group in _by_data(runs).items():
        per_model: dict[str, dict[int, Path]] = defaultdict(dict)
        for run in sorted(group, key=lambda r: (r.choices.get("seed") or 0, str(r.path))):
            images = run.sample_images()
            model = str(run.choices.get("model"))
            layers = 0 if model in BASELINES else int(run.choices.get("layers") or 0)
            if images and layers not in per_model[model]:
                per_model[model][layers] = images[0]
        for model, by_layers in sorted(per_model.items()):
            panels = [(model if layers == 0 else f"{model}, {layers} layer{'s' if layers != 1 else ''}", image)
                      for layers, image in sorted(by_layers.items())]
            written.append(_stack(panels, f"sample test predictions, {data}", folder / f"samples_{data}_{model}.png"))
    return written


def _stack(panels: Sequence[tuple[str, Path]], title: str, path: Path) -> Path:
    """Images one above the other, each with its title."""
    fig, axes = plt.subplots(len(panels), 1, figsize=(9, 4.2 * len(panels)), squeeze=False)
    for ax, (label, image) in zip(axes[:, 0], panels):
        ax.imshow(mpimg.imread(image))
        ax.axis("off")
        ax.set_title(label)
    fig.suptitle(title)
    save_figure(fig, path)
    return path


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
        shared = set.intersection(*({p.name for p in run.sample_images()} for run in by_loss.values()))
        if not shared:
            continue
        name = sorted(shared)[0]  # the fixed test items of video runs: predictions_item<i>.png
        panels = [(f"loss={loss} ({run.path.name})", run.path / "samples" / name) for loss, run in sorted(by_loss.items())]
        stem = f"losses_{data}_{model}_l{layers}" + (f"_{sweep}" if sweep else "")
        written.append(_stack(panels, f"{data}, {model}, {layers} layers: {Path(name).stem}", folder / f"{stem}.png"))
    return written
