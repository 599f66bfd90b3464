"""Calling a builder with config keys, turning a key mismatch into a one-line config error."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any, TypeVar

from vidpred.errors import ConfigError

T = TypeVar("T")


def call_with_config(builder: Callable[..., T], params: dict[str, Any], prefix: str) -> T:
    """``builder(**params)``, but an unknown or missing key names the config key at fault."""
    try:
        inspect.signature(builder).bind(**params)
    except TypeError as exc:
        accepted = ", ".join(f"{prefix}.{p}" for p in inspect.signature(builder).parameters)
        raise ConfigError(f"{prefix}: {exc}; accepted keys: {accepted}") from exc
    return builder(**params)
