"""The user's own data and predictions: clips of every format and CSV series go prepare -> verify ->
show -> run -> predict on an input the run never saw; checkpoints are data and never run code."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from helpers.config import compose_config, experiment_config
from helpers.data_cli import assert_one_line_error, cli
from helpers.media_fabricate import pick_encoder, square_scene, write_frames, write_gif, write_video
from helpers.run_cli import run_cli
from vidpred import load_run
from vidpred.predict import main as predict_main
from vidpred.experiment import run_experiment

FRAMES = 24  # per clip: two windows of 10 + 10 frames, 4 frames apart


def fabricate_clips(src: Path) -> list[str]:
    """One clip per format the reader takes, each a square moving right (64 x 96 RGB, 24 frames)."""
    scene = square_scene(FRAMES)
    names = []
    for k, suffix in enumerate((".mp4", ".avi", ".mov", ".mkv", ".webm")):
        codec = pick_encoder(suffix)
        assert codec is not None, f"no encoder for {suffix} in this PyAV build"
        write_video(src / f"clip{k}{suffix}", np.roll(scene, 2 * k, axis=2), codec)
        names.append(f"clip{k}{suffix}")
    write_gif(src / "anim.gif", np.concatenate([scene[:12], scene[10::-1]]))  # 23 frames, each unlike the last
    write_frames(src / "shots" / "take1", scene, ".png")
    write_frames(src / "shots" / "take2", scene, ".jpg", quality=95)
    np.save(src / "array_u8.npy", scene)
    np.save(src / "array_float.npy", scene.mean(axis=3).astype(np.float32) / 255.0)
    (src / "broken.mp4").write_bytes(np.random.default_rng(0).bytes(2000))  # listed and skipped
    np.save(src / "short.npy", scene[:5])                                      # too short: skipped
    return names


def test_clips_prepare_verify_show_train_predict(tmp_path: Path, capsys) -> None:
    data_dir, src = tmp_path / "data", tmp_path / "src"
    fabricate_clips(src)
    code, out, err = cli(capsys, "prepare", "videos", "--src", src, "--data-dir", data_dir, "--name", "lab",
                         "data.size=16", "data.channels=3", "data.every=1")
    assert code == 0, err
    assert out.startswith("videos: 10 clips -> 239 frames of 3 x 16 x 16 (every 1)"), out
    assert f"skipped {src / 'broken.mp4'}: cannot decode the video" in out
    assert "skipped short.npy: 5 frames (every 1), fewer than data.context + data.horizon = 20" in out
    manifest = json.loads((data_dir / "lab" / "manifest.json").read_text())
    assert len(manifest["clips"]) == 10 and len(manifest["skipped"]) == 2
    code, out, err = cli(capsys, "verify", "videos", "--data-dir", data_dir, "--name", "lab")
    assert code == 0 and out.count(" ok") == 2, err
    geometry = ["data.set=lab", "data.size=16", "data.channels=3", "data.stride=4"]
    code, out, err = cli(capsys, "show", "videos", "--data-dir", data_dir, "--split", "test", "--out",
                         tmp_path / "item.npy", *geometry)
    assert code == 0, err
    shown = np.load(tmp_path / "item.npy")
    assert shown.shape == (20, 3, 16, 16) and shown.dtype == np.float32

    # another geometry than the prepared one is one line that says to prepare again
    code, _, err = cli(capsys, "show", "videos", "--data-dir", data_dir, "--out", tmp_path / "x.npy",
                       "data.set=lab", "data.size=32", "data.channels=3")
    assert_one_line_error(code, err, "data.size=32 (prepared: 16)",
                          f"prepare videos --src {src} --name lab --data-dir {data_dir} data.size=32")

    run_dir = tmp_path / "run"
    results = run_experiment(experiment_config([
        "model=convlstm", "data=videos", f"paths.data_dir={data_dir}", *geometry, "data.num_workers=0",
        "model.hidden=8", "trainer.max_epochs=1", "trainer.progress=off", "data.batch_size=4"]), run_dir)
    assert results["status"] == "completed" and results["data"]["frame_shape"] == [3, 16, 16]
    assert set(results["test"]) >= {"mse", "psnr", "ssim"}

    new = tmp_path / "new_clip.mp4"  # a clip the run never saw, at another resolution
    write_video(new, square_scene(30, height=48, width=64, margin=8), pick_encoder(".mp4"))
    out_dir = tmp_path / "predictions"
    predict_main([str(run_dir), "--input", str(new), str(tmp_path / "item.npy"), "--out", str(out_dir),
                  "--horizon", "14", "--at", "12"])
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2 and "vs the next 14 known steps: mse" in lines[0] and "psnr" in lines[0]
    assert "vs the next 8 known steps" in lines[1]  # the shown item has 20 frames: 8 after step 12
    prediction = np.load(out_dir / "new_clip.npy")
    assert prediction.shape == (14, 3, 16, 16) and prediction.dtype == np.float32
    assert 0.0 <= prediction.min() and prediction.max() <= 1.0
    for name in ("new_clip.png", "new_clip.gif", "item.png", "item.gif"):
        assert (out_dir / name).stat().st_size > 1000, name
    summary = json.loads((out_dir / "summary.json").read_text())
    assert [p["known_steps"] for p in summary["predictions"]] == [14, 8]


def hourly_csv(path: Path, rows: int, phase: float = 0.0) -> Path:
    hours = np.arange(rows)
    temp = 20 + 5 * np.sin(hours / 6 + phase)
    load = 100 + 30 * np.cos(hours / 6 + phase)
    stamps = np.datetime64("2024-01-01T00:00") + hours.astype("timedelta64[h]")
    lines = ["timestamp,temp,load"] + [f"{t},{a:.4f},{b:.4f}" for t, a, b in zip(stamps, temp, load)]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")
    return path


def test_series_prepare_train_predict_in_the_inputs_units(tmp_path: Path, capsys) -> None:
    data_dir = tmp_path / "data"
    for k in range(3):
        hourly_csv(tmp_path / "src" / f"site{k}.csv", 300, phase=k)
    code, out, err = cli(capsys, "prepare", "series", "--src", tmp_path / "src", "--data-dir", data_dir)
    assert code == 0 and out.count("rows of temp, load") == 3, err
    run_dir = tmp_path / "run"
    results = run_experiment(experiment_config([
        "model=lstm", "data=series", f"paths.data_dir={data_dir}", "data.context=12", "data.horizon=6",
        "model.hidden=16", "trainer.max_epochs=3", "trainer.progress=off", "data.batch_size=32"]), run_dir)
    assert results["status"] == "completed" and results["data"]["columns"] == ["temp", "load"]

    new = hourly_csv(tmp_path / "new.csv", 40, phase=2.5)
    out_dir = tmp_path / "predictions"
    predict_main([str(run_dir), "--input", str(new), "--out", str(out_dir), "--horizon", "10"])
    prediction = np.load(out_dir / "new.npy")
    assert prediction.shape == (10, 2) and prediction.dtype == np.float32
    # in the input's own units: temperatures near 20 +- 5, loads near 100 +- 30 (context-normalised model)
    assert 10 < prediction[:, 0].mean() < 30 and 60 < prediction[:, 1].mean() < 140
    table = (out_dir / "new.csv").read_text().splitlines()
    assert table[0] == "time,temp,load" and table[1].startswith("2024-01-02 16:00:00")  # continued hourly
    assert len(table) == 11


def test_prediction_of_a_test_item_equals_the_evaluation(tmp_path: Path, capsys) -> None:
    run_dir = tmp_path / "run"
    settings = ["data.train_size=256", "data.val_size=32", "data.test_size=40", "trainer.max_epochs=2",
                "model.hidden=16", "trainer.progress=off"]
    results = run_experiment(experiment_config(settings), run_dir)
    code, _, err = cli(capsys, "show", "sins", "--split", "test", "--index", "13", "--out", tmp_path / "item.npy",
                       *[s for s in settings if s.startswith("data.")])
    assert code == 0, err
    run = load_run(run_dir)
    from vidpred.data import build_data

    cfg = compose_config(settings)
    data = build_data("sins", {k: v for k, v in cfg.data.items() if k not in ("name", "batch_size", "num_workers")},
                      "unused")
    test = torch.from_numpy(data.test.array)
    with torch.no_grad():  # the evaluation's forward pass: the whole test split in one batch of 40
        evaluated = run.model(test[:, :20], 20).numpy()
    predict_main([str(run_dir), "--input", str(tmp_path / "item.npy"), "--out", str(tmp_path / "p"), "--at", "20"])
    mine = np.load(tmp_path / "p" / "item.npy")
    # equal up to float32 rounding: a batch of one and a batch of 40 sum the same products in another order
    np.testing.assert_allclose(mine, evaluated[13], rtol=1e-5, atol=1e-7)
    summary = json.loads((tmp_path / "p" / "summary.json").read_text())
    np.testing.assert_allclose(summary["predictions"][0]["scores"]["mse"],
                               float(((evaluated[13] - test[13, 20:].numpy()) ** 2).mean()), rtol=1e-5)
    assert results["test"]["sequences"] == 40


@pytest.mark.parametrize("case", ["too_few", "unreadable", "no_checkpoint", "other_model", "linear_horizon",
                                  "window_without_truth"])
def test_predict_mistakes_are_one_line(tmp_path: Path, capsys, case: str) -> None:
    run_dir = tmp_path / "run"
    model = "linear" if case == "linear_horizon" else "lstm"
    run_experiment(experiment_config([f"model={model}", "data.train_size=128", "data.val_size=16", "data.test_size=16",
                                   "trainer.max_epochs=1", "model.hidden=8" if model == "lstm" else "model.ridge=0",
                                   "trainer.progress=off"]), run_dir)
    good = tmp_path / "good.npy"
    np.save(good, np.random.default_rng(0).uniform(size=(30, 1)).astype(np.float32))
    args = [str(run_dir), "--input", str(good), "--out", str(tmp_path / "out")]
    if case == "too_few":
        np.save(good, np.zeros((12, 1), dtype=np.float32))
        needle = "12 steps before the predicted ones, the model needs a context of 20"
    elif case == "unreadable":
        (tmp_path / "bad.csv").write_text("time,value\n2024-01-01,1.5\n2024-01-02,abc\n2024-01-03,2.5\n")
        args[2] = str(tmp_path / "bad.csv")
        needle = "bad.csv: line 3: column 'value' holds 'abc'"
    elif case == "no_checkpoint":
        (run_dir / "checkpoints" / "best.pt").unlink()
        needle = "holds no best checkpoint"
    elif case == "other_model":
        other = tmp_path / "other"
        run_experiment(experiment_config(["data.train_size=64", "data.val_size=16", "data.test_size=16",
                                       "trainer.max_epochs=1", "model.hidden=4", "trainer.progress=off"]), other)
        args += ["--checkpoint", str(other / "checkpoints" / "best.pt")]
        needle = "does not fit this model"
    elif case == "linear_horizon":
        args += ["--horizon", "25"]
        needle = "model=linear was fitted for horizon 20, asked for 25"
    else:
        metrics = json.loads((run_dir / "metrics.json").read_text())  # as a run of data=stocks records it
        metrics["data"].update(normalize="window", columns=["value"])
        (run_dir / "metrics.json").write_text(json.dumps(metrics))
        rows = [f"2024-01-{day:02d},{10 + day}" for day in range(1, 31)]
        (tmp_path / "series.csv").write_text("\n".join(["date,value", *rows]) + "\n")
        args[2] = str(tmp_path / "series.csv")
        needle = "data.normalize=window"
    with pytest.raises(SystemExit) as info:
        predict_main(args)
    assert_one_line_error(info.value.code, capsys.readouterr().err, needle)


class Payload:
    """A pickle that runs a shell command when it is loaded."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):  # noqa: ANN204
        import os

        return (os.system, (f"touch {self.marker}",))


def test_a_crafted_checkpoint_is_refused_and_runs_nothing(tmp_path: Path, capsys) -> None:
    marker = tmp_path / "pwned"
    crafted = tmp_path / "evil" / "checkpoints" / "last.pt"
    crafted.parent.mkdir(parents=True)
    torch.save({"format": 2, "kind": "last", "model": Payload(marker)}, crafted)
    assert not marker.exists()
    code, _, err = run_cli(capsys, "data.train_size=64", "data.val_size=16", "data.test_size=16",
                           "trainer.progress=off", f"resume={crafted}", f"hydra.run.dir={tmp_path / 'run'}")
    assert_one_line_error(code, err, f"refusing to load {crafted}", "could run code")
    assert not marker.exists()
    with pytest.raises(SystemExit):
        predict_main([str(tmp_path / "evil"), "--input", str(crafted), "--out", str(tmp_path / "o"),
                      "--checkpoint", str(crafted)])
    assert not marker.exists()
    # and the project itself never asks torch.load for anything but plain data
    src = Path(__file__).resolve().parents[1] / "src"
    assert not [p for p in src.rglob("*.py") if "weights_only=False" in p.read_text()]


def test_a_sweep_over_generated_and_file_data_takes_one_data_folder(tmp_path: Path) -> None:
    from helpers.data_fabricate import fabricate_stocks

    fabricate_stocks(tmp_path / "data")
    done = subprocess.run([sys.executable, "-m", "vidpred.run", "-m", "data=sins,stocks", "model=last",
                           f"paths.data_dir={tmp_path / 'data'}", "data.train_size=32", "data.val_size=8",
                           "data.test_size=8", "trainer.progress=off", f"hydra.sweep.dir={tmp_path / 'sweep'}"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    statuses = {p.parent.name: json.loads(p.read_text())["status"] for p in (tmp_path / "sweep").glob("*/metrics.json")}
    assert statuses == {"0_last_sins_l1_s0": "completed", "1_last_stocks_l1_s0": "completed"}


def test_a_truncated_video_whose_index_is_at_the_front_is_listed_not_taken_whole(tmp_path: Path, capsys) -> None:
    """A cut mp4 with its index (moov) at the front decodes frame after frame until the data ends,
    without an error: it is skipped with the frame counts, not kept as a shorter clip."""
    import av

    from helpers.media_fabricate import square_scene

    src = tmp_path / "clips"
    src.mkdir()
    for name, options in (("whole.mp4", {}), ("cut.mp4", {"movflags": "faststart"})):
        with av.open(str(src / name), "w", options=options) as container:
            stream = container.add_stream("mpeg4", rate=10)
            stream.width, stream.height, stream.pix_fmt = 96, 64, "yuv420p"
            for image in square_scene(40):
                container.mux(stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")))
            container.mux(stream.encode())
    data = (src / "cut.mp4").read_bytes()
    (src / "cut.mp4").write_bytes(data[: len(data) * 8 // 10])
    code, out, err = cli(capsys, "prepare", "videos", "--src", src, "--data-dir", tmp_path / "data")
    assert code == 0, err
    manifest = json.loads((tmp_path / "data" / "videos" / "manifest.json").read_text())
    assert [clip["file"] for clip in manifest["clips"]] == ["whole.mp4"] and manifest["clips"][0]["frames"] == 40
    (skipped,) = manifest["skipped"]
    assert skipped.startswith(f"{src / 'cut.mp4'}: truncated: ") and "of the 40 frames its index lists" in skipped
    decoded = int(skipped.split("truncated: ")[1].split()[0])
    assert 0 < decoded < 40
    assert f"skipped {skipped}" in out
