"""The report on run folders fabricated in the exact on-disk format of real runs (metrics.json,
history.csv, .hydra/, samples/): known numbers in, the same numbers out."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.image as mpimg  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
import yaml  # noqa: E402

from vidpred import runfolder  # noqa: E402
from vidpred.report import build_report, collect, tidy_frame  # noqa: E402
from vidpred.report.collect import ReportError  # noqa: E402
from vidpred.report.study import TABLE1  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def make_run(folder: Path, model: str, data: str, layers: int, seed: int, mse: float | None,
             status: str = "completed", error: str | None = None, overrides: list[str] | None = None,
             hydra: bool = True, metrics: bool = True, horizon: int = 4) -> Path:
    """A run folder as run.py and Hydra leave it."""
    folder.mkdir(parents=True)
    (folder / runfolder.MARKER).write_text("{}")
    if hydra:
        (folder / ".hydra").mkdir()
        config = {"model": {"name": model, "layers": "${layers}"}, "data": {"name": data},
                  "trainer": {"name": "default", "precision": 32}, "layers": layers, "seed": seed}
        (folder / ".hydra" / "config.yaml").write_text(yaml.safe_dump(config))
        (folder / ".hydra" / "overrides.yaml").write_text(yaml.safe_dump(
            [f"model={model}", f"data={data}", f"layers={layers}", f"seed={seed}", *(overrides or [])]))
    if not metrics:
        return folder
    content: dict = {"status": status, "error": error,
                     "choices": {"model": model, "data": data, "layers": layers, "seed": seed,
                                 "trainer": "default", "precision": "32"},
                     "started_at": "2026-11-26T00:00:00+00:00"}
    if mse is not None:
        content.update(
            params=1234, device="cpu", precision="32",
            train={"epochs": 2, "steps": 6, "seconds": 1.5, "final_loss": 2 * mse},
            val={"mse": 1.1 * mse, "mae": 0.5},
            test={"mse": mse, "mae": 0.3, "mse_per_step": [mse * (i + 1) / horizon * 2 for i in range(horizon)],
                  "mae_per_step": [0.3] * horizon, "sequences": 16})
        steps = np.arange(1, 7)
        history = pd.DataFrame({"step": steps, "epoch": steps / 3, "train_loss": mse * (8 - steps),
                                "val_mse": [np.nan, np.nan, 3 * mse, np.nan, np.nan, 2 * mse],
                                "lr": 1e-3, "time": steps * 0.25})
        history.to_csv(folder / "history.csv", index=False)
        (folder / "samples").mkdir()  # the arrays a run's sample figures are drawn from
        wave = np.sin(np.linspace(0, 3, 6 + horizon))[None, :, None] * np.array([1.0, 0.5])[:, None, None]
        np.savez(folder / "samples" / "predictions.npz", context=wave[:, :6], truth=wave[:, 6:],
                 prediction=wave[:, 6:] + mse, indices=np.array([0, 7]), columns=np.array([], dtype=str))
    (folder / "metrics.json").write_text(json.dumps(content))
    return folder


LSTM_SINS_L1 = (4.0e-4, 6.0e-4, 5.0e-4)   # three seeds
LSTM_NOISE_L2 = 0.07


@pytest.fixture
def runs_root(tmp_path: Path) -> Path:
    """Two sweeps and a single run: completed, failed, diverged, killed and never-started runs."""
    sweep = tmp_path / "multirun" / "2026-11-26" / "00-00-00_a"
    sweep.mkdir(parents=True)
    (sweep / "multirun.yaml").write_text("hydra: {}\n")
    job = iter(range(100))
    for seed, mse in enumerate(LSTM_SINS_L1):
        make_run(sweep / f"{next(job)}_lstm_sins_l1_s{seed}", "lstm", "sins", 1, seed, mse)
    make_run(sweep / f"{next(job)}_lstm_noise_l2_s0", "lstm", "noise", 2, 0, LSTM_NOISE_L2)
    for layers in (1, 2, 3):  # a baseline swept over layers: one experiment, three folders
        make_run(sweep / f"{next(job)}_last_sins_l{layers}_s0", "last", "sins", layers, 0, 0.2)
    make_run(sweep / f"{next(job)}_lstm_sins_l3_s0", "lstm", "sins", 3, 0, None, status="failed",
             error="optim.lr must be positive, got -1.0")
    make_run(sweep / f"{next(job)}_lstm_noise_l3_s0", "lstm", "noise", 3, 0, None, status="diverged",
             error="training loss became nan at step 3")
    make_run(sweep / f"{next(job)}_lstm_noise_l1_s0", "lstm", "noise", 1, 0, None, status="running")
    make_run(sweep / f"{next(job)}_mean_noise_l1_s0", "mean", "noise", 1, 0, None, metrics=False)
    other = tmp_path / "multirun" / "lr_sweep"
    for lr, mse in (("0.01", 0.3), ("0.001", 0.1)):
        make_run(other / f"lr{lr}", "lstm", "sins", 1, 0, mse, overrides=[f"optim.lr={lr}"])
    make_run(tmp_path / "runs" / "single", "linear", "sins", 1, 0, 1e-5, hydra=False)
    return tmp_path


def test_collect_reads_every_folder_with_its_status(runs_root: Path) -> None:
    runs = collect([runs_root / "multirun", runs_root / "runs"])
    assert len(runs) == 14
    status = {run.path.name: (run.status, run.reason) for run in runs}
    assert status["7_lstm_sins_l3_s0"] == ("failed", "optim.lr must be positive, got -1.0")
    assert status["8_lstm_noise_l3_s0"][0] == "diverged"
    killed = status["9_lstm_noise_l1_s0"]  # status running, and no process holds the folder
    assert killed[0] == "unfinished" and killed[1].startswith("interrupted (process gone")
    assert f"resume with: python -m vidpred.run hydra.run.dir={runs_root}" in killed[1]
    assert status["10_mean_noise_l1_s0"][0] == "unfinished" and "no metrics.json" in status["10_mean_noise_l1_s0"][1]
    never_started = next(r for r in runs if r.path.name == "10_mean_noise_l1_s0")
    assert never_started.choices["model"] == "mean" and never_started.choices["layers"] == 1
    assert sum(run.completed for run in runs) == 10
    with runfolder.locked(never_started.path.parent / "9_lstm_noise_l1_s0"):  # now a live process holds it
        live = next(r for r in collect([runs_root / "multirun"]) if r.path.name == "9_lstm_noise_l1_s0")
    assert live.status == "unfinished" and live.reason.startswith(f"running (process {os.getpid()} on")
    # a folder given twice, or inside another given folder, is read once
    assert len(collect([runs_root, runs_root / "multirun"])) == 14


def test_tidy_table_has_one_row_per_run_with_choices_overrides_and_metrics(runs_root: Path) -> None:
    frame = tidy_frame(collect([runs_root]))
    assert len(frame) == 14
    row = frame[frame["run_dir"].str.endswith("lr0.01")].iloc[0]
    assert row["optim.lr"] == "0.01" and row["test_mse"] == 0.3 and row["sweep"] == ""
    sins = frame[(frame["model"] == "lstm") & (frame["data"] == "sins") & (frame["layers"] == 1)
                 & frame["run_dir"].str.contains("00-00-00_a")]
    assert sorted(sins["test_mse"]) == sorted(LSTM_SINS_L1)
    assert set(sins["sweep"]) == {"00-00-00_a"}
    assert "test_mse_per_step" not in frame.columns  # curves are not scalar columns


def test_report_table1_matches_the_runs_and_the_study(runs_root: Path, tmp_path: Path) -> None:
    out = tmp_path / "report"
    report = build_report([runs_root / "multirun" / "2026-11-26"], out)
    table = pd.read_csv(out / "table1.csv")
    cell = table[(table["model"] == "lstm") & (table["layers"] == 1) & (table["data"] == "sins")].iloc[0]
    assert cell["n"] == 3
    assert cell["mean"] == pytest.approx(np.mean(LSTM_SINS_L1), rel=1e-12)
    assert cell["std"] == pytest.approx(np.std(LSTM_SINS_L1, ddof=1), rel=1e-12)
    assert cell["study"] == TABLE1.study_value("sins", 1)
    assert cell["ratio"] == pytest.approx(np.mean(LSTM_SINS_L1) / TABLE1.study_value("sins", 1))
    noise = table[(table["model"] == "lstm") & (table["layers"] == 2) & (table["data"] == "noise")].iloc[0]
    assert noise["n"] == 1 and noise["mean"] == LSTM_NOISE_L2 and np.isnan(noise["std"])
    failed = table[(table["model"] == "lstm") & (table["layers"] == 3) & (table["data"] == "sins")].iloc[0]
    assert failed["n"] == 0 and failed["not_completed"] == 1
    # the baseline ran at three layer counts: one row, counted once
    last = table[(table["model"] == "last") & (table["data"] == "sins")]
    assert len(last) == 1 and last.iloc[0]["n"] == 1 and last.iloc[0]["mean"] == 0.2
    assert "table2" not in report.tables  # no video runs, no Table 2

    md = (out / "report.md").read_text()
    row = next(line for line in md.splitlines() if line.startswith("| LSTM, 1 layer |"))
    assert "| 5.000e-04 ± 1.0e-04 (n=3) | 4.950e-04 | 1.01 |" in row  # sins: ours | study | ratio
    assert "| — +1 not completed | 5.964e-02 | — |" in row  # noise: the killed run, not averaged
    for name, reason in (("7_lstm_sins_l3_s0", "optim.lr must be positive"),
                         ("8_lstm_noise_l3_s0", "training loss became nan"),
                         ("9_lstm_noise_l1_s0", "interrupted (process gone"), ("10_mean_noise_l1_s0", "no metrics.json")):
        line = next(line for line in md.splitlines() if name in line)
        assert reason in line
    tex = (out / "table1.tex").read_text()
    assert r"\begin{tabular}" in tex and r"5.000e-04 $\pm$ 1.0e-04 (n=3)" in tex
    assert (out / "table1.md").read_text().count("\n|") == 2 + 3 + 2  # header, 3 LSTM rows, last, mean (never started)


def test_report_figures_are_png_images_linked_from_the_report(runs_root: Path, tmp_path: Path) -> None:
    out = tmp_path / "report"
    report = build_report([runs_root / "multirun"], out)
    names = {path.name for path in report.figures}
    assert {"loss_sins.png", "loss_noise.png", "per_step_sins.png", "per_step_noise.png",
            "samples_sins_lstm.png", "samples_sins_last.png"} <= names
    md = (out / "report.md").read_text()
    for path in report.figures:
        assert path.read_bytes()[:8] == PNG_MAGIC
        image = mpimg.imread(path)
        assert image.ndim == 3 and image.shape[0] > 100 and image.shape[1] > 100
        assert image[..., :3].std() > 0  # something is drawn
        assert f"(figures/{path.name})" in md


def test_pivot_on_an_override(runs_root: Path, tmp_path: Path) -> None:
    out = tmp_path / "report"
    build_report([runs_root / "multirun" / "lr_sweep"], out, rows=["optim.lr"], cols=["data"],
                 metric="test_mse", with_figures=False)
    pivot = pd.read_csv(out / "pivot.csv")
    assert dict(zip(pivot["optim.lr"].astype(str), pivot["mean"])) == {"0.001": 0.1, "0.01": 0.3}
    assert "| 0.001 | 1.000e-01 (n=1) |" in (out / "pivot.md").read_text()


def test_runs_differing_in_settings_get_rows_of_their_own(runs_root: Path, tmp_path: Path) -> None:
    out = tmp_path / "report"
    build_report([runs_root / "multirun"], out, with_figures=False)
    rows = {line.split(" | ")[0].lstrip("| "): line for line in (out / "table1.md").read_text().splitlines()
            if line.startswith("| LSTM, 1 layer")}
    # the three seeds of the first sweep pool, beside the study; each learning rate of the second sweep
    # (recorded as overrides only) is a row of its own, without a ratio
    assert "| 5.000e-04 ± 1.0e-04 (n=3) | 4.950e-04 | 1.01 |" in rows["LSTM, 1 layer"]
    assert "| 3.000e-01 (n=1) | 4.950e-04 | other settings |" in rows["LSTM, 1 layer [optim.lr=0.01]"]
    assert "| 1.000e-01 (n=1) | 4.950e-04 | other settings |" in rows["LSTM, 1 layer [optim.lr=0.001]"]


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "vidpred.report", *args], capture_output=True, text=True,
                          cwd=REPO, timeout=120)


def test_cli_writes_the_report_and_reports_user_errors_in_one_line(runs_root: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "cli_report"
    done = _cli(str(runs_root / "multirun"), str(runs_root / "runs"), "--out", str(out), "--no-figures")
    assert done.returncode == 0, done.stderr  # one separate process: the module entry point
    assert "14 runs (4 not completed)" in done.stdout
    assert {"report.md", "runs.csv", "table1.md", "table1.csv", "table1.tex", "pivot.md"} <= {
        p.name for p in out.iterdir()}

    def report(*argv: str) -> tuple[int, str]:
        from vidpred.report.__main__ import main

        with pytest.raises(SystemExit) as info:
            main(list(argv))
        return int(info.value.code), capsys.readouterr().err

    code, err = report(str(tmp_path / "nope"), "--out", str(out))
    assert code == 2 and err.startswith("error: ") and "Traceback" not in err
    empty = tmp_path / "empty"
    empty.mkdir()
    code, err = report(str(empty), "--out", str(out))
    assert code == 2 and "no run folders" in err
    code, err = report(str(runs_root / "multirun"), "--out", str(out), "--rows", "colour", "--no-figures")
    assert code == 2 and "unknown column(s) colour" in err


def test_nothing_to_report_is_a_user_error(tmp_path: Path) -> None:
    with pytest.raises(ReportError):
        collect([tmp_path])


def test_baselines_repeated_over_layers_count_once_in_the_figures(runs_root: Path) -> None:
    from vidpred.report.collect import dedupe_baselines

    runs = collect([runs_root / "multirun" / "2026-11-26"])
    kept = dedupe_baselines(runs)
    assert [r.choices["layers"] for r in kept if r.choices["model"] == "last"] == [1]
    lstm = [r for r in runs if r.choices["model"] == "lstm"]
    assert sorted(map(str, (r.path for r in kept if r.choices["model"] == "lstm"))) == sorted(
        map(str, (r.path for r in lstm)))  # models with layers are never merged


def test_video_runs_fill_table2_beside_the_study(tmp_path: Path) -> None:
    from vidpred.report.study import TABLE2

    make_run(tmp_path / "runs" / "a", "convlstm", "mnist", 2, 0, 0.0125, horizon=10)
    make_run(tmp_path / "runs" / "b", "mean", "mnist", 1, 0, 0.05, horizon=10)
    report = build_report([tmp_path / "runs"], tmp_path / "report", with_figures=False)
    assert set(report.tables) == {"table2", "pivot"}
    table = pd.read_csv(tmp_path / "report" / "table2.csv")
    cell = table[(table["model"] == "convlstm") & (table["layers"] == 2) & (table["data"] == "mnist")].iloc[0]
    assert cell["mean"] == 0.0125 and cell["study"] == TABLE2.study_value("mnist", 2) == 1.278e-2
    assert cell["ratio"] == pytest.approx(0.0125 / 1.278e-2)
    assert "OpenSTL" in report.markdown.read_text()


def test_pivot_on_an_override_fills_runs_that_kept_the_default(runs_root: Path, tmp_path: Path) -> None:
    sweep = runs_root / "multirun" / "lr_sweep"
    default = make_run(sweep / "default_lr", "lstm", "sins", 1, 0, 0.2)  # no optim.lr override
    config = yaml.safe_load((default / ".hydra" / "config.yaml").read_text())
    config["optim"] = {"name": "adam", "lr": 0.001}
    (default / ".hydra" / "config.yaml").write_text(yaml.safe_dump(config))
    out = tmp_path / "report"
    build_report([sweep], out, rows=["optim.lr"], cols=["data"], metric="test_mse", with_figures=False)
    pivot = pd.read_csv(out / "pivot.csv")
    by_lr = {float(lr): (mean, n) for lr, mean, n in zip(pivot["optim.lr"], pivot["mean"], pivot["n"])}
    assert by_lr[0.001][1] == 2 and by_lr[0.001][0] == pytest.approx((0.1 + 0.2) / 2)
    assert by_lr[0.01] == (0.3, 1)


def test_pivot_without_layers_counts_a_baseline_once(runs_root: Path, tmp_path: Path) -> None:
    out = tmp_path / "report"
    build_report([runs_root / "multirun" / "2026-11-26"], out, rows=["model"], cols=["data"],
                 metric="test_mse", with_figures=False)
    pivot = pd.read_csv(out / "pivot.csv")
    last = pivot[(pivot["model"] == "last") & (pivot["data"] == "sins")]
    assert list(last["n"]) == [1] and list(last["mean"]) == [0.2]


def test_huge_and_non_finite_values_are_shown_as_such_and_left_out_of_figures(tmp_path: Path, capsys,
                                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """A diverging run can write 1e308; JSON writers write Infinity and NaN, vidpred writes null for a
    value that is not finite. Tables show each as what it is, completed runs count as completed
    everywhere, figures leave the curves out and say so, and report.md is written."""
    from vidpred.report import figures
    from vidpred.report.__main__ import main

    root = tmp_path / "runs"
    make_run(root / "finite", "lstm", "sins", 1, 0, 4e-4)
    for name, value in (("huge", 1e308), ("inf", float("inf")), ("nan", float("nan")), ("null", None)):
        folder = make_run(root / name, "lstm", "sins", 2 if name != "huge" else 1, 1, 1.0)
        metrics = json.loads((folder / "metrics.json").read_text())
        metrics["test"]["mse"] = value
        metrics["test"]["mse_per_step"][-1] = value
        (folder / "metrics.json").write_text(json.dumps(metrics))  # Python writes Infinity and NaN
    make_run(root / "huge2", "lstm", "sins", 1, 2, 1.0)
    metrics = json.loads((root / "huge2" / "metrics.json").read_text())
    metrics["test"]["mse"] = 1e308  # two of them: their mean must not overflow
    (root / "huge2" / "metrics.json").write_text(json.dumps(metrics))
    drawn = {}

    def keep(fig, path: Path) -> Path:  # noqa: ANN001
        drawn[path.name] = fig
        return path
    monkeypatch.setattr(figures, "save_figure", keep)
    main([str(root), "--out", str(tmp_path / "report")])
    assert "6 runs (0 not completed)" in capsys.readouterr().out
    md = (tmp_path / "report" / "report.md").read_text()
    row = {n: next(line for line in md.splitlines() if line.startswith(f"| LSTM, {n} layer")) for n in (1, 2)}
    assert "| 6.667e+307 ± 5.8e+307 (n=3) | 4.950e-04 | inf |" in row[1]  # 4e-4, 1e308, 1e308
    assert "| inf, nan (n=3) | 6.298e-04 | — |" in row[2]  # inf; NaN and null read as nan
    assert "None: every run completed." in md
    table = pd.read_csv(tmp_path / "report" / "table1.csv")
    two = table[(table["layers"] == 2) & (table["data"] == "sins")].iloc[0]
    assert two["n"] == 0 and two["not_finite"] == 3 and two["not_completed"] == 0
    # the per-step figure: only the curves that can be drawn, and a note naming the others
    ax = drawn["per_step_sins.png"].axes[0]
    assert ax.get_yscale() == "log" and ax.get_xlabel() == "predicted step"
    curves = {line.get_label(): line.get_ydata() for line in ax.get_lines()}
    assert list(curves) == ["lstm l1 (n=2)"]  # the finite run and huge2, whose curve is finite
    assert np.all(np.isfinite(curves["lstm l1 (n=2)"]))
    below = drawn["per_step_sins.png"].texts[0].get_text()
    for name, shown in (("huge", "1e+308"), ("inf", "inf"), ("nan", "nan"), ("null", "nan")):
        assert f"({name}) left out: its test mse_per_step holds {shown}" in below
        assert f"per_step_sins.png: lstm l{1 if name == 'huge' else 2} ({name}) left out" in md


def test_a_curve_matplotlib_cannot_draw_still_leaves_report_md(tmp_path: Path, capsys,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    from vidpred.report import figures
    from vidpred.report.__main__ import main

    folder = make_run(tmp_path / "runs" / "a", "lstm", "sins", 1, 0, 1e-3)
    metrics = json.loads((folder / "metrics.json").read_text())
    metrics["test"]["mse_per_step"] = [1e307] * 4  # a constant 1e307 breaks matplotlib's log axis
    (folder / "metrics.json").write_text(json.dumps(metrics))
    monkeypatch.setattr(figures, "PLOTTABLE", float("inf"))  # as if the bound let it through
    main([str(tmp_path / "runs"), "--out", str(tmp_path / "report")])
    md = (tmp_path / "report" / "report.md").read_text()
    assert "- note: per step curves: not drawn (OverflowError" in md
    assert "1.000e-03 (n=1)" in md and "(figures/loss_sins.png)" in md
