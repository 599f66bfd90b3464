"""Sample figures of predictions (the study's Figure 6 for sequences)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only: runs happen on servers and in CI without a display
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

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
    fig, axes = plt.subplots(rows, cols, figsize=(5.5 * cols, 3.0 * rows), squeeze=False)
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
        ax.set_xlabel("step")
    axes.flat[0].legend(fontsize=8, loc="best")
    fig.suptitle(title)
    save_figure(fig, path)


SAMPLE_COUNT = 4


def sample_indices(size: int, count: int = SAMPLE_COUNT) -> list[int]:
    """Fixed, evenly spread test items, so figures of different runs show the same sequences."""
    return sorted({int(i) for i in np.linspace(0, size - 1, num=min(count, size))})


def save_samples(trainer, data, folder: Path, title: str) -> list[Path]:  # noqa: ANN001
    """Write prediction figures of fixed test items into ``folder``; returns the files written."""
    indices = sample_indices(len(data.test))
    context, truth, prediction = (t.numpy() for t in trainer.predict("test", indices))
    path = folder / "predictions.png"
    sequence_samples(context, truth, prediction, indices, title, path)
    return [path]
