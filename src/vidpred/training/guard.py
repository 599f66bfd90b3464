"""Where training stands between two steps, for what a stop or a lost process must save.

A checkpoint is whole only between steps: :class:`StepGuard` holds the position (epoch, batches done)
after the last whole step, and None while a step runs. In a data-parallel run a step waits for every
process before it changes any weight, so when another process is lost mid-step, this one's weights are
still those of the step's start; what the step did change before (random generators, buffers such as a
scheduled-sampling count) is kept at its start and rolled back, and last.pt is written from there.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import torch

from vidpred.errors import UserError
from vidpred.training import checkpoint
from vidpred.training.distributed import failure_of_another_rank, lost_ranks

Position = tuple[int, int]  # (epoch, batches done in it)


class RankFailed(UserError):
    """Another process of a data-parallel run failed; this one saved what it could and stopped."""


class StepGuard:
    def __init__(self, buffers: Callable[[], Iterator[tuple[str, torch.Tensor]]], data_parallel: bool) -> None:
        self._buffers = buffers  # what a step changes before it changes any weight
        self._data_parallel = data_parallel
        self.position: Position | None = None  # after the last whole step; None while a step runs
        self.last: Position = (0, 0)           # the last whole step's, also while the next one runs
        self.saved_at: Position | None = None  # where last.pt was last written
        self._start: tuple[dict[str, Any], dict[str, torch.Tensor]] | None = None

    def at(self, epoch: int, batches: int) -> None:
        """Training stands between two steps, at ``(epoch, batches)``."""
        self.position = self.last = (epoch, batches)

    def begin_step(self) -> None:
        self.position = None
        if self._data_parallel:
            self._start = (checkpoint.rng_state(), {n: b.detach().clone() for n, b in self._buffers()})

    def saved(self, epoch: int, batches: int) -> None:
        self.saved_at = (epoch, batches)

    def after_peer_loss(self) -> tuple[Position, dict[str, Any]] | None:
        """The position and random state last.pt must hold after another process was lost (the step's
        start, with the buffers rolled back); None before any step began."""
        if self.position is not None:
            return self.position, checkpoint.rng_state()
        if self._start is None:
            return None
        rng, buffers = self._start
        with torch.no_grad():
            for name, value in self._buffers():
                value.copy_(buffers[name])
        return self.last, rng


def peer_failure() -> RankFailed:
    """The error of a data-parallel run whose other process failed or vanished, naming it."""
    peer = failure_of_another_rank()
    if peer is None:
        lost = lost_ranks()
        peer = (f"{' and '.join(lost)} stopped without a word (killed?)" if lost
                else "another process stopped without a word (killed?)")
    return RankFailed(f"{peer}; the run stopped here and continues from its last.pt when started again")
