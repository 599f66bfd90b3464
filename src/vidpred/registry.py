"""Calling a builder with config keys, turning a key or type mismatch into a one-line config error."""

from __future__ import annotations

import inspect
import math
import types
import typing
from collections.abc import Callable
from typing import Any, TypeVar

from vidpred.errors import ConfigError

T = TypeVar("T")
_SIMPLE = (bool, int, float, str, type(None))


def _accepts(hint: Any, value: Any) -> bool:
    """Whether ``value`` fits a simple type hint; hints beyond scalars and unions are not checked."""
    options = typing.get_args(hint) if typing.get_origin(hint) in (typing.Union, types.UnionType) else (hint,)
    for option in options:
        if option not in _SIMPLE:
            return True
        if option is float and isinstance(value, (int, float)) and not isinstance(value, bool):
            return True
        if option is int and isinstance(value, int) and not isinstance(value, bool):
            return True
        if option in (bool, str) and isinstance(value, option):
            return True
        if option is type(None) and value is None:
            return True
    return False


def _describe(hint: Any) -> str:
    options = typing.get_args(hint) if typing.get_origin(hint) in (typing.Union, types.UnionType) else (hint,)
    names = {bool: "true/false", int: "a whole number", float: "a number", str: "a string", type(None): "null"}
    return " or ".join(names.get(o, getattr(o, "__name__", str(o))) for o in options)


def call_with_config(builder: Callable[..., T], params: dict[str, Any], prefix: str) -> T:
    """``builder(**params)``, but an unknown or missing key, or a value of the wrong type, names
    the config key at fault."""
    signature = inspect.signature(builder)
    try:
        signature.bind(**params)
    except TypeError as exc:
        accepted = ", ".join(f"{prefix}.{p}" for p in signature.parameters)
        raise ConfigError(f"{prefix}: {exc}; accepted keys: {accepted}") from exc
    try:
        hints = typing.get_type_hints(builder.__init__ if inspect.isclass(builder) else builder)
    except (NameError, TypeError):  # an annotation that cannot be resolved: skip the type check
        hints = {}
    for key, value in params.items():
        if key in hints and not _accepts(hints[key], value):
            raise ConfigError(f"{prefix}.{key} must be {_describe(hints[key])}, got {value!r}")
        if isinstance(value, float) and not math.isfinite(value):  # inf would train; nan compares false
            raise ConfigError(f"{prefix}.{key} must be a finite number, got {value}")
    return builder(**params)
