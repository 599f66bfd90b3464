"""Training progress: a live one-line bar on a terminal, periodic log lines elsewhere."""

from __future__ import annotations

import logging
import sys
import time

log = logging.getLogger("vidpred")


class Progress:
    """Reports step, loss and samples/s; ``mode`` is ``auto`` (bar on a TTY), ``bar`` or ``log``."""

    def __init__(self, mode: str = "auto", log_every: int = 50) -> None:
        if mode not in ("auto", "bar", "log", "off"):
            from vidpred.errors import ConfigError
            raise ConfigError(f"unknown trainer.progress {mode!r}; choose auto, bar, log or off")
        if mode == "auto":
            mode = "bar" if sys.stderr.isatty() else "log"
        self.mode = mode
        self.log_every = max(1, log_every)
        self._last_draw = 0.0

    def update(self, epoch: int, max_epochs: int, batch: int, batches: int, step: int,
               loss: float, samples_per_s: float) -> None:
        text = (f"epoch {epoch + 1}/{max_epochs}  batch {batch}/{batches}  step {step}  "
                f"loss {loss:.4g}  {samples_per_s:,.0f} samples/s")
        if self.mode == "bar":
            now = time.monotonic()
            if now - self._last_draw > 0.1 or batch == batches:
                self._last_draw = now
                sys.stderr.write("\r" + text.ljust(90))
                sys.stderr.flush()
        elif self.mode == "log" and step % self.log_every == 0:
            log.info(text)

    def end_epoch(self, message: str) -> None:
        if self.mode == "bar":
            sys.stderr.write("\n")
        if self.mode != "off":
            log.info(message)
