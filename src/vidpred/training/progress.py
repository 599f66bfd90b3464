"""Training progress: a live one-line bar on a terminal, periodic log lines elsewhere; throughput
with the digits it needs, the time left, and a warning when a CPU run is going to take long."""

from __future__ import annotations

import logging
import statistics
import sys
import time

log = logging.getLogger("vidpred")

LONG_RUN_SECONDS = 30 * 60   # a CPU run whose training is estimated longer than this is worth a warning
ESTIMATE_AFTER_STEPS = 3     # steps timed before the first estimate (the first one warms up and is left out)


def rate_text(per_second: float) -> str:
    """A throughput with enough digits to read at any speed: 8,136 / 42.5 / 0.252."""
    if per_second >= 100:
        return f"{per_second:,.0f}"
    if per_second >= 10:
        return f"{per_second:.1f}"
    return f"{per_second:.3g}"


def duration_text(seconds: float) -> str:
    """A duration as people say it: 2h 24m, 3m 10s, 12s."""
    seconds = max(0, int(round(seconds)))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h {minutes:02d}m"
    return f"{minutes}m {secs:02d}s" if minutes else f"{secs}s"


def long_run_warning(seconds_per_step: float, total_steps: int, device: str, kind: str) -> str | None:
    """What to say when a CPU run's training is estimated to take longer than :data:`LONG_RUN_SECONDS`."""
    estimate = seconds_per_step * total_steps
    if device != "cpu" or estimate <= LONG_RUN_SECONDS:
        return None
    smaller = ("model.hidden=16 model.patch_size=4, data.size=32 (data=videos), data.train_size, "
               "trainer.max_epochs" if kind == "video" else "model.hidden, data.train_size, trainer.max_epochs")
    return (f"this run's training is estimated at {duration_text(estimate)} on the CPU ({seconds_per_step:.3g} s a "
            f"step, {total_steps:,} steps): on a CUDA GPU run it with trainer=gpu, or make it smaller ({smaller})")


class Progress:
    """Reports step, loss, samples/s and the time left; ``mode`` is ``auto`` (bar on a TTY), ``bar``,
    ``log`` or ``off``. :meth:`start` says how many steps the run has; the step times it is given
    make the estimate of the time left (the first step, which warms up, is left out once there are
    others)."""

    def __init__(self, mode: str = "auto", log_every: int = 50) -> None:
        if mode not in ("auto", "bar", "log", "off"):
            from vidpred.errors import ConfigError
            raise ConfigError(f"unknown trainer.progress {mode!r}; choose auto, bar, log or off")
        if mode == "auto":
            mode = "bar" if sys.stderr.isatty() else "log"
        self.mode = mode
        self.log_every = max(1, log_every)
        self._last_draw = 0.0
        self.total_steps = 0
        self.device, self.kind = "cpu", "sequence"
        self._step_seconds: list[float] = []
        self._warned = False

    def start(self, total_steps: int, device: str, kind: str) -> None:
        self.total_steps, self.device, self.kind = total_steps, device, kind

    def seconds_per_step(self) -> float | None:
        timed = self._step_seconds[1:] if len(self._step_seconds) > 1 else self._step_seconds
        return statistics.fmean(timed) if timed else None

    def eta(self, step: int) -> float | None:
        """Seconds of training left after ``step`` at the pace of the steps timed so far."""
        pace = self.seconds_per_step()
        return None if pace is None or not self.total_steps else pace * max(0, self.total_steps - step)

    def update(self, epoch: int, max_epochs: int, batch: int, batches: int, step: int,
               loss: float, samples_per_s: float, step_seconds: float | None = None) -> None:
        if step_seconds is not None:
            self._step_seconds.append(step_seconds)
            if len(self._step_seconds) == ESTIMATE_AFTER_STEPS and not self._warned:
                self._warned = True
                warning = long_run_warning(self.seconds_per_step() or 0.0, self.total_steps, self.device, self.kind)
                if warning:
                    log.warning(warning)
        left = self.eta(step)
        text = (f"epoch {epoch + 1}/{max_epochs}  batch {batch}/{batches}  step {step}"
                + (f"/{self.total_steps}" if self.total_steps else "")
                + f"  loss {loss:.4g}  {rate_text(samples_per_s)} samples/s"
                + (f"  ETA {duration_text(left)}" if left is not None else ""))
        if self.mode == "bar":
            now = time.monotonic()
            if now - self._last_draw > 0.1 or batch == batches:
                self._last_draw = now
                sys.stderr.write("\r" + text.ljust(100))
                sys.stderr.flush()
        elif self.mode == "log" and (step % self.log_every == 0 or len(self._step_seconds) == 1):
            log.info(text)  # the first step too: its throughput and estimate come at once

    def end_epoch(self, message: str) -> None:
        if self.mode == "bar":
            sys.stderr.write("\n")
        if self.mode != "off":
            log.info(message)
