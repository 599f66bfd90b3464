"""Stopping a run on request: SIGINT (Ctrl-C) and SIGTERM (``timeout``, a scheduler's time limit,
preemption, ``kill``) only set a flag. The trainer looks at it at every step boundary (and between
evaluation batches), saves ``last.pt`` there and the run exits with code 130; a stop requested
before training began ends the run before it writes anything more.

A second signal ends the process at once, wherever the run is, as a kill would: every file is
written atomically and ``last.pt`` is the last one saved before. A
repeat within :data:`SAME_REQUEST_SECONDS` of the first is the same request: ``timeout`` signals its
child and then the child's group, and ``torchrun`` forwards the Ctrl-C the terminal has already
sent to every process of the group.

DataLoader workers share the process group, so ``kill -- -PGID``, a terminal's Ctrl-C and SLURM
signal them too. They must not die of it (the loader would turn the stop into a "worker killed by
signal" failure): :func:`quiet_worker` makes them ignore both signals, and :func:`signals_blocked`
holds both signals back while workers are started, so none arrives before they ignore it.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import threading
import time
from collections.abc import Iterator
from typing import Any

log = logging.getLogger("vidpred")

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)
EXIT_CODE = 130  # what a shell reports for a process ended by Ctrl-C
SAME_REQUEST_SECONDS = 1.0


class StopRequested(KeyboardInterrupt):
    """Raised where a run can stop cleanly (a step boundary, between evaluation batches) once a stop
    was requested; its message says what was saved."""


class StopRequest:
    """Whether a stop was asked for, and by which signal. An entry point makes one, installs it as the
    handler of SIGINT and SIGTERM (:func:`handled`) and hands it to the run; the trainer looks at it at
    every step boundary. The first signal asks the run to stop; a later one aborts it at once."""

    def __init__(self) -> None:
        self.signal: str | None = None
        self._at: float | None = None

    @property
    def requested(self) -> bool:
        return self._at is not None

    @property
    def reason(self) -> str:
        """The signal that asked for the stop (``SIGTERM``), or ``stop requested`` without one."""
        return self.signal or "stop requested"

    def ask(self, name: str = "SIGTERM") -> None:
        """Ask the run to stop, as the signal ``name`` does."""
        if self._at is None:
            self._at, self.signal = time.monotonic(), name
            log.warning("%s: stopping after the current step (and saving last.pt); send it again to stop at once",
                        name)

    def clear(self) -> None:
        self._at, self.signal = None, None

    def __call__(self, signum: int, frame: object = None) -> None:
        """The signal handler."""
        name = signal.Signals(signum).name
        if self._at is None:
            self.ask(name)
        elif time.monotonic() - self._at > SAME_REQUEST_SECONDS:
            # As if killed: files are written atomically, and the next start resumes from the last.pt
            # saved before (and clears the temporary files this leaves).
            os.write(2, f"interrupted ({name} again): stopped at once; run the same command again to resume "
                        "from the last checkpoint\n".encode())
            os._exit(EXIT_CODE)

    def stopped(self, what: str = "") -> StopRequested:
        """The exception that ends the run where it can stop cleanly (``what``: what was saved)."""
        return StopRequested(f"{self.reason}{': ' + what if what else ''}")


def install(request: StopRequest) -> dict[int, Any]:
    """Make SIGINT and SIGTERM ask ``request`` to stop (main thread only); returns the previous handlers."""
    if threading.current_thread() is not threading.main_thread():
        return {}
    return {number: signal.signal(number, request) for number in STOP_SIGNALS}


@contextlib.contextmanager
def handled(request: StopRequest | None = None) -> Iterator[StopRequest]:
    """Signals ask ``request`` (a new one by default) to stop inside the block; afterwards the
    previous handlers are back and the request is forgotten (the next run of this process starts
    afresh)."""
    request = request or StopRequest()
    previous = install(request)
    try:
        yield request
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)
        if previous:
            request.clear()


def quiet_worker(worker_id: int) -> None:
    """``worker_init_fn`` of the DataLoaders: the group's stop signals are the main process's
    business; the worker ends when the main process closes the loader (or dies)."""
    for number in STOP_SIGNALS:
        signal.signal(number, signal.SIG_IGN)  # also discards one that is pending
    signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)


@contextlib.contextmanager
def signals_blocked() -> Iterator[None]:
    """Hold SIGINT and SIGTERM back while the block starts worker processes: they inherit the
    blocked mask and unblock it in :func:`quiet_worker`, after they have chosen to ignore both;
    this process gets a held signal as soon as the block ends."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)
