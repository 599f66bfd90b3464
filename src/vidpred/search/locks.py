"""The flocks that keep a study's workers apart: one for asking and telling, one per live worker. The
kernel drops a flock when its process dies, however it dies, so no lock outlives its holder."""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import secrets
import socket
from collections.abc import Iterator
from pathlib import Path

from optuna.trial import FrozenTrial

from vidpred import runfolder

ASK_LOCK = ".ask.lock"
WORKERS = "workers"


def _probe(path: Path) -> bool:
    """Whether some process holds an exclusive ``flock`` on ``path`` now."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        return False
    except OSError:
        return True
    finally:
        os.close(fd)


@contextlib.contextmanager
def flock(path: Path, note: str = "") -> Iterator[None]:
    """Hold an exclusive ``flock`` on ``path``, waiting for it; the kernel drops it when the process
    dies, however it dies, so no lock outlives its holder."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        if note:
            os.ftruncate(fd, 0)
            os.pwrite(fd, note.encode(), 0)
        yield
    finally:
        os.close(fd)


@contextlib.contextmanager
def worker_lock(folder: Path) -> Iterator[str]:
    """This worker's name, locked for its life in ``<folder>/workers/`` (a random part: a new process
    with an old pid, in a restarted container say, is not taken for the old one)."""
    name = f"{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(3)}"
    path = folder / WORKERS / f"{name}.lock"
    with flock(path, json.dumps(runfolder.holder()) + "\n"):
        try:
            yield name
        finally:
            path.unlink(missing_ok=True)


def trial_alive(folder: Path, trial: FrozenTrial) -> bool:
    """A RUNNING trial is alive while the worker that asked for it, or its run, holds its lock."""
    worker, run_dir = trial.user_attrs.get("worker"), trial.user_attrs.get("run_dir")
    return bool((worker and _probe(folder / WORKERS / f"{worker}.lock"))
                or (run_dir and runfolder.holder_alive(folder / run_dir)))
