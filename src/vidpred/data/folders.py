"""Where data lives on disk: the data folder (the config key ``paths.data_dir``: ``$VIDPRED_DATA_DIR``,
else ``./data``), one folder per data set in it (``<data_dir>/<name>/``), and folders vidpred writes
into (never through a symbolic link)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from vidpred.errors import DataError, UserError

DATA_DIR_ENV = "VIDPRED_DATA_DIR"


def default_root() -> Path:
    """``$VIDPRED_DATA_DIR``, else ``./data`` (the default of the config key ``paths.data_dir``)."""
    return Path(os.environ.get(DATA_DIR_ENV) or "data")


def dataset_dir(data_dir: str | os.PathLike[str], name: str) -> Path:
    return Path(data_dir) / name


def write_folder(folder: Path) -> Path:
    """``folder``, created, as a place to write files one by one: never through a symbolic link there
    (it may point anywhere; reading through one is fine)."""
    if folder.is_symlink():
        raise DataError(f"{folder} is a symbolic link (to {os.readlink(folder)}); vidpred never writes through a "
                        "link: write into the real folder (--data-dir), or remove the link")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def require_optional(module: str) -> Any:
    """Import an optional dependency of the ``video`` extra, or say in one line how to install it."""
    try:
        return __import__(module)
    except ImportError as exc:
        raise UserError(f"the Python package {module!r} is needed for this; install it with: "
                        "pip install -e '.[video]' in the clone (make install does)") from exc
