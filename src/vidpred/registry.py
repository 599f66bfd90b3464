"""The one way vidpred registers a named thing (a model, a data-set family, a logger, a downloadable
asset), and calling a builder with config keys so that a key or type mismatch is a one-line error.

A kind of thing has one :class:`Registry`; each thing declares itself once, in its own module, with
``REGISTRY.add(name, thing)`` (or the ``@REGISTRY.register`` decorator for classes that carry a
``name``). The package of that kind imports its modules by name, explicitly: no scan of the file
system decides what exists.
"""

from __future__ import annotations

import inspect
import math
import types
import typing
from collections.abc import Callable, Iterator
from typing import Any, Generic, TypeVar

from vidpred.errors import ConfigError

T = TypeVar("T")
E = TypeVar("E")


class Registry(Generic[E]):
    """Named entries of one kind; an unknown name is a one-line error that lists the known ones."""

    def __init__(self, kind: str) -> None:
        self.kind = kind  # how errors name it: "model", "data set", "logger"
        self._entries: dict[str, E] = {}

    def add(self, name: str, entry: E) -> E:
        """Declare ``entry`` as ``name`` (once: a second entry of the same name is a programming error)."""
        if not name or name in self._entries:
            raise ValueError(f"{self.kind} name {name!r} is empty or taken")
        self._entries[name] = entry
        return entry

    def register(self, entry: E) -> E:
        """Class decorator: declare a class under its ``name`` attribute."""
        return self.add(getattr(entry, "name"), entry)

    def get(self, name: str) -> E:
        if name not in self._entries:
            raise ConfigError(f"unknown {self.kind} {name!r}; choose one of {', '.join(self.names())}")
        return self._entries[name]

    def names(self) -> list[str]:
        return sorted(self._entries)

    def items(self) -> Iterator[tuple[str, E]]:
        return iter(sorted(self._entries.items()))

    def values(self) -> Iterator[E]:
        return (entry for _, entry in self.items())

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __getitem__(self, name: str) -> E:
        return self.get(name)

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())
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
