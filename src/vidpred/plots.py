"""Figures of predictions, drawn by matplotlib from arrays: the study's Figure 6 for sequences, its
appendix grids for video, and animated GIFs.

Every figure is built by a function that returns the matplotlib ``Figure`` (so tests can read its
axes, labels and data) and saved by :func:`save_figure`. A run keeps the arrays its figures were
drawn from in ``samples/predictions.npz`` (:func:`save_samples`), from which the report draws its
own panels.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import matplotlib
import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from PIL import Image, ImageDraw, ImageFont  # Pillow ships with matplotlib

from vidpred.io import atomic_path

SAMPLE_COUNT = 4
SAMPLES_FILE = "predictions.npz"
GIF_HEADER = 34  # pixels above a GIF's frames: the column names and the step shown
# one look per line of a figure, so that curves lying on each other stay apart (colour, dash, marker)
STYLES = [dict(linestyle=ls, marker=m) for ls, m in
          (("-", "o"), ("--", "s"), (":", "^"), ("-.", "D"), ("-", "v"), ("--", "x"), (":", "P"), ("-.", "*"))]
TRUTH = dict(color="tab:green", linewidth=1.6, label="truth")
CONTEXT = dict(color="black", linewidth=1.2, label="context")
PREDICTION = dict(color="tab:red", linestyle="--", linewidth=1.4, marker=".", markersize=4, label="prediction")


def new_figure(*grid: int, figsize: tuple[float, float], constrained_layout: bool = False,
               **subplots: Any) -> tuple[Figure, Any]:
    """A figure and its grid of axes (``rows, cols``, as ``fig.subplots`` takes them). The figure is
    not pyplot's: no backend, no display and no global figure list, so drawing changes nothing else
    in the process."""
    fig = Figure(figsize=figsize, layout="constrained" if constrained_layout else None)
    FigureCanvasAgg(fig)  # files only (PNG, GIF frames): the Agg renderer, no window
    return fig, fig.subplots(*grid, **subplots)


def save_figure(fig: Figure, path: Path) -> Path:
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format=path.suffix.lstrip(".") or "png", dpi=110, bbox_inches="tight")
    return path


def sample_indices(size: int, count: int = SAMPLE_COUNT) -> list[int]:
    """Fixed, evenly spread test items, so figures of different runs show the same sequences."""
    return sorted({int(i) for i in np.linspace(0, size - 1, num=min(count, size))})


def column_name(columns: Sequence[str] | None, d: int) -> str:
    return str(columns[d]) if columns is not None and d < len(columns) else f"channel {d}"


# ---------------------------------------------------------------- sequences
def sequence_samples(context: np.ndarray, truth: np.ndarray, prediction: np.ndarray, indices: Sequence[int],
                     title: str, columns: Sequence[str] | None = None, max_columns: int = 4) -> Figure:
    """Context, truth and prediction of a few sequences ``(N, T, D)``: a panel per item (columns) and
    per data column (rows, at most ``max_columns``), in model units."""
    count, channels = len(context), min(context.shape[2], max_columns)
    if channels == 1 and count > 2:  # one data column: the items in two rows of two
        rows, cols = int(np.ceil(count / 2)), 2
        place = [(k // 2, k % 2, k, 0) for k in range(count)]
    else:
        rows, cols = channels, count
        place = [(d, k, k, d) for d in range(channels) for k in range(count)]
    fig, axes = new_figure(rows, cols, figsize=(4.6 * cols, 2.7 * rows), squeeze=False, constrained_layout=True)
    tc, horizon = context.shape[1], truth.shape[1]
    t_context, t_future = np.arange(1, tc + 1), np.arange(tc + 1, tc + horizon + 1)
    for ax in axes.flat:
        ax.axis("off")
    for r, c, k, d in place:
        ax = axes[r, c]
        ax.axis("on")
        ax.plot(t_context, context[k, :, d], **CONTEXT)
        ax.plot(t_future, truth[k, :, d], **TRUTH)
        ax.plot(t_future, prediction[k, :, d], **PREDICTION)
        ax.axvline(tc + 0.5, color="grey", linewidth=0.5)
        ax.set_title(f"test item {indices[k]}" + (f", {column_name(columns, d)}" if context.shape[2] > 1 else ""),
                     fontsize=9)
        ax.set_xlabel("step")
        ax.set_ylabel("value (model units)" if context.shape[2] == 1 else column_name(columns, d))
    axes[0, 0].legend(fontsize=8, loc="best")
    shown = "" if context.shape[2] <= max_columns else f" (first {max_columns} of {context.shape[2]} columns)"
    fig.suptitle(title + shown)
    return fig


def forecast_figure(context: np.ndarray, prediction: np.ndarray, truth: np.ndarray | None,
                    columns: Sequence[str], title: str, column_scores: dict[str, dict[str, float]] | None = None,
                    times: Any = None, scaled: tuple[str, dict[str, float]] | None = None) -> Figure:
    """One sequence ``(T, D)`` in the data's units: a panel per column with the context, the
    prediction and the truth where it is known; the errors of the known steps in each panel's title
    (``column_scores``, the data's units) and the scaled ones under the figure (``scaled``: their
    units and scores). ``times`` (context and predicted steps) become the x axis when given."""
    channels = prediction.shape[1]
    fig, axes = new_figure(channels, 1, figsize=(8, 2.2 + 2.0 * channels), squeeze=False, sharex=True,
                             constrained_layout=True)
    tc = len(context)
    x = np.asarray(times) if times is not None and len(times) == tc + len(prediction) else np.arange(1, tc + len(prediction) + 1)
    past, future = x[:tc], x[tc:]
    for d, ax in enumerate(axes[:, 0]):
        name = column_name(columns, d)
        ax.plot(past, context[:, d], **CONTEXT)
        if truth is not None and len(truth):
            ax.plot(future[: len(truth)], truth[:, d], **TRUTH)
        ax.plot(future, prediction[:, d], **PREDICTION)
        ax.axvline(future[0], color="grey", linewidth=0.5)
        ax.set_ylabel(name)
        if column_scores and name in column_scores:
            score = column_scores[name]
            ax.set_title(f"{name}: mse {score['mse']:.4g}, mae {score['mae']:.4g} over the {len(truth)} known steps "
                         "(the data's units)", fontsize=9)
    axes[0, 0].legend(fontsize=8, loc="best")
    axes[-1, 0].set_xlabel("time" if times is not None else "step")
    if times is not None:
        fig.autofmt_xdate()
    fig.suptitle(title)
    if scaled is not None:
        units, scores = scaled
        fig.supxlabel(f"in the model's units ({units}): " + ", ".join(f"{k} {v:.4g}" for k, v in scores.items()),
                      fontsize=8)
    return fig


# ---------------------------------------------------------------- video
def _image(frame: np.ndarray) -> np.ndarray:
    """``(C, H, W)`` in [0, 1] -> what imshow draws: ``(H, W)`` grey or ``(H, W, 3)`` colour."""
    frame = np.clip(frame, 0.0, 1.0)
    return frame[0] if frame.shape[0] == 1 else np.moveaxis(frame[:3], 0, -1)


def difference_scale(*differences: np.ndarray) -> float:
    """The top of the colour scale of |difference| maps: their largest value (at least 1e-3), so
    small errors are not drawn black on a scale to 1."""
    top = max((float(np.max(d)) for d in differences if d.size), default=0.0)
    return max(top, 1e-3)


def video_rows(rows: Sequence[tuple[str, np.ndarray, np.ndarray]], last_seen: np.ndarray, horizon: int,
               title: str, vmax: float | None = None) -> Figure:
    """A grid of frame rows ``(label, frames (T, C, H, W), kind)`` where kind is ``frame`` or
    ``difference``; the first column shows ``last_seen`` (the last context frame) beside frame rows.
    |difference| rows share one colour scale, with its colour bar."""
    differences = [frames for _, frames, kind in rows if kind == "difference"]
    vmax = difference_scale(*differences) if vmax is None else vmax
    cols, cell, gap = horizon + 1, 0.9, 0.06  # inches: a frame and the space between two
    # a fixed layout (cheaper than matplotlib's constrained one, which a run pays for every sample):
    # room on the left for the row labels, on top for the title and the step names, on the right for
    # the colour bar of the |difference| rows
    longest = max(len(line) for label, _, _ in rows for line in label.splitlines())
    left, top, right, bottom = 0.25 + 0.065 * longest, 0.62, 0.85 if differences else 0.15, 0.1
    width, height = left + cols * cell + (cols - 1) * gap + right, top + len(rows) * cell + (len(rows) - 1) * gap + bottom
    fig, axes = new_figure(len(rows), cols, figsize=(width, height), squeeze=False,
                             gridspec_kw=dict(left=left / width, right=1 - right / width, top=1 - top / height,
                                              bottom=bottom / height, wspace=gap / cell, hspace=gap / cell))
    image = None
    for r, (label, frames, kind) in enumerate(rows):
        if kind == "frame":
            axes[r, 0].imshow(_image(last_seen), cmap="gray", vmin=0, vmax=1)
        for t in range(len(frames)):
            if kind == "frame":
                axes[r, t + 1].imshow(_image(frames[t]), cmap="gray", vmin=0, vmax=1)
            else:
                image = axes[r, t + 1].imshow(frames[t].mean(axis=0), cmap="magma", vmin=0, vmax=vmax)
        axes[r, 0].set_ylabel(label, fontsize=8, rotation=0, ha="right", va="center")
    for t in range(horizon):
        axes[0, t + 1].set_title(f"t+{t + 1}", fontsize=8)
    axes[0, 0].set_title("last seen", fontsize=8)
    for ax in axes.flat:
        ax.set_xticks([])
        ax.set_yticks([])
        for spine in ax.spines.values():
            spine.set_visible(bool(ax.images))
    if image is not None:
        maps = [axes[r, -1].get_position() for r, (_, _, kind) in enumerate(rows) if kind == "difference"]
        low, high = min(box.y0 for box in maps), max(box.y1 for box in maps)
        bar_axes = fig.add_axes((1 - (right - 0.12) / width, low, 0.12 / width, high - low), label="<colorbar>")
        bar = fig.colorbar(image, cax=bar_axes)
        bar.set_label("|truth - prediction|", fontsize=7)
        bar.ax.tick_params(labelsize=7)
    fig.suptitle(title, fontsize=9, y=1 - 0.12 / height, va="top")
    return fig


def video_grid(context: np.ndarray, truth: np.ndarray | None, prediction: np.ndarray, title: str) -> Figure:
    """One item: rows truth / prediction / |difference| over the horizon ``(T, C, H, W)``.

    ``truth`` may be shorter than the prediction (a rollout past the known frames) or absent (a
    prediction with no ground truth): its row and the difference then cover what is known.
    """
    known = 0 if truth is None else min(len(truth), len(prediction))
    rows: list[tuple[str, np.ndarray, str]] = []
    if truth is not None:
        rows.append(("truth", truth[:known], "frame"))
    rows.append(("prediction", prediction, "frame"))
    if known:
        rows.append(("|difference|", np.abs(truth[:known] - prediction[:known]), "difference"))
    return video_rows(rows, context[-1], len(prediction), title)


def _to_rgb8(frames: np.ndarray) -> np.ndarray:
    """``(..., C, H, W)`` in [0, 1] -> ``(..., H, W, 3)`` uint8."""
    frames = np.clip(frames, 0.0, 1.0)
    frames = np.repeat(frames, 3, axis=-3) if frames.shape[-3] == 1 else frames[..., :3, :, :]
    return (np.moveaxis(frames, -3, -1) * 255 + 0.5).astype(np.uint8)


def _font(size: int) -> ImageFont.ImageFont:
    """The font matplotlib draws with (it ships DejaVu Sans), for the GIF's labels."""
    from matplotlib import font_manager

    try:
        return ImageFont.truetype(font_manager.findfont("DejaVu Sans"), size)
    except OSError:
        return ImageFont.load_default()


def gif_columns(with_truth: bool) -> list[str]:
    return ["truth", "prediction", "|difference|"] if with_truth else ["prediction"]


def video_gif(context: np.ndarray, truth: np.ndarray | None, prediction: np.ndarray, path: Path,
              scale: int = 2, frame_ms: int = 200) -> Path:
    """Animate items ``(N, T, C, H, W)``: one row per item, columns truth | prediction | |difference|
    (prediction alone when ``truth`` is None; a shorter truth leaves its later frames blank), each
    named in a header that also says which step is shown.

    During the context the prediction column shows the observed frames with a blue border; the
    border turns red when the model's own predictions start. The difference is scaled to its largest
    value, as in the PNG figures.
    """
    seen = _to_rgb8(context)
    predicted = np.concatenate([seen, _to_rgb8(prediction)], axis=1)
    columns = [predicted]
    scale_note = ""
    if truth is not None:
        known = min(truth.shape[1], prediction.shape[1])
        blank = np.full_like(predicted[:, : prediction.shape[1] - known], 255)
        true_frames = np.concatenate([seen, _to_rgb8(truth[:, :known]), blank], axis=1)
        error = np.abs(truth[:, :known] - prediction[:, :known]).mean(axis=2, keepdims=True)
        top = difference_scale(error)
        difference = np.concatenate([np.zeros_like(seen), _to_rgb8(error / top), blank], axis=1)
        columns = [true_frames, predicted, difference]
        scale_note = f"  |diff| white = {top:.2g}"
    names = gif_columns(truth is not None)
    n, steps, h, w, _ = predicted.shape
    pad = 2
    cell_w = (w + 2 * pad) * scale
    header = GIF_HEADER
    font = _font(11)
    width = max(len(columns) * cell_w, 230)
    images = []
    for t in range(steps):
        body = np.full((n * (h + 2 * pad), len(columns) * (w + 2 * pad), 3), 255, dtype=np.uint8)
        border = (40, 90, 220) if t < context.shape[1] else (220, 40, 40)
        for i in range(n):
            for j, frames in enumerate(columns):
                top_px, left = i * (h + 2 * pad), j * (w + 2 * pad)
                if frames is predicted:
                    body[top_px:top_px + h + 2 * pad, left:left + w + 2 * pad] = border
                body[top_px + pad:top_px + pad + h, left + pad:left + pad + w] = frames[i, t]
        body = body.repeat(scale, axis=0).repeat(scale, axis=1)
        canvas = Image.new("RGB", (width, header + body.shape[0]), (255, 255, 255))
        canvas.paste(Image.fromarray(body), (0, header))
        draw = ImageDraw.Draw(canvas)
        step = (f"context {t + 1}/{context.shape[1]}" if t < context.shape[1]
                else f"predicted t+{t - context.shape[1] + 1}")
        draw.text((2, 1), step + scale_note, fill=border, font=font)
        for j, name in enumerate(names):
            draw.text((j * cell_w + cell_w // 2, header - 3), name, fill=(0, 0, 0), font=font, anchor="md")
        images.append(canvas)
    with atomic_path(path) as tmp:
        images[0].save(tmp, format="GIF", save_all=True, append_images=images[1:], duration=frame_ms, loop=0)
    return path


# ---------------------------------------------------------------- one item, and a run's samples
def item_figure(item: np.ndarray, context: int, title: str, columns: Sequence[str] | None = None) -> Figure:
    """One item as the model sees it: a frame strip for video ``(T, C, H, W)`` (context frames and
    horizon frames named), a panel per column for a sequence ``(T, D)`` (context solid, horizon dashed)."""
    if item.ndim == 2:
        channels = item.shape[1]
        fig, axes = new_figure(channels, 1, figsize=(7, 1.2 + 1.6 * channels), squeeze=False, sharex=True,
                                 constrained_layout=True)
        steps = np.arange(1, len(item) + 1)
        colors = matplotlib.colormaps["tab10"]
        for d, ax in enumerate(axes[:, 0]):
            ax.plot(steps[:context], item[:context, d], color=colors(d % 10), label="context")
            ax.plot(steps[context - 1:], item[context - 1:, d], color=colors(d % 10), linestyle="--", label="horizon")
            ax.axvline(context + 0.5, color="grey", linewidth=0.5)
            ax.set_ylabel(column_name(columns, d))
        axes[0, 0].legend(fontsize=8, loc="best")
        axes[-1, 0].set_xlabel("step (solid: context, dashed: horizon; values as the model sees them)")
        fig.suptitle(title, fontsize=10)
        return fig
    frames = item.shape[0]
    fig, axes = new_figure(1, frames, figsize=(0.9 * frames, 1.9), squeeze=False, constrained_layout=True)
    for t, ax in enumerate(axes[0]):
        ax.imshow(_image(item[t]), cmap="gray", vmin=0, vmax=1)
        ax.set_title(f"c{t + 1}" if t < context else f"h{t - context + 1}", fontsize=7)
        ax.set_xticks([])
        ax.set_yticks([])
    fig.supxlabel(f"c1..c{context}: context frames, h1..h{frames - context}: horizon frames", fontsize=8)
    fig.suptitle(title, fontsize=9)
    return fig


def save_samples(trainer, data, folder: Path, title: str) -> list[Path]:  # noqa: ANN001
    """Write prediction figures of fixed test items into ``folder`` and the arrays they show
    (``predictions.npz``: context, truth, prediction, the item numbers, the columns); returns the files."""
    indices = sample_indices(len(data.test))
    context, truth, prediction = (t.numpy() for t in trainer.predict("test", indices))
    columns = data.meta.get("columns") or []
    arrays = folder / SAMPLES_FILE
    with atomic_path(arrays) as tmp, open(tmp, "wb") as fh:
        np.savez_compressed(fh, context=context.astype(np.float32), truth=truth.astype(np.float32),
                            prediction=prediction.astype(np.float32), indices=np.asarray(indices),
                            columns=np.asarray(columns, dtype=str), title=np.asarray(title))
    if data.kind == "video":
        paths = [save_figure(video_grid(context[k], truth[k], prediction[k], f"{title}, test item {index}"),
                             folder / f"predictions_item{index}.png") for k, index in enumerate(indices)]
        return [*paths, video_gif(context, truth, prediction, folder / "predictions.gif"), arrays]
    return [save_figure(sequence_samples(context, truth, prediction, indices, title, columns),
                        folder / "predictions.png"), arrays]


def read_samples(folder: Path) -> dict[str, Any] | None:
    """The arrays :func:`save_samples` kept in ``folder`` (None when absent or unreadable)."""
    path = Path(folder) / SAMPLES_FILE
    try:
        with np.load(path, allow_pickle=False) as found:
            return {key: found[key] for key in found.files}
    except (OSError, ValueError, KeyError):
        return None
