"""User-facing errors: one clear line, a non-zero exit, no traceback unless asked for.

Anything a user can cause (a bad config value, missing or corrupt data, a missing optional
dependency) raises a :class:`UserError`. Entry points wrap their work in :func:`exit_on_user_error`,
which prints ``error: <message>`` and exits with code 2. Set ``VIDPRED_DEBUG=1`` to see the
traceback instead.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator

DEBUG_ENV = "VIDPRED_DEBUG"
EXIT_USER_ERROR = 2


class UserError(Exception):
    """A problem the user can fix; its message says what is wrong and how to fix it."""


class ConfigError(UserError):
    """An impossible or unknown configuration value."""


class DataError(UserError):
    """Data that is missing, corrupt or inconsistent."""


class DivergedError(Exception):
    """Training produced a non-finite loss."""


class Pruned(Exception):
    """A search stopped this run early: its validation so far was hopeless next to the other trials'."""


def debug_enabled() -> bool:
    return os.environ.get(DEBUG_ENV, "") not in ("", "0", "false", "False")


def require(condition: bool, message: str) -> None:
    """Raise :class:`ConfigError` with ``message`` unless ``condition`` holds."""
    if not condition:
        raise ConfigError(message)


def one_line(exc: BaseException) -> str:
    """The exception's message folded onto a single line."""
    text = " ".join(str(exc).split())
    return text or type(exc).__name__


@contextlib.contextmanager
def exit_on_user_error() -> Iterator[None]:
    """Turn a :class:`UserError` into ``error: ...`` on stderr and exit code 2."""
    try:
        yield
    except UserError as exc:
        if debug_enabled():
            raise
        print(f"error: {one_line(exc)}", file=sys.stderr)
        sys.exit(EXIT_USER_ERROR)
