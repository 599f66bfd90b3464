"""Figures are drawn by matplotlib from arrays and read like a paper's: rows and axes labelled, a
colour bar on error maps scaled to the errors, titles clear of the labels, GIF columns named, curves
with enough points, lines that lie on each other told apart. Checked on the Figure objects (axes,
labels, data), and on the report built from run folders that hold arrays but no pictures."""

from __future__ import annotations

import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
from PIL import Image  # noqa: E402

from helpers.config import experiment_config  # noqa: E402
from vidpred import plots  # noqa: E402
from vidpred.report import build_report, collect  # noqa: E402
from vidpred.report import figures as report_figures  # noqa: E402
from vidpred.experiment import run_experiment  # noqa: E402


def moving_square(frames: int, size: int = 16, shift: int = 0) -> np.ndarray:
    clip = np.zeros((frames, 1, size, size), dtype=np.float32)
    for t in range(frames):
        clip[t, 0, 4:8, (t + shift) % size:(t + shift) % size + 4] = 1.0
    return clip


def ylabels(fig) -> list[str]:  # noqa: ANN001
    """The labels of the rows (colour bars aside)."""
    return [ax.get_ylabel() for ax in fig.axes if ax.get_ylabel() and ax.get_label() != "<colorbar>"]


def colorbars(fig) -> list:  # noqa: ANN001
    return [ax for ax in fig.axes if ax.get_label() == "<colorbar>"]


def above(fig, text, ax_titles) -> bool:  # noqa: ANN001
    """Whether ``text`` is drawn above every one of ``ax_titles`` (no overlap)."""
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    bottom = text.get_window_extent(renderer).y0
    return all(bottom >= title.get_window_extent(renderer).y1 for title in ax_titles if title.get_text())


def test_video_grid_labels_its_rows_scales_the_error_map_and_keeps_the_title_clear() -> None:
    truth = moving_square(6)
    prediction = truth * 0.9 + 0.02  # a small error: on a scale to 1 it would be drawn black
    fig = plots.video_grid(moving_square(4), truth, prediction, "convlstm on squares, test item 3")
    assert ylabels(fig) == ["truth", "prediction", "|difference|"]
    (bar,) = colorbars(fig)
    assert bar.get_ylabel() == "|truth - prediction|"
    error = np.abs(truth - prediction).mean(axis=1)
    maps = [image for ax in fig.axes for image in ax.images if image.get_cmap().name == "magma"]
    assert len(maps) == 6 and maps[0].get_clim() == (0.0, pytest.approx(error.max()))
    np.testing.assert_allclose(maps[2].get_array(), error[2])
    assert [ax.get_title() for ax in fig.axes[:7]] == ["last seen", *[f"t+{t}" for t in range(1, 7)]]
    assert above(fig, fig._suptitle, [ax.title for ax in fig.axes])


def test_a_prediction_without_truth_has_one_row_and_its_title_above_the_steps() -> None:
    fig = plots.video_grid(moving_square(4), None, moving_square(8), "new_clip.mp4: convlstm of run")
    assert ylabels(fig) == ["prediction"] and colorbars(fig) == []
    assert above(fig, fig._suptitle, [ax.title for ax in fig.axes])


def test_gif_columns_are_named_and_the_step_is_shown(tmp_path: Path) -> None:
    context, truth = moving_square(5)[None], moving_square(5, shift=5)[None]
    path = plots.video_gif(context, truth, truth * 0.5, tmp_path / "a.gif")
    assert plots.gif_columns(True) == ["truth", "prediction", "|difference|"]
    with Image.open(path) as gif:
        frames = []
        for k in range(gif.n_frames):
            gif.seek(k)
            frames.append(np.asarray(gif.convert("RGB")).astype(int))
    header = [frame[: plots.GIF_HEADER] for frame in frames]
    width = (16 + 4) * 2  # a frame with its border, drawn twice its size
    for column in range(3):  # each column's name is written above it
        assert (header[0][plots.GIF_HEADER // 2:, column * width:(column + 1) * width].sum(axis=2) < 300).any()
    assert not np.array_equal(header[0], header[7])  # "context 1/5" there, "predicted t+3" here
    assert (header[7][:14, :, 0] > 180).any() and (header[0][:14, :, 2] > 180).any()  # red once predicting, blue before


def test_sequence_samples_label_items_columns_and_lines() -> None:
    rng = np.random.default_rng(0)
    context, truth = rng.uniform(size=(4, 10, 3)), rng.uniform(size=(4, 5, 3))
    fig = plots.sequence_samples(context, truth, truth + 0.1, [0, 5, 9, 14], "lstm on prices", ["Open", "Close", "Volume"])
    assert set(ylabels(fig)) == {"Open", "Close", "Volume"} and len(fig.axes) == 12
    assert {ax.get_xlabel() for ax in fig.axes} == {"step"}
    assert [t.get_text() for t in fig.axes[0].get_legend().get_texts()] == ["context", "truth", "prediction"]
    np.testing.assert_allclose(fig.axes[5].lines[2].get_ydata(), truth[1, :, 1] + 0.1)  # item 5, Close


def test_show_of_a_several_column_series_names_every_column() -> None:
    item = np.random.default_rng(0).uniform(size=(40, 6))
    columns = ["Open", "High", "Low", "Close", "Adj Close", "Volume"]
    fig = plots.item_figure(item, 20, "series test item 0: ACME.csv, 2020-03-02 .. 2020-04-27", columns)
    assert ylabels(fig) == columns
    assert [t.get_text() for t in fig.axes[0].get_legend().get_texts()] == ["context", "horizon"]
    np.testing.assert_allclose(fig.axes[5].lines[0].get_ydata(), item[:20, 5])


def test_a_short_run_logs_a_curve_and_the_report_draws_it_from_arrays(tmp_path: Path) -> None:
    # 256 items in batches of 64 for 2 epochs: 8 steps; with the default log_every_n_steps=auto every one is a row
    run = tmp_path / "runs" / "short"
    run_experiment(experiment_config(["data.train_size=256", "data.val_size=16", "data.test_size=16", "model.hidden=4",
                                   "trainer.max_epochs=2", "trainer.progress=off"]), run)
    history = pd.read_csv(run / "history.csv")
    assert list(history.dropna(subset=["train_loss"])["step"]) == list(range(1, 9))
    with np.load(run / "samples" / "predictions.npz") as samples:
        assert samples["context"].shape == (4, 20, 1) and samples["prediction"].shape == (4, 20, 1)
        assert list(samples["indices"]) == plots.sample_indices(16)
    (run / "samples" / "predictions.png").unlink()  # the report draws from the arrays, never from a picture
    report = build_report([tmp_path / "runs"], tmp_path / "report")
    assert {p.name for p in report.figures} == {"loss_sins.png", "per_step_sins.png", "samples_sins_lstm.png"}
    records = collect([tmp_path / "runs"])
    fig = report_figures.loss_figure("sins", records)
    train = fig.axes[0].lines[0]
    assert len(train.get_xdata()) == 8 and train.get_marker() not in ("None", None, "")
    assert fig.axes[0].get_xlabel() == "training step" and fig.axes[0].get_yscale() == "log"
    fig = report_figures.samples_figure([("lstm l1", plots.read_samples(run / "samples"))], "samples")
    with np.load(run / "samples" / "predictions.npz") as samples:
        np.testing.assert_allclose(fig.axes[0].lines[2].get_ydata(), samples["prediction"][0, :, 0])


def fake_run(folder: Path, model: str, per_step: list[float], samples: dict[str, np.ndarray]) -> Path:
    """A completed run folder as a run leaves it (metrics.json, samples arrays), for the report."""
    folder.mkdir(parents=True)
    (folder / "metrics.json").write_text(json.dumps({
        "status": "completed", "choices": {"model": model, "data": "mnist", "layers": 1, "seed": 0},
        "settings": {"model.name": model, "data.name": "mnist"},
        "test": {"mse": float(np.mean(per_step)), "mse_per_step": per_step}}))
    (folder / "samples").mkdir()
    np.savez(folder / "samples" / "predictions.npz", **samples)
    return folder


def test_report_lines_on_each_other_stay_apart_and_video_samples_have_their_colour_bar(tmp_path: Path) -> None:
    truth = moving_square(6)[None]
    steps = [0.01, 0.02, 0.03]
    for model, prediction in (("last", truth * 0.5), ("mean", truth * 0.8)):
        fake_run(tmp_path / model, model, steps, {"context": moving_square(4)[None], "truth": truth,
                                                  "prediction": prediction, "indices": np.array([3])})
    records = collect([tmp_path])
    fig = report_figures.per_step_figure("mnist", records)
    lines = fig.axes[0].lines
    assert [list(line.get_ydata()) for line in lines] == [steps, steps]  # identical numbers ...
    assert lines[0].get_linestyle() != lines[1].get_linestyle() and lines[0].get_marker() != lines[1].get_marker()
    assert list(lines[0].get_xdata()) == [1, 2, 3]
    panels = [(r.choices["model"], plots.read_samples(r.path / "samples")) for r in records]
    fig = report_figures.samples_figure(panels, "sample test predictions, mnist")
    assert ylabels(fig) == ["truth", "last\nprediction", "last\n|difference|", "mean\nprediction", "mean\n|difference|"]
    (bar,) = colorbars(fig)
    assert bar.get_ylabel() == "|truth - prediction|"
    assert "test item 3" in fig._suptitle.get_text()
