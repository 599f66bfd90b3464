"""How fast a model predicts: the forward passes of an evaluation, timed on the run's device."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator

import torch


class InferenceTimer:
    """Seconds and items of the forward passes of an evaluation. The first batch is left out where
    there are others: it pays for one-off work (compilation, the convolution algorithms' choice)."""

    def __init__(self, device: torch.device) -> None:
        self.device = device
        self.batches: list[tuple[int, float]] = []

    @contextlib.contextmanager
    def __call__(self, items: int) -> Iterator[None]:
        self._sync()
        start = time.perf_counter()
        yield
        self._sync()
        self.batches.append((items, time.perf_counter() - start))

    def _sync(self) -> None:
        if self.device.type == "cuda":  # kernels run asynchronously: wait for them before reading the clock
            torch.cuda.synchronize(self.device)

    def summary(self) -> dict[str, float]:
        timed = self.batches[1:] if len(self.batches) > 1 else self.batches
        items, seconds = sum(n for n, _ in timed), sum(s for _, s in timed)
        return {"samples": items, "seconds": seconds, "samples_per_second": items / seconds if seconds > 0 else 0.0}
