"""The run folder's guarantees: one process at a time, a completed run never overwritten, nobody
else's files touched, and the settings a run's result depends on written down so a later attempt can
be checked against them.

- :func:`locked` first checks the folder (:func:`check_folder`): a run starts only in a missing or
  empty folder or one vidpred marked as a run folder (:data:`MARKER`, written when a folder is first
  taken), and never where a name it writes is a symbolic link. It then holds an exclusive ``flock``
  on ``<run>/.lock`` for the life of the run and writes the holder (pid, host, start) into it. The
  kernel drops the lock when the process dies however it dies, so a stale lock is taken over by the
  next run; :func:`holder_alive` tells a live run from a dead one. The temporary files a killed run
  left behind are removed then.
- :func:`shaping_settings` flattens the config to the keys that change what a run computes; a resume
  or a rerun of a completed folder compares them with :func:`differences`.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import logging
import os
import re
import socket
import time
from collections.abc import Iterator, Mapping
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from vidpred import __version__
from vidpred.errors import UserError
from vidpred.io import write_json, writing

# Every name inside a run folder, written here once.
LOCK = ".lock"                  # who runs here (an flock held for the run's life)
METRICS = "metrics.json"        # status, choices, settings, scores
MARKER = ".vidpred-run"         # this folder is a vidpred run folder
LOG = "run.log"
HISTORY = "history.csv"         # training loss and validation per logged step
HYDRA = ".hydra"                # config.yaml, overrides.yaml, hydra.yaml
CHECKPOINTS = "checkpoints"     # last.pt, best.pt
SAMPLES = "samples"             # prediction figures and their arrays
WANDB = "wandb"                 # the wandb logger's own files
#: Folders inside a run folder that vidpred writes into (wandb/ is the logger's, links inside it its own).
FOLDERS = (HYDRA, CHECKPOINTS, SAMPLES, WANDB)
#: Every name vidpred writes in a run folder.
OWN = (MARKER, LOCK, LOG, METRICS, HISTORY, *FOLDERS)
#: The temporary files of vidpred.io.atomic_path: ``.<final name>.<8 random characters>.tmp``.
TEMPORARY = re.compile(r"\.(.+)\.[a-z0-9_]{8}\.tmp")
LOG_FORMAT = "[%(asctime)s][%(name)s][%(levelname)s] - %(message)s"  # Hydra's console format

#: Keys that change how long or how visibly a run goes, or where its files are, but not what a step
#: computes: a resume or a rerun may change them. Everything else must match the checkpoint's.
NOT_SHAPING = ("trainer.max_epochs", "trainer.max_steps", "trainer.progress", "trainer.log_every_n_steps",
               "trainer.checkpoint_every_n_steps", "trainer.limit_test_batches", "trainer.compile",
               "trainer.channels_last", "trainer.device", "trainer.name", "data.num_workers", "logger",
               "paths", "resume", "evaluate", "metrics")


def metrics_path(run_dir: Path) -> Path:
    return Path(run_dir) / METRICS


def history_path(run_dir: Path) -> Path:
    return Path(run_dir) / HISTORY


def checkpoints_dir(run_dir: Path) -> Path:
    return Path(run_dir) / CHECKPOINTS


def checkpoint_path(run_dir: Path, name: str) -> Path:
    """``<run>/checkpoints/<name>`` (``last.pt``, ``best.pt``)."""
    return checkpoints_dir(run_dir) / name


def samples_dir(run_dir: Path) -> Path:
    return Path(run_dir) / SAMPLES


def hydra_path(run_dir: Path, name: str = "config.yaml") -> Path:
    """``<run>/.hydra/<name>``: the run's config (``config.yaml``), ``overrides.yaml``, ``hydra.yaml``."""
    return Path(run_dir) / HYDRA / name


class RunFolderBusy(UserError):
    """Another live process holds the run folder."""


def holder() -> dict[str, Any]:
    """Who runs here: written into the lock file and into ``metrics.json`` while running."""
    return {"pid": os.getpid(), "host": socket.gethostname(),
            "since": datetime.now(timezone.utc).isoformat(timespec="seconds")}


class ForeignFolder(UserError):
    """A run folder that holds files vidpred did not write, or a symbolic link where it writes."""


def _no_link(path: Path, run_dir: Path) -> None:
    if path.is_symlink():
        raise ForeignFolder(f"{path} is a symbolic link (to {os.readlink(path)}); vidpred never writes through a "
                            f"link in a run folder: remove it, or choose another run folder than {run_dir} "
                            "(hydra.run.dir=...)")


def _vidpred_metrics(path: Path) -> bool:
    """Whether ``path`` is a metrics.json written by vidpred (before run folders had a marker)."""
    try:
        found = json.loads(path.read_text())
    except (OSError, ValueError):
        return False
    return isinstance(found, dict) and "status" in found and "vidpred" in (found.get("versions") or {})


def _is_own_legacy(run_dir: Path, names: set[str]) -> bool:
    """A run folder from before the marker: a vidpred metrics.json beside .hydra/, or only the lock
    (and log) of an attempt that ended before writing anything."""
    if METRICS in names and (run_dir / HYDRA).is_dir():
        return _vidpred_metrics(run_dir / METRICS)
    return LOCK in names and names <= {LOCK, LOG} and bool(read_holder(run_dir / LOCK).get("pid"))


def check_folder(run_dir: Path) -> None:
    """Refuse, in one line, a run folder that vidpred must not write into: a symbolic link, one whose
    names vidpred writes are links, or one holding files it did not write (a missing or empty folder,
    or one it marked as its own, is fine)."""
    _no_link(run_dir, run_dir)
    if not run_dir.exists():
        return
    if not run_dir.is_dir():
        raise NotADirectoryError(errno.ENOTDIR, os.strerror(errno.ENOTDIR), str(run_dir))
    names = set(os.listdir(run_dir))
    for name in sorted(names & set(OWN)):
        _no_link(run_dir / name, run_dir)
    for folder in FOLDERS[:-1]:  # wandb keeps links of its own inside wandb/
        if (run_dir / folder).is_dir():
            for entry in sorted(os.scandir(run_dir / folder), key=lambda e: e.name):
                _no_link(Path(entry.path), run_dir)
    if not names or MARKER in names or _is_own_legacy(run_dir, names):
        return
    theirs = sorted(names, key=lambda n: (n not in OWN, n))  # one vidpred would overwrite, if any
    raise ForeignFolder(f"{run_dir} holds files vidpred did not write ({theirs[0]}"
                        f"{f' and {len(theirs) - 1} more' if len(theirs) > 1 else ''}); a run starts only in a "
                        "missing or empty folder or one of its own runs: choose another hydra.run.dir")


def _open_new(path: Path, flags: int) -> int:
    """``os.open`` that never follows a symbolic link at ``path``; failures name the file."""
    try:
        return os.open(path, flags | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0), 0o666)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise ForeignFolder(f"{path} is a symbolic link; vidpred never writes through a link in a run folder: "
                                "remove it, or choose another hydra.run.dir") from None
        raise


def clean_temporaries(run_dir: Path) -> list[str]:
    """Remove the temporary files a killed run left (only with the folder's lock held)."""
    removed = []
    for folder in (run_dir, *(run_dir / f for f in FOLDERS[:-1])):
        if not folder.is_dir() or folder.is_symlink():
            continue
        for entry in os.scandir(folder):
            if TEMPORARY.fullmatch(entry.name) and entry.is_file(follow_symlinks=False):
                os.unlink(entry.path)
                removed.append(str(Path(entry.path).relative_to(run_dir)))
    return sorted(removed)


@contextlib.contextmanager
def locked(run_dir: Path, tries: int = 3) -> Iterator[None]:
    """Check ``run_dir`` (:func:`check_folder`), then hold ``<run_dir>/.lock`` exclusively: another
    live holder is a :class:`RunFolderBusy` error. A folder taken for the first time gets the marker."""
    check_folder(run_dir)
    path = run_dir / LOCK
    with writing(path):
        run_dir.mkdir(parents=True, exist_ok=True)
        fd = _open_new(path, os.O_RDWR | os.O_CREAT)
    try:
        for attempt in range(tries):
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except OSError as exc:
                if exc.errno not in (errno.EAGAIN, errno.EACCES):
                    raise
                if attempt + 1 == tries:  # a report probing liveness holds it for microseconds only
                    raise RunFolderBusy(f"run folder {run_dir} is in use by {describe(read_holder(path))}; "
                                        "wait for that run to end, or give this one another hydra.run.dir") from None
                time.sleep(0.2)
        os.ftruncate(fd, 0)
        os.pwrite(fd, (json.dumps(holder()) + "\n").encode(), 0)
        if not (run_dir / MARKER).is_file():
            write_json(run_dir / MARKER, {"vidpred": __version__, "since": holder()["since"]})
        clean_temporaries(run_dir)
        yield
    finally:
        os.close(fd)  # closing releases the lock


@contextlib.contextmanager
def log_file(run_dir: Path) -> Iterator[None]:
    """Append the log to ``<run_dir>/run.log`` (opened without following a link) inside the block."""
    with writing(run_dir / LOG):
        fd = _open_new(run_dir / LOG, os.O_WRONLY | os.O_CREAT | os.O_APPEND)
    handler = logging.StreamHandler(os.fdopen(fd, "a", encoding="utf-8"))
    handler.setFormatter(logging.Formatter(LOG_FORMAT))
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        yield
    finally:
        root.removeHandler(handler)
        handler.stream.close()


def read_holder(lock_path: Path) -> dict[str, Any]:
    try:
        return json.loads(lock_path.read_text() or "{}")
    except (OSError, json.JSONDecodeError):
        return {}


def describe(who: Mapping[str, Any]) -> str:
    if not who:
        return "another process"
    return f"process {who.get('pid')} on host {who.get('host')} (since {who.get('since')})"


def holder_alive(run_dir: Path) -> bool:
    """Whether a process holds the run folder now (probes the lock without waiting)."""
    path = run_dir / LOCK
    if not path.is_file() or path.is_symlink():
        return False
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        return False  # nobody holds it: whoever ran here is gone
    except OSError:
        return True
    finally:
        os.close(fd)


#: A search's summary beside its trials (python -m vidpred.search writes it, the report reads it).
SEARCH_SUMMARY = "search.json"
SWEEP_MARKERS = ("multirun.yaml", SEARCH_SUMMARY)  # Hydra's basic sweeper; vidpred's search


def is_sweep_folder(folder: Path) -> bool:
    """Whether ``folder`` holds a sweep's or a search's jobs."""
    return any((folder / marker).is_file() for marker in SWEEP_MARKERS)


def read_metrics(run_dir: Path) -> dict[str, Any] | None:
    """The folder's ``metrics.json`` as a dict, or None when there is none (or it is not a JSON object)."""
    path = run_dir / METRICS
    try:
        found = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError, UnicodeDecodeError):
        return None
    return found if isinstance(found, dict) else None


def shaping_settings(config: Mapping[str, Any]) -> dict[str, Any]:
    """The resolved config flattened to dotted keys, without the keys in :data:`NOT_SHAPING`."""
    flat: dict[str, Any] = {}

    def walk(prefix: str, node: Any) -> None:
        if isinstance(node, Mapping):
            for key, value in node.items():
                walk(f"{prefix}.{key}" if prefix else str(key), value)
        elif not any(prefix == k or prefix.startswith(k + ".") for k in NOT_SHAPING):
            flat[prefix] = node

    walk("", {k: v for k, v in config.items() if k != "hydra"})
    return flat


def differences(saved: Mapping[str, Any], now: Mapping[str, Any]) -> list[str]:
    """``key: saved -> now`` for every key that differs (``absent`` where one side lacks it)."""
    absent = object()
    lines = []
    for key in sorted(set(saved) | set(now)):
        before, after = saved.get(key, absent), now.get(key, absent)
        if before != after:
            show = ["absent" if v is absent else repr(v) for v in (before, after)]
            lines.append(f"{key}: {show[0]} -> {show[1]}")
    return lines
