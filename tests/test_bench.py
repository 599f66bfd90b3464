"""The throughput benchmark: synthetic data, the CLI, its JSON output and its errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from conftest import REPO
from vidpred import bench
from vidpred.errors import ConfigError

TINY = ["model=convlstm", "model.hidden=4", "model.patch_size=4", "data=mnist", "data.context=3",
        "data.horizon=2"]


def test_moving_squares_bounce_inside_the_frame() -> None:
    videos = bench.moving_squares(6, 30, (3, 16, 12), seed=1)
    assert videos.shape == (6, 30, 3, 16, 12) and videos.dtype == np.float32
    assert videos.min() == 0.0 and 0.5 <= videos.max() <= 1.0
    side = 12 // 4
    lit = (videos.max(axis=2) > 0).sum(axis=(2, 3))
    assert (lit == side * side).all()  # one whole square in every frame: it never leaves
    assert not np.array_equal(videos[:, 0], videos[:, -1])  # and it moves
    np.testing.assert_array_equal(videos, bench.moving_squares(6, 30, (3, 16, 12), seed=1))


def test_bench_cli_reports_every_combination(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "bench.json"
    results = bench.main([*TINY, "--synthetic", "--frame-shape", "1,16,16", "--device", "cpu",
                          "--precision", "32,bf16", "--batch-size", "2,4", "--warmup", "1",
                          "--steps", "4", "--windows", "2", "--out", str(out)])
    assert [(r.batch_size, r.precision) for r in results] == [(2, "32"), (2, "bf16"), (4, "32"), (4, "bf16")]
    for r in results:
        assert 0 < r.slowest <= r.samples_per_second <= r.fastest
        assert r.steps == 4 and r.device == "cpu" and r.peak_memory_mib is None and not r.compile
    stored = json.loads(out.read_text())
    assert stored["item_shape"] == [5, 1, 16, 16] and stored["data"] == "synthetic"
    assert [r["samples_per_second"] for r in stored["results"]] == [r.samples_per_second for r in results]
    printed = capsys.readouterr().out
    assert printed.count("samples/s") == 4 and "model=convlstm" in printed


def test_missing_data_falls_back_to_synthetic(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    results = bench.main([*TINY, f"paths.data_dir={tmp_path}", "--frame-shape", "1,8,8", "--device", "cpu",
                          "--precision", "32", "--warmup", "0", "--steps", "1", "--windows", "1",
                          "--batch-size", "2"])
    assert len(results) == 1
    captured = capsys.readouterr()
    assert "using synthetic data" in captured.err and "data=synthetic" in captured.out


def test_untrainable_model_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="nothing to train"):
        bench.main(["model=last", "data=mnist", "--synthetic", "--frame-shape", "1,8,8",
                    "--device", "cpu", "--precision", "32", "--steps", "1", "--windows", "1"])


def test_cli_error_is_one_line_and_exit_code_2() -> None:
    done = subprocess.run([sys.executable, "-m", "vidpred.bench", "--compile", "maybe", "--synthetic"],
                          capture_output=True, text=True, cwd=REPO, timeout=120)
    assert done.returncode == 2
    assert len(done.stderr.strip().splitlines()) == 1
    assert done.stderr.startswith("error: --compile takes on, off or a mode (default, reduce-overhead")
