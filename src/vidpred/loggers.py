"""Experiment loggers (dashboards). Local files are always written by the run itself; a logger
adds a remote view. ``logger=none`` is the default."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from vidpred.errors import ConfigError


class NullLogger:
    """Logs nothing beyond the run folder's own files."""

    def log_summary(self, results: dict[str, Any]) -> None:
        """Called once with the finished run's ``metrics.json`` content."""

    def finish(self, status: str) -> None:
        """Called exactly once, also when the run fails."""


def build_logger(name: str, params: dict[str, Any], run_dir: Path, config: dict[str, Any],
                 choices: dict[str, Any]) -> NullLogger:
    if name == "none":
        return NullLogger()
    raise ConfigError(f"unknown logger {name!r}; choose none")
