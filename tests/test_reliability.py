"""What survives what: one process per run folder, completed runs never replaced by a failed
attempt, resumes only with the settings that shaped the checkpoint, one-line errors instead of
tracebacks, and files that honour the umask. Through the real command line (in-process), with one
separate process where the promise is about two processes."""

from __future__ import annotations

import io
import json
import os
import socket
import zipfile
from pathlib import Path

import pytest

from helpers.config import InterruptAt, experiment_config
from helpers.data_cli import assert_one_line_error, cli
from helpers.run_cli import run_cli
from vidpred import runfolder
from vidpred.experiment import run_experiment

TINY = ["data.train_size=64", "data.val_size=16", "data.test_size=16", "data.batch_size=16",
        "trainer.max_epochs=2", "trainer.progress=off", "model.hidden=8"]
BASELINE = ["model=last", *TINY[:-1]]


def snapshot(run_dir: Path) -> dict[str, bytes]:
    """Every file of a run folder but the log, the lock and the marker: what a failed attempt must not touch."""
    return {str(p.relative_to(run_dir)): p.read_bytes() for p in sorted(run_dir.rglob("*"))
            if p.is_file() and p.name not in ("run.log", runfolder.LOCK, runfolder.MARKER)}


# ---------------------------------------------------------------- one process per run folder
def test_a_busy_run_folder_refuses_a_second_process(tmp_path: Path, capsys) -> None:
    run_dir = tmp_path / "run"
    with runfolder.locked(run_dir):  # this test holds the folder, as a running run would (a lock taken
        # through another open file is refused in the same process as in another one)
        code, _, err = run_cli(capsys, *TINY, "seed=1", f"hydra.run.dir={run_dir}")
    assert_one_line_error(code, err, f"run folder {run_dir} is in use by process {os.getpid()} "
                                     f"on host {socket.gethostname()}")
    assert snapshot(run_dir) == {}  # nothing written by the refused process


def test_a_stale_lock_of_a_dead_process_is_taken_over(tmp_path: Path, capsys) -> None:
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / runfolder.LOCK).write_text(json.dumps({"pid": 999_999_999, "host": "gone", "since": "then"}))
    code, out, err = run_cli(capsys, *TINY, f"hydra.run.dir={run_dir}")
    assert code == 0, err
    assert runfolder.read_holder(run_dir / runfolder.LOCK)["pid"] == os.getpid()
    assert not runfolder.holder_alive(run_dir)  # released at the end


def test_resume_with_other_settings_is_refused_with_the_differences(tmp_path: Path, capsys) -> None:
    run_dir = tmp_path / "run"
    with pytest.raises(KeyboardInterrupt):
        run_experiment(experiment_config(TINY), run_dir, callbacks=[InterruptAt(3)])
    before = snapshot(run_dir)
    code, _, err = run_cli(capsys, *TINY, "seed=1", "optim.lr=0.002", "trainer.max_epochs=3",
                           f"hydra.run.dir={run_dir}")
    assert_one_line_error(code, err, "trained with other settings", "optim.lr: 0.001 -> 0.002", "seed: 0 -> 1")
    assert "max_epochs" not in err  # a run may be made longer
    assert snapshot(run_dir) == before
    code, out, err = run_cli(capsys, *TINY, "trainer.max_epochs=3", f"hydra.run.dir={run_dir}")
    assert code == 0, err
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["train"]["resumed_from_step"] == 3 and metrics["train"]["epochs"] == 3


def test_resume_from_best_pt_says_it_holds_weights_only(tmp_path: Path, capsys) -> None:
    code, _, err = run_cli(capsys, *TINY, f"hydra.run.dir={tmp_path / 'first'}")
    assert code == 0, err
    best = tmp_path / "first" / "checkpoints" / "best.pt"
    code, _, err = run_cli(capsys, *TINY, f"resume={best}", f"hydra.run.dir={tmp_path / 'second'}")
    assert_one_line_error(code, err, "holds weights only", f"resume={best.parent / 'last.pt'}")


# ---------------------------------------------------------------- completed runs stay
def test_a_completed_run_is_never_replaced_by_a_failed_attempt(tmp_path: Path, capsys) -> None:
    run_dir = tmp_path / "run"
    code, out, err = run_cli(capsys, *TINY, f"hydra.run.dir={run_dir}")
    assert code == 0, err
    before = snapshot(run_dir)
    metrics = json.loads(before["metrics.json"])

    code, _, err = run_cli(capsys, *TINY, "optim.lr=-1", f"hydra.run.dir={run_dir}")
    assert_one_line_error(code, err, "holds a completed run with other settings", "optim.lr: 0.001 -> -1")
    assert snapshot(run_dir) == before

    code, out, err = run_cli(capsys, *TINY, f"hydra.run.dir={run_dir}")  # the same command again
    assert code == 0 and out.splitlines()[-1].startswith("complete already: test mse"), (out, err)
    assert "evaluate=true" in out and snapshot(run_dir) == before

    best = run_dir / "checkpoints" / "best.pt"
    good = best.read_bytes()
    best.write_bytes(good[: len(good) // 2])  # a corrupt checkpoint
    code, _, err = run_cli(capsys, *TINY, "evaluate=true", f"hydra.run.dir={run_dir}")
    assert_one_line_error(code, err, "cannot read checkpoint", str(best))
    assert json.loads((run_dir / "metrics.json").read_text()) == metrics
    best.write_bytes(good)
    code, out, err = run_cli(capsys, *TINY, "evaluate=true", f"hydra.run.dir={run_dir}")
    assert code == 0, err
    again = json.loads((run_dir / "metrics.json").read_text())
    assert again["test"] == metrics["test"] and again["val"] == metrics["val"] and "evaluated_at" in again
    assert (run_dir / ".hydra" / "overrides.yaml").read_bytes() == before[".hydra/overrides.yaml"]


def test_evaluate_needs_a_completed_run(tmp_path: Path, capsys) -> None:
    code, _, err = run_cli(capsys, *TINY, "evaluate=true", f"hydra.run.dir={tmp_path / 'run'}")
    assert_one_line_error(code, err, "evaluate=true scores a completed run again")


# ---------------------------------------------------------------- one line, exit 2
@pytest.mark.parametrize("args, message", [
    (["data.batch_size=four"], "data.batch_size must be a whole number, got 'four'"),
    (["data.batch_size=2.5"], "data.batch_size must be a whole number, got 2.5"),
    (["data.num_workers=abc"], "data.num_workers must be a whole number, got 'abc'"),
    (["data=nonexistent"], "unknown option data=nonexistent; choose one of bair, kth, mnist, noise"),
    (["foo=1"], "unknown config key 'foo'; known top-level keys: model, data"),
    (["+foo=1"], "unknown config key(s) foo; known top-level keys"),
    (["optim.momentum=0.9"], "unknown config key 'optim.momentum'; optim has: optim.name, optim.lr"),
    (["model=last", "model.hidden=8"], "unknown config key 'model.hidden'; model has: model.name, model.layers"),
    (["trainer.precision=16", "trainer.device=cpu"], "trainer.precision=16 needs a CUDA GPU"),
])
def test_config_mistakes_are_one_line(tmp_path: Path, capsys, args: list[str], message: str) -> None:
    code, _, err = run_cli(capsys, *TINY, *args, f"hydra.run.dir={tmp_path / 'run'}")
    assert_one_line_error(code, err, message)


@pytest.mark.parametrize("args, message", [
    (["layers=9"], "layers must be between 1 and 8, got 9"),
    (["model.hidden=0"], "model.hidden must be at least 1, got 0"),
    (["model.patch_size=5"], "model.patch_size=5 must divide the frame size 64x64"),
    (["trainer.precision=8"], "unknown trainer.precision 8"),
    (["optim.lr=inf"], "optim.lr must be a finite number, got inf"),
    (["optim.lr=nan"], "optim.lr must be a finite number, got nan"),
    (["loss=adversarial", "loss.lr=-inf"], "loss.lr must be a finite number, got -inf"),
    (["metrics.lpips=true", "data.size=16"], "metrics.lpips=true needs frames of at least 31 x 31"),
])
def test_every_setting_is_checked_before_any_data_is_read(tmp_path: Path, capsys, args: list[str],
                                                          message: str) -> None:
    # no data at all: a mistake found only after reading the data would be reported as missing data
    code, _, err = run_cli(capsys, "model=convlstm", "data=videos", f"paths.data_dir={tmp_path / 'no_data'}", *args,
                           f"hydra.run.dir={tmp_path / 'run'}")
    assert_one_line_error(code, err, message)
    assert not (tmp_path / "no_data").exists()


def test_a_run_folder_that_is_a_file_is_one_line(tmp_path: Path, capsys) -> None:
    target = tmp_path / "taken"
    target.write_text("not a folder")
    code, _, err = run_cli(capsys, *TINY, f"hydra.run.dir={target}")
    assert_one_line_error(code, err, f"{target} exists and is not a folder")
    assert target.read_text() == "not a folder"


@pytest.mark.parametrize("content", ["null", "[1, 2]", "\"text\""])
def test_report_reads_metrics_that_are_not_an_object(tmp_path: Path, capsys, content: str) -> None:
    from vidpred.report.__main__ import main as report

    code, _, err = run_cli(capsys, *BASELINE, f"hydra.run.dir={tmp_path / 'runs' / 'good'}")
    assert code == 0, err
    bad = tmp_path / "runs" / "bad"
    bad.mkdir()
    (bad / "metrics.json").write_text(content)
    report([str(tmp_path / "runs"), "--out", str(tmp_path / "report"), "--no-figures"])
    out = capsys.readouterr().out
    assert "2 runs (1 not completed)" in out
    assert "not a JSON object" in (tmp_path / "report" / "report.md").read_text()


def test_report_into_an_existing_file_is_one_line(tmp_path: Path, capsys) -> None:
    from vidpred.report.__main__ import main as report

    code, _, err = run_cli(capsys, *BASELINE, f"hydra.run.dir={tmp_path / 'runs' / 'a'}")
    assert code == 0, err
    (tmp_path / "taken").write_text("x")
    with pytest.raises(SystemExit) as info:
        report([str(tmp_path / "runs"), "--out", str(tmp_path / "taken")])
    assert_one_line_error(info.value.code, capsys.readouterr().err, "--out", "is a file")


def test_an_archive_with_a_symlink_member_is_refused(tmp_path: Path, capsys) -> None:
    from helpers.data_http import serve
    from vidpred.data.sets.kth import ACTIONS

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        link = zipfile.ZipInfo("walking/link.avi")
        link.external_attr = (0o120777 << 16)  # a symbolic link, as `zip --symlinks` stores it
        zf.writestr(link, "/etc/passwd")
    with serve() as server:
        for action in ACTIONS:
            server.files[f"/{action}.zip"] = buffer.getvalue()
        code, _, err = cli(capsys, "download", "kth", "--data-dir", tmp_path / "data", "--mirror", server.url)
    assert_one_line_error(code, err, "is a symbolic link; refusing to extract")
    assert not list((tmp_path / "data").rglob("link.avi"))


# ---------------------------------------------------------------- links and other people's folders
@pytest.mark.parametrize("name, kind", [(".lock", "file"), ("run.log", "file"), ("history.csv", "file"),
                                        ("checkpoints", "folder"), ("samples", "folder"), (".hydra", "folder")])
def test_a_planted_link_in_a_run_folder_is_refused_and_never_followed(tmp_path: Path, capsys, name: str,
                                                                       kind: str) -> None:
    victim = tmp_path / "victim"
    if kind == "file":
        victim.write_text("precious\n")
    else:
        victim.mkdir()
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / name).symlink_to(victim)
    code, _, err = run_cli(capsys, *BASELINE, f"hydra.run.dir={run_dir}")
    assert_one_line_error(code, err, f"{run_dir / name} is a symbolic link", "never writes through a link")
    if kind == "file":
        assert victim.read_text() == "precious\n"
    else:
        assert list(victim.iterdir()) == []
    assert sorted(p.name for p in run_dir.iterdir()) == [name]  # nothing written beside it


def test_a_link_inside_a_run_folders_checkpoints_or_the_folder_itself_is_refused(tmp_path: Path, capsys) -> None:
    code, _, err = run_cli(capsys, *TINY, f"hydra.run.dir={tmp_path / 'run'}", "trainer.max_epochs=1")
    assert code == 0, err
    victim = tmp_path / "victim.pt"
    victim.write_bytes(b"precious")
    last = tmp_path / "run" / "checkpoints" / "last.pt"
    last.unlink()
    last.symlink_to(victim)
    code, _, err = run_cli(capsys, *TINY, f"hydra.run.dir={tmp_path / 'run'}")  # a longer run: it would train
    assert_one_line_error(code, err, f"{last} is a symbolic link")
    assert victim.read_bytes() == b"precious"
    (tmp_path / "alias").symlink_to(tmp_path / "elsewhere", target_is_directory=True)
    (tmp_path / "elsewhere").mkdir()
    code, _, err = run_cli(capsys, *BASELINE, f"hydra.run.dir={tmp_path / 'alias'}")
    assert_one_line_error(code, err, f"{tmp_path / 'alias'} is a symbolic link")
    assert list((tmp_path / "elsewhere").iterdir()) == []


@pytest.mark.parametrize("files", [{"history.csv": "step,loss\n1,0.5\n"},
                                   {"metrics.json": '{"accuracy": 0.93}'},
                                   {"notes.txt": "my experiment"}])
def test_a_folder_holding_someone_elses_files_is_refused(tmp_path: Path, capsys, files: dict[str, str]) -> None:
    run_dir = tmp_path / "theirs"
    run_dir.mkdir()
    for name, text in files.items():
        (run_dir / name).write_text(text)
    code, _, err = run_cli(capsys, *BASELINE, f"hydra.run.dir={run_dir}")
    assert_one_line_error(code, err, f"{run_dir} holds files vidpred did not write ({next(iter(files))})",
                          "choose another hydra.run.dir")
    assert {p.name: p.read_text() for p in run_dir.iterdir()} == files  # untouched, nothing added


def test_empty_folders_and_run_folders_of_earlier_versions_are_taken(tmp_path: Path, capsys) -> None:
    (tmp_path / "empty").mkdir()
    code, _, err = run_cli(capsys, *BASELINE, f"hydra.run.dir={tmp_path / 'empty'}")
    assert code == 0, err
    assert (tmp_path / "empty" / runfolder.MARKER).is_file()
    # A completed run and a failed attempt written before run folders had a marker: still vidpred's.
    old = tmp_path / "old"
    code, _, err = run_cli(capsys, *BASELINE, f"hydra.run.dir={old}")
    assert code == 0, err
    (old / runfolder.MARKER).unlink()
    code, out, err = run_cli(capsys, *BASELINE, f"hydra.run.dir={old}")
    assert code == 0 and "complete already" in out, err
    failed = tmp_path / "failed"
    code, _, err = run_cli(capsys, *BASELINE, "data.horizon=0", f"hydra.run.dir={failed}")
    assert code == 2, err
    (failed / runfolder.MARKER).unlink()
    (failed / ".hydra").mkdir()  # what earlier versions wrote beside a failed attempt's metrics.json
    code, _, err = run_cli(capsys, *BASELINE, f"hydra.run.dir={failed}")
    assert code == 0, err
    # an earlier attempt that ended before writing anything left only its lock
    lock_only = tmp_path / "lock_only"
    lock_only.mkdir()
    (lock_only / runfolder.LOCK).write_text(json.dumps({"pid": 999_999_999, "host": "gone", "since": "then"}))
    code, _, err = run_cli(capsys, *BASELINE, f"hydra.run.dir={lock_only}")
    assert code == 0, err


def test_a_killed_runs_temporary_files_are_removed_on_the_next_start(tmp_path: Path, capsys) -> None:
    run_dir = tmp_path / "run"
    with pytest.raises(KeyboardInterrupt):
        run_experiment(experiment_config(TINY), run_dir, callbacks=[InterruptAt(3)])
    # what a kill during a write leaves: atomic_path's temporary names (mkstemp: 8 random characters)
    left = [run_dir / ".history.csv.k3_x9ab2.tmp", run_dir / "checkpoints" / ".last.pt.0a1b2c3d.tmp",
            run_dir / ".hydra" / ".config.yaml.zz_zz_zz.tmp"]
    for path in left:
        path.write_bytes(b"half")
    code, _, err = run_cli(capsys, *TINY, f"hydra.run.dir={run_dir}")
    assert code == 0, err
    assert not any(path.exists() for path in left)
    assert not [p for p in run_dir.rglob("*.tmp") if "wandb" not in p.parts]


def test_a_refused_resume_writes_no_settings_into_the_new_folder(tmp_path: Path, capsys) -> None:
    run_dir = tmp_path / "new"
    code, _, err = run_cli(capsys, *TINY, f"resume={tmp_path / 'nowhere'}", f"hydra.run.dir={run_dir}")
    assert_one_line_error(code, err, f"resume={tmp_path / 'nowhere'}: no checkpoint there")
    assert not (run_dir / ".hydra").exists()
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["status"] == "failed" and metrics["overrides"][0].startswith("data.train_size=")


# ---------------------------------------------------------------- full disks, read-only folders
def test_a_full_disk_is_one_line_and_the_earlier_files_stay(tmp_path: Path, capsys) -> None:
    from helpers.small_fs import on_small_fs, python, require_namespace

    require_namespace()
    wide = [o for o in TINY if not o.startswith("model.hidden")] + ["model.hidden=64"]  # last.pt: about 0.4 MB
    earlier = tmp_path / "earlier"
    with pytest.raises(KeyboardInterrupt):
        run_experiment(experiment_config(wide), earlier, callbacks=[InterruptAt(3)])
    before = snapshot(earlier)
    used = sum(p.stat().st_size for p in earlier.rglob("*") if p.is_file())
    mount = tmp_path / "disk"
    # room for what is there and a little more: the next checkpoint does not fit
    done = on_small_fs(mount, used // 1024 + 48, python("vidpred.run", *wide, f"hydra.run.dir={mount / 'run'}"),
                       setup=f"cp -a {earlier} {mount / 'run'}")
    assert_one_line_error(done.code, done.err, f"cannot write {mount / 'run'}/", "No space left on device",
                          "free space on that disk")
    after = done.after / "run"
    metrics = json.loads((after / "metrics.json").read_text())
    assert metrics["status"] == "failed" and metrics["error"].startswith("cannot write") and \
        "No space left on device" in metrics["error"]
    kept = snapshot(after)
    assert "checkpoints/last.pt" in before and "history.csv" in before
    assert all(kept[name] == content for name, content in before.items() if name != "metrics.json")
    assert not list(after.rglob("*.tmp"))


def test_a_read_only_run_folder_is_one_line(tmp_path: Path, capsys) -> None:
    from helpers.small_fs import on_small_fs, python

    mount = tmp_path / "disk"
    done = on_small_fs(mount, 64, python("vidpred.run", *BASELINE, f"hydra.run.dir={mount / 'run'}"),
                       setup=f"mkdir {mount / 'run'}", read_only=True)
    assert_one_line_error(done.code, done.err, f"cannot write {mount / 'run' / runfolder.LOCK}: Read-only file system",
                          "choose a folder you can write to")
    done = on_small_fs(tmp_path / "disk2", 64, python("vidpred.run", *BASELINE, f"hydra.run.dir={tmp_path / 'disk2' / 'new'}"),
                       read_only=True)
    assert_one_line_error(done.code, done.err, f"cannot write {tmp_path / 'disk2' / 'new'}: Read-only file system")


def test_predict_into_a_read_only_folder_and_report_onto_a_full_disk_are_one_line(tmp_path: Path, capsys) -> None:
    import numpy as np
    from helpers.small_fs import on_small_fs, python

    run_dir = tmp_path / "runs" / "last"
    code, _, err = run_cli(capsys, *BASELINE, f"hydra.run.dir={run_dir}")
    assert code == 0, err
    item = tmp_path / "item.npy"
    np.save(item, np.linspace(0, 1, 40, dtype=np.float32)[:, None])
    mount = tmp_path / "ro"
    done = on_small_fs(mount, 64, python("vidpred.predict", run_dir, "--input", item, "--out", mount / "predictions"),
                       read_only=True)
    assert_one_line_error(done.code, done.err, f"cannot write {mount / 'predictions'}", "Read-only file system")
    mount = tmp_path / "full"
    done = on_small_fs(mount, 16, python("vidpred.report", tmp_path / "runs", "--out", mount / "report"),
                       setup=f"head -c 16384 /dev/zero > {mount / 'filler'} || true")
    assert_one_line_error(done.code, done.err, f"cannot write {mount / 'report'}", "No space left on device")


# ---------------------------------------------------------------- permissions
def test_files_honour_the_umask(tmp_path: Path, capsys) -> None:
    from helpers.data_fabricate import fabricate_bair_raw

    previous = os.umask(0o002)  # a group-shared project folder
    try:
        code, _, err = run_cli(capsys, *TINY, f"hydra.run.dir={tmp_path / 'run'}")
        assert code == 0, err
        raw = fabricate_bair_raw(tmp_path / "raw", train=(2,), test=(1,))
        code, _, err = cli(capsys, "prepare", "bair", "--src", raw, "--data-dir", tmp_path / "data")
        assert code == 0, err
    finally:
        os.umask(previous)
    run = tmp_path / "run"
    for name in ("metrics.json", "history.csv", "checkpoints/last.pt", "checkpoints/best.pt",
                 "samples/predictions.png", ".hydra/config.yaml", "run.log"):
        assert oct((run / name).stat().st_mode & 0o777) == oct(0o664), name
    assert oct((tmp_path / "data" / "bair").stat().st_mode & 0o777) == oct(0o775)
    for name in ("train.npy", "manifest.json"):
        assert oct((tmp_path / "data" / "bair" / name).stat().st_mode & 0o777) == oct(0o664), name
