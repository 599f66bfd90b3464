"""A trained run's predictions for new inputs, with or without ground truth.

    python -m vidpred.predict RUN --input PATH [PATH ...] --out DIR [--horizon N]
                              [--checkpoint best|last|FILE] [--at T] [--device D] [--precision P]

    from vidpred import load_run
    run = load_run("outputs/runs/.../my_run")
    future = run.predict(context)            # (context, *frame) or (B, context, *frame), model units

``RUN`` is a run folder: the model is rebuilt from its saved config (``.hydra/config.yaml``) and its
``best.pt`` weights by default. Inputs are anything ``vidpred.data prepare`` reads (video files,
GIFs, folders of numbered frames, ``.npy``; CSV files for sequence models) and are converted as the
run's training data was (frame size, channels, frame step; the series' columns and normalisation).
An ``.npy`` array of the run's own item shape is taken as the model sees it (what
``python -m vidpred.data show`` writes), so predicting test item ``i`` that way gives the numbers the
run's evaluation computed for it.

The context is the last ``context`` steps of an input, or the ``context`` steps before step
``--at T``; where the input goes on past ``T``, that ground truth is drawn beside the prediction and
scored (mse; psnr and ssim for video). Per input, ``DIR`` gets ``<stem>.npy`` (float32: video
``(horizon, C, H, W)`` in [0, 1], series ``(horizon, D)`` in the input's own units), ``<stem>.png``,
``<stem>.gif`` (video) or ``<stem>.csv`` (series), and ``summary.json`` lists them all.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from omegaconf import OmegaConf

from vidpred import config, runfolder
from vidpred.errors import DataError, UserError, exit_on_user_error, require
from vidpred.io import atomic_path, write_json
from vidpred.models import Forecaster, build_model
from vidpred.training import checkpoint
from vidpred.training.precision import Precision, resolve_device

BATCH = 32  # inputs per forward pass


@dataclass
class Input:
    """One input converted to model units: its steps ``(T, *frame)`` and how to go back to its units."""

    path: Path
    steps: np.ndarray                       # float32 (T, *frame) as the model sees them
    low: np.ndarray | None = None           # series: min-max range per column (None: model units)
    high: np.ndarray | None = None
    times: pd.DatetimeIndex | None = None   # series: the input's time column
    columns: list[str] = field(default_factory=list)


@dataclass
class LoadedRun:
    """A run folder's trained model, ready to predict."""

    path: Path
    model: Forecaster
    settings: dict[str, Any]     # the run's resolved config
    data: dict[str, Any]         # kind, context, horizon, frame_shape and the data set's meta
    precision: Precision
    checkpoint: Path             # the weights loaded

    @property
    def kind(self) -> str:
        return self.data["kind"]

    @property
    def context(self) -> int:
        return int(self.data["context"])

    @property
    def horizon(self) -> int:
        return int(self.data["horizon"])

    @property
    def frame_shape(self) -> tuple[int, ...]:
        return tuple(self.data["frame_shape"])

    @torch.no_grad()
    def predict(self, context: np.ndarray | torch.Tensor, horizon: int | None = None) -> np.ndarray:
        """The next ``horizon`` steps (default: the trained horizon) after ``context``, in model
        units: ``(T, *frame)`` gives ``(horizon, *frame)``, ``(B, T, *frame)`` gives ``(B, horizon, *frame)``."""
        horizon = self.horizon if horizon is None else int(horizon)
        require(horizon >= 1, f"--horizon must be at least 1, got {horizon}")
        batch = torch.as_tensor(np.asarray(context, dtype=np.float32))
        single = batch.dim() == len(self.frame_shape) + 1
        batch = batch[None] if single else batch
        if tuple(batch.shape[2:]) != self.frame_shape:
            raise DataError(f"context of shape {tuple(batch.shape[1:])}, this run's model takes "
                            f"(T, {', '.join(map(str, self.frame_shape))})")
        outputs = []
        for chunk in batch.split(BATCH):
            with self.precision.autocast():
                outputs.append(self.model(chunk.to(self.precision.device), horizon).float().cpu())
        prediction = torch.cat(outputs).numpy()
        return prediction[0] if single else prediction


def _run_files(run_dir: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """The run's resolved config and the ``data`` section of its ``metrics.json``."""
    if not run_dir.is_dir():
        raise UserError(f"{run_dir} is not a run folder")
    config_path, metrics_path = runfolder.hydra_path(run_dir), runfolder.metrics_path(run_dir)
    if not config_path.is_file() or not metrics_path.is_file():
        raise UserError(f"{run_dir} is not a vidpred run folder (no {config_path.relative_to(run_dir)} or "
                        f"{runfolder.METRICS})")
    try:
        settings = config.to_plain(OmegaConf.load(config_path))
        metrics = json.loads(metrics_path.read_text())
    except (ValueError, OSError) as exc:
        raise DataError(f"{run_dir}: cannot read its config or metrics.json ({exc})") from exc
    data = metrics.get("data") if isinstance(metrics, dict) else None
    if not isinstance(data, dict) or "frame_shape" not in data:
        raise DataError(f"{metrics_path} does not describe the run's data (a run that failed before it started, "
                        "or one from an older vidpred)")
    return settings, data


def load_run(run_dir: str | Path, checkpoint_name: str = "best", device: str = "auto",
             precision: str = "32") -> LoadedRun:
    """Rebuild the model of ``run_dir`` and load its ``best`` (default) or ``last`` weights, or a file."""
    run_dir = Path(run_dir)
    settings, data = _run_files(run_dir)
    if checkpoint_name in ("best", "last"):
        path = runfolder.checkpoint_path(run_dir, checkpoint.BEST if checkpoint_name == "best" else checkpoint.LAST)
    else:
        path = Path(checkpoint_name)
    if not path.is_file():
        raise UserError(f"{path} not found: {run_dir} holds no {checkpoint_name} checkpoint "
                        "(did its run train?); give --checkpoint best, last or a .pt file")
    model_params = {k: v for k, v in settings["model"].items() if k != "name"}
    model = build_model(settings["model"]["name"], data["kind"], tuple(data["frame_shape"]), model_params)
    checkpoint.load_weights(model, checkpoint.load(path)["model"], path)
    resolved = resolve_device(device)
    model.to(resolved).eval()
    return LoadedRun(run_dir, model, settings, data, Precision.create(precision, resolved), path)


# ---------------------------------------------------------------- reading inputs as the run's data
def read_input(run: LoadedRun, path: Path) -> Input:
    """``path`` converted as the run's training data was."""
    if not path.exists():
        raise DataError(f"--input {path} does not exist")
    if path.suffix.lower() == ".npy" and path.is_file():
        try:
            array = np.load(path, allow_pickle=False)
        except (ValueError, OSError) as exc:
            raise DataError(f"{path}: not a readable .npy array ({exc})") from exc
        if array.ndim == len(run.frame_shape) + 1 and tuple(array.shape[1:]) == run.frame_shape \
                and np.issubdtype(array.dtype, np.floating):
            if not np.isfinite(array).all():
                raise DataError(f"{path}: holds values that are not finite")
            return Input(path, array.astype(np.float32))  # already as the model sees it
    if run.kind == "video":
        from vidpred.data.formats.media import find_clips, read_clip

        clips = find_clips(path)
        require(len(clips) == 1, f"--input {path}: holds {len(clips)} clips; give each clip as its own input")
        channels, size = run.frame_shape[0], run.frame_shape[1]
        frames = read_clip(clips[0], size, channels, int(run.data.get("every", 1)))
        return Input(path, frames.astype(np.float32) / 255.0)
    if path.suffix.lower() != ".csv":
        raise DataError(f"--input {path}: a sequence model reads CSV files (or an .npy of shape "
                        f"(T, {', '.join(map(str, run.frame_shape))}) in model units)")
    from vidpred.data.sets.series import read_series

    columns = run.data.get("columns")
    time_column = run.settings["data"].get("time_column")
    series = read_series(path, columns=columns, time_column=time_column, missing_policy="drop", max_gap=None)
    if series.values.shape[1] != run.frame_shape[0]:
        raise DataError(f"{path}: {series.values.shape[1]} value columns ({', '.join(series.columns)}), the model "
                        f"predicts {run.frame_shape[0]}")
    return Input(path, series.values.astype(np.float64), times=series.times, columns=series.columns)


def _normalise(run: LoadedRun, item: Input, context: np.ndarray, truth: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Series in their own units -> model units, as the run's data set did; remembers the range."""
    mode = run.data.get("normalize")
    if item.columns == [] or mode is None:  # model units already, or a data set without normalisation
        return context.astype(np.float32), truth.astype(np.float32)
    if mode == "train":
        low, high = np.asarray(run.data["low"]), np.asarray(run.data["high"])
    elif mode == "context":
        low, high = context.min(axis=0), context.max(axis=0)
    else:  # window: the range of context and horizon together, as evaluation saw it
        if len(truth) < run.horizon:
            raise UserError(f"{item.path}: this run normalises each window by the range of its future too "
                            "(data.normalize=window), which a prediction without the truth cannot know: give --at T "
                            f"with {run.horizon} known steps after T, or train with data.normalize=context")
        window = np.concatenate([context, truth[: run.horizon]])
        low, high = window.min(axis=0), window.max(axis=0)
    item.low, item.high = low, high
    span = np.where(high - low > 0, high - low, 1.0)
    return ((context - low) / span).astype(np.float32), ((truth - low) / span).astype(np.float32)


def _units(item: Input, values: np.ndarray) -> np.ndarray:
    if item.low is None:
        return values
    span = np.where(item.high - item.low > 0, item.high - item.low, 1.0)
    return values * span + item.low


# ---------------------------------------------------------------- scoring and writing
def score(kind: str, prediction: np.ndarray, truth: np.ndarray) -> dict[str, float]:
    """mse (and psnr, ssim for video) of the known steps, as the run's evaluation computes them."""
    from vidpred.metrics.scores import make_accumulator

    known = len(truth)
    accumulator = make_accumulator(kind)
    accumulator.update(torch.from_numpy(prediction[None, :known]), torch.from_numpy(truth[None]))
    metrics = accumulator.compute()
    return {k: float(metrics[k]) for k in ("mse", "mae", "psnr", "ssim") if k in metrics}


def _stems(paths: Sequence[Path]) -> list[str]:
    stems: list[str] = []
    for path in paths:
        stem = path.stem if path.is_file() else path.name
        stems.append(stem if stem not in stems else f"{stem}_{len(stems)}")
    return stems


def future_times(item: Input, end: int, count: int) -> pd.DatetimeIndex | None:
    """The times of ``count`` predicted steps from row ``end`` on: the input's own while it goes on,
    then continued on its calendar (business days skip weekends) or, for times without one, at the
    step of its last rows when those are regular. None when there is nothing to go by."""
    from vidpred.data.sets.series import infer_calendar

    times = item.times
    if times is None or len(times) < 2:
        return None
    known = times[end:end + count]
    missing = count - len(known)
    if missing == 0:
        return known
    seen = times[:end + len(known)]
    calendar = infer_calendar(seen)
    if calendar is not None:
        return known.append(calendar.following(seen[-1], missing))
    steps = np.diff(seen.to_numpy()[-min(len(seen), 10):])
    if len(steps) and (steps == steps[0]).all():
        return known.append(pd.DatetimeIndex(seen[-1] + pd.to_timedelta(steps[0]) * np.arange(1, missing + 1)))
    return None


def _write_csv(path: Path, item: Input, prediction: np.ndarray, truth: np.ndarray, end: int) -> None:
    """Predicted rows in the input's units, with their times; where the truth is known, it and the
    error (prediction - truth) beside each column, in the same units."""
    columns = item.columns or [f"value_{d}" for d in range(prediction.shape[1])]
    table: dict[str, np.ndarray] = {}
    for d, column in enumerate(columns):
        table[column] = prediction[:, d]
        if len(truth):
            known = np.full(len(prediction), np.nan)
            known[: len(truth)] = truth[:, d]
            table[f"{column}_truth"] = known
            table[f"{column}_error"] = prediction[:, d] - known
    frame = pd.DataFrame(table)
    times = future_times(item, end, len(prediction))
    if times is not None:
        frame.insert(0, "time", times)
    else:
        frame.insert(0, "step", np.arange(1, len(prediction) + 1))
    with atomic_path(path) as tmp:
        frame.to_csv(tmp, index=False)


def start_row(item: Input, at: int | str | None) -> int:
    """Where the prediction starts: after the end, at row ``at``, or at the first time on or after the
    date ``at`` (series with a time column)."""
    if at is None:
        return len(item.steps)
    try:
        row = int(at)
    except ValueError:
        if item.times is None:
            raise UserError(f"--at {at}: {item.path} has no time column to find a date in; give a step "
                            "number") from None
        try:
            when = pd.Timestamp(str(at))
        except ValueError:
            raise UserError(f"--at {at}: give a step number or a date such as 2019-03-15") from None
        row = int(item.times.searchsorted(when))
        require(row < len(item.times), f"--at {at} is after the last time of {item.path} ({item.times[-1]})")
        return row
    require(0 <= row <= len(item.steps), f"--at {row} is past the end of {item.path} ({len(item.steps)} steps)")
    return row


def units_of(run: LoadedRun, item: Input) -> str:
    """What the model's numbers (and so the ``scores``) are measured in."""
    if run.kind == "video":
        return "pixel intensities in [0, 1]"
    mode = run.data.get("normalize")
    if item.low is None or mode is None:
        return "the model's units (the input was given in them)"
    over = {"context": "the context", "window": "the context and the known horizon",
            "train": "the run's training split"}.get(mode, mode)
    return f"scaled: each column min-max over {over} (data.normalize={mode})"


def data_unit_scores(item: Input, prediction: np.ndarray, truth: np.ndarray) -> dict[str, dict[str, float]]:
    """Per column, mse and mae of the known steps in the input's own units."""
    error = prediction[: len(truth)].astype(np.float64) - truth.astype(np.float64)
    columns = item.columns or [f"value_{d}" for d in range(prediction.shape[1])]
    return {column: {"mse": float(np.mean(error[:, d] ** 2)), "mae": float(np.mean(np.abs(error[:, d])))}
            for d, column in enumerate(columns)}


def predict_files(run: LoadedRun, inputs: Sequence[Path], out: Path, horizon: int | None = None,
                  at: int | str | None = None) -> list[dict[str, Any]]:
    """Predict every input; writes the files named in the module docstring; returns the summary."""
    from vidpred.plots import forecast_figure, save_figure, video_gif, video_grid

    horizon = run.horizon if horizon is None else horizon
    if out.exists() and not out.is_dir():
        raise UserError(f"--out {out} is a file; give a folder")
    items, contexts, truths, ends = [], [], [], []
    for path in inputs:
        item = read_input(run, Path(path))
        end = start_row(item, at)
        if end < run.context:
            raise DataError(f"{path}: {end} steps before the predicted ones, the model needs a context of {run.context}"
                            + (" (frames after the run's frame step)" if run.kind == "video" else ""))
        context, truth = _normalise(run, item, item.steps[end - run.context:end], item.steps[end:end + horizon])
        items.append(item)
        contexts.append(context)
        truths.append(truth)
        ends.append(end)
    predictions = run.predict(np.stack(contexts), horizon)
    summary = []
    for item, stem, context, truth, prediction, end in zip(items, _stems(inputs), contexts, truths, predictions, ends):
        entry: dict[str, Any] = {"input": str(item.path), "horizon": horizon, "at": end, "known_steps": len(truth)}
        if item.times is not None and end < len(item.times):
            entry["at_time"] = str(item.times[end])
        if len(truth):
            entry["scores"] = score(run.kind, prediction, truth)
            entry["units"] = units_of(run, item)
        title = f"{item.path.name}: {run.settings['model']['name']} of {run.path.name}"
        if run.kind == "video":
            _save_npy(out / f"{stem}.npy", prediction)
            save_figure(video_grid(context, truth if len(truth) else None, prediction, title), out / f"{stem}.png")
            video_gif(context[None], truth[None] if len(truth) else None, prediction[None], out / f"{stem}.gif")
            entry["files"] = [f"{stem}.npy", f"{stem}.png", f"{stem}.gif"]
        else:
            values = _units(item, prediction).astype(np.float32)
            known = item.steps[end:end + horizon]  # the truth as the input gives it, in its own units
            if len(truth) and item.low is not None:
                entry["scores_in_data_units"] = data_unit_scores(item, values, known)
            _save_npy(out / f"{stem}.npy", values)
            future = future_times(item, end, horizon)
            times = item.times[end - run.context:end].append(future) if future is not None else None
            save_figure(forecast_figure(_units(item, context), values, known if len(truth) else None, item.columns,
                                        title, entry.get("scores_in_data_units"), times,
                                        (entry["units"], entry["scores"]) if len(truth) else None),
                        out / f"{stem}.png")
            _write_csv(out / f"{stem}.csv", item, values, known, end)
            entry["files"] = [f"{stem}.npy", f"{stem}.png", f"{stem}.csv"]
        summary.append(entry)
    write_json(out / "summary.json", {"run": str(run.path), "checkpoint": str(run.checkpoint),
                                      "predictions": summary})
    return summary


def _save_npy(path: Path, array: np.ndarray) -> None:
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        np.save(fh, np.asarray(array, dtype=np.float32))


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m vidpred.predict", description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run", type=Path, help="a run folder (outputs/runs/... or a sweep's job folder)")
    parser.add_argument("--input", type=Path, nargs="+", required=True,
                        help="video files, GIFs, frame folders, .npy arrays; CSV files for sequence models")
    parser.add_argument("--out", type=Path, required=True, help="folder for the predictions")
    parser.add_argument("--horizon", type=int, default=None, help="steps to predict (default: the trained horizon)")
    parser.add_argument("--checkpoint", default="best", help="best (default), last or a .pt file")
    parser.add_argument("--at", default=None,
                        help="predict from step T on (a step number, or for a series a date: the first row on or "
                             "after it), with the context steps before it (default: after the end)")
    parser.add_argument("--device", default="auto", help="auto | cpu | cuda")
    parser.add_argument("--precision", default="32", help="32 | bf16 | 16, as trainer.precision")
    args = parser.parse_args(argv)
    with exit_on_user_error():
        run = load_run(args.run, args.checkpoint, args.device, args.precision)
        summary = predict_files(run, args.input, args.out, args.horizon, args.at)
    for entry in summary:
        print(f"{entry['input']}: {entry['horizon']} steps -> {args.out / entry['files'][0]}{scores_text(entry)}")


def scores_text(entry: dict[str, Any]) -> str:
    """The scores of one prediction on the command line: in the data's own units first where known."""
    scores = entry.get("scores")
    if not scores:
        return ""
    shown = ", ".join(f"{k} {v:.4g}" for k, v in scores.items() if math.isfinite(v))
    text = f" | vs the next {entry['known_steps']} known steps: "
    own = entry.get("scores_in_data_units")
    if not own:
        return text + f"{shown} ({entry['units']})"
    return (text + "in the data's units " + "; ".join(f"{column} mse {v['mse']:.4g}, mae {v['mae']:.4g}"
                                                     for column, v in own.items())
            + f"; in the model's units ({entry['units']}) {shown}")


if __name__ == "__main__":
    main(sys.argv[1:])
