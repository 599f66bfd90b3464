"""Sample figures of predictions: the study's Figure 6 for sequences, its appendix grids for video.

Video: one PNG per test item with rows truth / prediction / absolute difference over the predicted
steps (the context's last frame on the left), and one animated GIF of all items.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only: runs happen on servers and in CI without a display
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from PIL import Image  # noqa: E402  (Pillow ships with matplotlib)

from vidpred.io import atomic_path  # noqa: E402


def save_figure(fig: plt.Figure, path: Path) -> None:
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format=path.suffix.lstrip(".") or "png", dpi=110, bbox_inches="tight")
    plt.close(fig)


def sequence_samples(context: np.ndarray, truth: np.ndarray, prediction: np.ndarray,
                     indices: list[int], title: str, path: Path) -> None:
    """Context, truth and prediction of a few sequences ``(N, T, D)``, one panel each (channel 0)."""
    count = len(context)
    cols = 2 if count > 1 else 1
    rows = int(np.ceil(count / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(5.5 * cols, 3.0 * rows), squeeze=False,
                             constrained_layout=True)
    tc, horizon = context.shape[1], truth.shape[1]
    t_context = np.arange(tc)
    t_future = np.arange(tc, tc + horizon)
    for k, ax in enumerate(axes.flat):
        if k >= count:
            ax.axis("off")
            continue
        ax.plot(t_context, context[k, :, 0], color="black", label="context")
        ax.plot(t_future, truth[k, :, 0], color="tab:green", label="truth")
        ax.plot(t_future, prediction[k, :, 0], color="tab:red", linestyle="--", label="prediction")
        ax.axvline(tc - 0.5, color="grey", linewidth=0.5)
        ax.set_title(f"test item {indices[k]}", fontsize=9)
        if k >= count - cols:  # only the bottom row: the labels would run into the titles below
            ax.set_xlabel("step")
    axes.flat[0].legend(fontsize=8, loc="best")
    fig.suptitle(title)
    save_figure(fig, path)


SAMPLE_COUNT = 4


def sample_indices(size: int, count: int = SAMPLE_COUNT) -> list[int]:
    """Fixed, evenly spread test items, so figures of different runs show the same sequences."""
    return sorted({int(i) for i in np.linspace(0, size - 1, num=min(count, size))})


def _image(frame: np.ndarray) -> np.ndarray:
    """``(C, H, W)`` in [0, 1] -> what imshow draws: ``(H, W)`` grey or ``(H, W, 3)`` colour."""
    frame = np.clip(frame, 0.0, 1.0)
    return frame[0] if frame.shape[0] == 1 else np.moveaxis(frame[:3], 0, -1)


def video_grid(context: np.ndarray, truth: np.ndarray | None, prediction: np.ndarray, title: str,
               path: Path) -> None:
    """One item: rows truth / prediction / |difference| over the horizon ``(T, C, H, W)``.

    ``truth`` may be shorter than the prediction (a rollout past the known frames) or absent (a
    prediction with no ground truth): its row and the difference then cover what is known.
    """
    horizon = len(prediction)
    known = 0 if truth is None else min(len(truth), horizon)
    rows = [("prediction", prediction)] if truth is None else [("truth", truth[:known]), ("prediction", prediction)]
    cols = horizon + 1
    fig, axes = plt.subplots(len(rows) + (known > 0), cols, figsize=(1.1 * cols, 1.2 * (len(rows) + (known > 0))),
                             squeeze=False)
    for r, (label, frames) in enumerate(rows):
        axes[r, 0].imshow(_image(context[-1]), cmap="gray", vmin=0, vmax=1)
        for t in range(len(frames)):
            axes[r, t + 1].imshow(_image(frames[t]), cmap="gray", vmin=0, vmax=1)
        axes[r, 0].set_ylabel(label, fontsize=8)
    if known:
        difference = np.abs(truth[:known] - prediction[:known]).mean(axis=1)  # mean over channels: a heat map
        axes[-1, 0].axis("off")
        for t in range(known):
            axes[-1, t + 1].imshow(difference[t], cmap="magma", vmin=0, vmax=1)
        axes[-1, 1].set_ylabel("|difference|", fontsize=8)
    for t in range(horizon):
        axes[0, t + 1].set_title(f"t+{t + 1}", fontsize=7)
    axes[0, 0].set_title("last seen", fontsize=7)
    for ax in axes.flat:
        ax.set_xticks([])
        ax.set_yticks([])
    fig.suptitle(title, fontsize=9)
    save_figure(fig, path)


def _to_rgb8(frames: np.ndarray) -> np.ndarray:
    """``(..., C, H, W)`` in [0, 1] -> ``(..., H, W, 3)`` uint8."""
    frames = np.clip(frames, 0.0, 1.0)
    frames = np.repeat(frames, 3, axis=-3) if frames.shape[-3] == 1 else frames[..., :3, :, :]
    return (np.moveaxis(frames, -3, -1) * 255 + 0.5).astype(np.uint8)


def video_gif(context: np.ndarray, truth: np.ndarray | None, prediction: np.ndarray, path: Path,
              scale: int = 2, frame_ms: int = 200) -> None:
    """Animate items ``(N, T, C, H, W)``: one row per item, columns truth | prediction | |diff|
    (prediction alone when ``truth`` is None; a shorter truth leaves its later frames blank).

    During the context the prediction column shows the observed frames with a blue border; the
    border turns red when the model's own predictions start.
    """
    seen = _to_rgb8(context)
    predicted = np.concatenate([seen, _to_rgb8(prediction)], axis=1)
    columns = [predicted]
    if truth is not None:
        known = min(truth.shape[1], prediction.shape[1])
        blank = np.full_like(predicted[:, : prediction.shape[1] - known], 255)
        true_frames = np.concatenate([seen, _to_rgb8(truth[:, :known]), blank], axis=1)
        difference = np.concatenate([np.zeros_like(seen), _to_rgb8(np.abs(
            truth[:, :known] - prediction[:, :known]).mean(axis=2, keepdims=True)), blank], axis=1)
        columns = [true_frames, predicted, difference]
    n, steps, h, w, _ = predicted.shape
    pad = 2
    images = []
    for t in range(steps):
        canvas = np.full((n * (h + 2 * pad), len(columns) * (w + 2 * pad), 3), 255, dtype=np.uint8)
        border = (40, 90, 220) if t < context.shape[1] else (220, 40, 40)
        for i in range(n):
            for j, frames in enumerate(columns):
                top, left = i * (h + 2 * pad), j * (w + 2 * pad)
                if frames is predicted:
                    canvas[top:top + h + 2 * pad, left:left + w + 2 * pad] = border
                canvas[top + pad:top + pad + h, left + pad:left + pad + w] = frames[i, t]
        canvas = canvas.repeat(scale, axis=0).repeat(scale, axis=1)
        images.append(Image.fromarray(canvas))
    with atomic_path(path) as tmp:
        images[0].save(tmp, format="GIF", save_all=True, append_images=images[1:],
                       duration=frame_ms, loop=0)


def forecast_figure(context: np.ndarray, prediction: np.ndarray, truth: np.ndarray | None,
                    columns: list[str], title: str, path: Path) -> None:
    """One sequence ``(T, D)``: a panel per channel with the context, the prediction and the truth
    where it is known."""
    channels = prediction.shape[1]
    fig, axes = plt.subplots(channels, 1, figsize=(7, 2.6 * channels), squeeze=False, constrained_layout=True)
    tc = len(context)
    future = np.arange(tc, tc + len(prediction))
    for d, ax in enumerate(axes[:, 0]):
        ax.plot(np.arange(tc), context[:, d], color="black", label="context")
        if truth is not None and len(truth):
            ax.plot(future[: len(truth)], truth[:, d], color="tab:green", label="truth")
        ax.plot(future, prediction[:, d], color="tab:red", linestyle="--", label="prediction")
        ax.axvline(tc - 0.5, color="grey", linewidth=0.5)
        ax.set_ylabel(columns[d] if d < len(columns) else f"channel {d}")
    axes[0, 0].legend(fontsize=8, loc="best")
    axes[-1, 0].set_xlabel("step")
    fig.suptitle(title)
    save_figure(fig, path)


def save_samples(trainer, data, folder: Path, title: str) -> list[Path]:  # noqa: ANN001
    """Write prediction figures of fixed test items into ``folder``; returns the files written."""
    indices = sample_indices(len(data.test))
    context, truth, prediction = (t.numpy() for t in trainer.predict("test", indices))
    if data.kind == "video":
        paths = []
        for k, index in enumerate(indices):
            path = folder / f"predictions_item{index}.png"
            video_grid(context[k], truth[k], prediction[k], f"{title}, test item {index}", path)
            paths.append(path)
        gif = folder / "predictions.gif"
        video_gif(context, truth, prediction, gif)
        return [*paths, gif]
    path = folder / "predictions.png"
    sequence_samples(context, truth, prediction, indices, title, path)
    return [path]
