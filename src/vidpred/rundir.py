"""The run folder's guarantees: one process at a time, a completed run never overwritten, and the
settings a run's result depends on written down so a later attempt can be checked against them.

- :func:`locked` holds an exclusive ``flock`` on ``<run>/.lock`` for the life of the run and writes the
  holder (pid, host, start) into it. The kernel drops the lock when the process dies however it dies,
  so a stale lock is taken over by the next run; :func:`holder_alive` tells a live run from a dead one.
- :func:`shaping_settings` flattens the config to the keys that change what a run computes; a resume
  or a rerun of a completed folder compares them with :func:`differences`.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import socket
import time
from collections.abc import Iterator, Mapping
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from vidpred.errors import UserError

LOCK = ".lock"
METRICS = "metrics.json"

#: Keys that change how long or how visibly a run goes, or where its files are, but not what a step
#: computes: a resume or a rerun may change them. Everything else must match the checkpoint's.
NOT_SHAPING = ("trainer.max_epochs", "trainer.max_steps", "trainer.progress", "trainer.log_every_n_steps",
               "trainer.checkpoint_every_n_steps", "trainer.limit_test_batches", "trainer.compile",
               "trainer.channels_last", "trainer.device", "trainer.name", "data.num_workers", "logger",
               "paths", "resume", "evaluate", "metrics")


class RunFolderBusy(UserError):
    """Another live process holds the run folder."""


def holder() -> dict[str, Any]:
    """Who runs here: written into the lock file and into ``metrics.json`` while running."""
    return {"pid": os.getpid(), "host": socket.gethostname(),
            "since": datetime.now(timezone.utc).isoformat(timespec="seconds")}


@contextlib.contextmanager
def locked(run_dir: Path, tries: int = 3) -> Iterator[None]:
    """Hold ``<run_dir>/.lock`` exclusively; another live holder is a :class:`RunFolderBusy` error."""
    run_dir.mkdir(parents=True, exist_ok=True)
    path = run_dir / LOCK
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
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
        yield
    finally:
        os.close(fd)  # closing releases the lock


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
    if not path.is_file():
        return False
    try:
        fd = os.open(path, os.O_RDONLY)
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
