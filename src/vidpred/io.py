"""Atomic file writes: a killed run never leaves a half-written file behind.

Every writer goes through :func:`atomic_path`: write to a temporary name in the same folder, flush
it to disk, then ``os.replace`` it over the final name (atomic on POSIX and Windows). The final file
gets the permissions any other program's file would (``0666`` less the umask): results and data in a
shared folder stay readable by colleagues.

A write that fails for want of space or of permission (a full disk, a quota, a read-only folder) is
a :class:`WriteError`: one line naming the file and what to do. The earlier file of that name, if
any, stays as it was.
"""

from __future__ import annotations

import contextlib
import csv
import errno
import json
import math
import os
import tempfile
import threading
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from vidpred.errors import UserError

_umask_lock = threading.Lock()

#: Why a write can fail that the user can fix, and how.
NO_SPACE = "free space on that disk (or write to another one) and run the command again"
NO_RIGHT = "choose a folder you can write to"
WRITE_ERRNOS = {errno.ENOSPC: NO_SPACE, errno.EDQUOT: NO_SPACE, errno.EFBIG: NO_SPACE,
                errno.EROFS: NO_RIGHT, errno.EACCES: NO_RIGHT, errno.EPERM: NO_RIGHT}


class WriteError(UserError):
    """A file that cannot be written: the disk is full or the folder is not writable."""


def write_error(path: str | os.PathLike[str], exc: BaseException) -> WriteError | None:
    """``exc`` (or the OSError behind it) as a :class:`WriteError` naming ``path``, if it is a
    failure for want of space or permission."""
    while exc is not None and not (isinstance(exc, OSError) and exc.errno in WRITE_ERRNOS):
        exc = exc.__cause__ or exc.__context__  # torch.save reports a full disk as a RuntimeError
    if exc is None:
        return None
    named = Path(path)
    if exc.filename is not None:
        failed = Path(exc.filename)
        if named.is_relative_to(failed):  # a folder on the way to it
            named = failed
        elif failed.parent != named.parent:  # about another file (one being read, say); a temporary beside
            return None  # ``path`` is named as ``path``
    return WriteError(f"cannot write {named}: {exc.strerror or exc}; {WRITE_ERRNOS[exc.errno]}")


@contextlib.contextmanager
def writing(path: str | os.PathLike[str]) -> Iterator[None]:
    """Turn a failure to write ``path`` in the block into a :class:`WriteError`."""
    try:
        yield
    except (OSError, RuntimeError) as exc:
        found = write_error(path, exc)
        if found is None:
            raise
        raise found from exc


def current_umask() -> int:
    with _umask_lock:  # reading the umask means setting it: keep other threads out meanwhile
        mask = os.umask(0o022)
        os.umask(mask)
    return mask


def permit_umask(path: Path, directory: bool = False) -> None:
    """Give ``path`` the mode a plain ``open``/``mkdir`` would have: temporary files and folders are
    created private (``0600``/``0700``), which would make every result unreadable to a group."""
    os.chmod(path, (0o777 if directory else 0o666) & ~current_umask())


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success move it over ``path``."""
    final = Path(path)
    with writing(final):
        final.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(prefix=f".{final.name}.", suffix=".tmp", dir=final.parent)
        os.close(fd)
        tmp = Path(tmp_name)
        try:
            permit_umask(tmp)
            yield tmp
            with open(tmp, "rb+") as fh:
                os.fsync(fh.fileno())
            os.replace(tmp, final)
        finally:
            tmp.unlink(missing_ok=True)


def _json_safe(value: Any) -> Any:
    """Non-finite floats become null: strict JSON has no NaN or Infinity."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, Mapping):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    return value


def write_json(path: str | os.PathLike[str], data: Mapping[str, Any]) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(_json_safe(data), indent=2, sort_keys=False) + "\n")


def write_csv(path: str | os.PathLike[str], rows: Sequence[Mapping[str, Any]], columns: Sequence[str]) -> None:
    with atomic_path(path) as tmp, open(tmp, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(columns), extrasaction="ignore")
        writer.writeheader()
        for row in rows:
            writer.writerow({c: ("" if row.get(c) is None else row.get(c)) for c in columns})
