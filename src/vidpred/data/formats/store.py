"""A prepared data set on disk: written into a private folder that replaces the old one in one rename,
its uint8 ``.npy`` arrays described in ``manifest.json`` (format version, shapes, counts, source and
array checksums), which ``python -m vidpred.data verify`` checks."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from vidpred.data.registry import get_command, missing
from vidpred.errors import DataError
from vidpred.io import permit_umask, write_json, writing

MANIFEST = "manifest.json"
FORMAT_VERSION = 1


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def load_npy(path: Path, name: str, data_dir: str | os.PathLike[str], mmap: bool = True) -> np.ndarray:
    """A prepared array, memory-mapped; a missing or unreadable file is a :class:`DataError`."""
    if not path.is_file():
        raise missing(path, name, data_dir)
    try:
        return np.load(path, mmap_mode="r" if mmap else None, allow_pickle=False)
    except (ValueError, OSError) as exc:
        raise DataError(f"{path}: not a readable .npy array ({' '.join(str(exc).split())}); "
                        f"prepare it again with: {get_command(name, data_dir)}") from exc


@contextlib.contextmanager
def atomic_dir(final: Path) -> Iterator[Path]:
    """Yield a temporary folder beside ``final``; on success it replaces ``final`` in one rename.

    A failed or killed prepare leaves the previous data (if any) untouched and no half folder. The
    folder stays private while it is written (nobody else can plant a link in it) and gets the
    umask's permissions at the end. Links at ``final`` or at the old copy's name are replaced, never
    followed.
    """
    with writing(final):  # a full disk or a read-only folder: one line naming it
        final.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.", suffix=".tmp", dir=final.parent))
        try:
            yield tmp
            permit_umask(tmp, directory=True)  # colleagues may share this data
            old = final.with_name(f".{final.name}.old")
            _remove(old)
            if final.is_symlink() or final.exists():
                os.replace(final, old)
            os.replace(tmp, final)
            _remove(old)
        finally:
            if tmp.exists():
                shutil.rmtree(tmp, ignore_errors=True)


def _remove(path: Path) -> None:
    """Delete a file, a folder or a link (the link only)."""
    if path.is_symlink() or path.is_file():
        path.unlink()
    elif path.exists():
        shutil.rmtree(path, ignore_errors=True)


def write_manifest(folder: Path, name: str, arrays: dict[str, Path], extra: dict[str, Any]) -> dict[str, Any]:
    """Describe the prepared arrays of ``folder`` (shape, dtype, bytes, sha256) in ``manifest.json``."""
    entries = {}
    for key, path in arrays.items():
        array = np.load(path, mmap_mode="r")
        entries[key] = {"file": path.name, "shape": list(array.shape), "dtype": str(array.dtype),
                        "bytes": path.stat().st_size, "sha256": sha256_file(path)}
    manifest = {"dataset": name, "format_version": FORMAT_VERSION, "arrays": entries, **extra}
    write_json(folder / MANIFEST, manifest)
    return manifest


def read_manifest(folder: Path, name: str, data_dir: str | os.PathLike[str],
                  set_name: str | None = None) -> dict[str, Any]:
    path = folder / MANIFEST
    if not path.is_file():
        raise missing(path, name, data_dir, "prepared data (manifest)", set_name=set_name)
    try:
        manifest = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise DataError(f"{path}: not valid JSON ({exc}); prepare the data again") from exc
    if manifest.get("format_version") != FORMAT_VERSION:
        raise DataError(f"{path}: format version {manifest.get('format_version')!r}, this vidpred reads "
                        f"{FORMAT_VERSION}; prepare the data again with: {get_command(name, data_dir)}")
    return manifest


def manifest_if_prepared(folder: Path) -> dict[str, Any] | None:
    """The manifest of a prepared folder, or None where there is none (or none readable: the builder
    reports that with the command that fixes it)."""
    try:
        found = json.loads((folder / MANIFEST).read_text())
    except (OSError, json.JSONDecodeError, UnicodeDecodeError):
        return None
    return found if isinstance(found, dict) else None


def verify_manifest(folder: Path, name: str, data_dir: str | os.PathLike[str], checksums: bool = True,
                    set_name: str | None = None) -> list[str]:
    """Check every array of ``folder`` against its manifest; returns one line per array checked."""
    manifest = read_manifest(folder, name, data_dir, set_name=set_name)
    lines = []
    for key, entry in manifest["arrays"].items():
        path = folder / entry["file"]
        array = load_npy(path, name, data_dir)
        if list(array.shape) != entry["shape"] or str(array.dtype) != entry["dtype"]:
            raise DataError(f"{path}: shape {list(array.shape)} {array.dtype}, manifest says "
                            f"{entry['shape']} {entry['dtype']}; prepare the data again")
        if path.stat().st_size != entry["bytes"]:
            raise DataError(f"{path}: {path.stat().st_size} bytes, manifest says {entry['bytes']}")
        if checksums and sha256_file(path) != entry["sha256"]:
            raise DataError(f"{path}: sha256 differs from the manifest (the file is corrupt); "
                            "prepare the data again")
        lines.append(f"{key}: {path.name} {tuple(array.shape)} {array.dtype} ok")
    return lines
