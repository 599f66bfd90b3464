"""Where data lives on disk and how prepared data is written: the data folder, missing-data
errors, streamed ``.npy`` arrays, atomic folders and the manifest that ``verify`` checks.

Layout: ``<data_dir>/<name>/`` per data set, where ``data_dir`` is the config key
``paths.data_dir`` (``$VIDPRED_DATA_DIR``, else ``./data``). Prepared video data sets hold uint8
``.npy`` arrays plus ``manifest.json`` (format version, shapes, counts, source checksums, array
checksums).
"""

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
import torch
from torch.utils.data import Dataset

from vidpred.errors import DataError, UserError
from vidpred.io import permit_umask, write_json, writing

DATA_DIR_ENV = "VIDPRED_DATA_DIR"
MANIFEST = "manifest.json"
FORMAT_VERSION = 1
NPY_HEADER_BYTES = 128  # fixed, so a streamed array's final shape can be written over the placeholder


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


def get_command(name: str, data_dir: str | os.PathLike[str], set_name: str | None = None) -> str:
    """The command that gets data set ``name`` (a named set of it: ``set_name``) into ``data_dir``."""
    from vidpred.data.registry import family

    return family(name).get_command(data_dir, set_name)


def missing(path: Path, name: str, data_dir: str | os.PathLike[str], what: str = "", hint: str = "",
            set_name: str | None = None) -> DataError:
    """The error for absent data: what is missing and the exact command that gets it."""
    label = f"{what} " if what else ""
    extra = f" ({hint})" if hint else ""
    return DataError(f"{name}: {label}{path} not found; get it with: "
                     f"{get_command(name, data_dir, set_name)}{extra}")


def require_optional(module: str) -> Any:
    """Import an optional dependency of the ``video`` extra, or say in one line how to install it."""
    try:
        return __import__(module)
    except ImportError as exc:
        raise UserError(f"the Python package {module!r} is needed for this; install it with: "
                        "pip install -e '.[video]' in the clone (make install does)") from exc


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def npy_header(shape: tuple[int, ...], dtype: np.dtype) -> bytes:
    """A version 1.0 ``.npy`` header padded to :data:`NPY_HEADER_BYTES` bytes."""
    meta = {"descr": np.lib.format.dtype_to_descr(np.dtype(dtype)), "fortran_order": False,
            "shape": tuple(int(s) for s in shape)}
    text = repr(meta).encode("latin1")
    pad = NPY_HEADER_BYTES - 10 - len(text) - 1
    if pad < 0:
        raise ValueError(f"shape {shape} does not fit a {NPY_HEADER_BYTES}-byte npy header")
    header_len = NPY_HEADER_BYTES - 10
    return b"\x93NUMPY\x01\x00" + header_len.to_bytes(2, "little") + text + b" " * pad + b"\n"


class NpyStream:
    """Append items of one shape to a ``.npy`` file without holding them in memory.

    The leading dimension is unknown until the end, so a placeholder header is written first and
    replaced by the real count in :meth:`close`.
    """

    def __init__(self, path: Path, item_shape: tuple[int, ...], dtype: np.dtype = np.uint8) -> None:
        self.path = path
        self.item_shape = tuple(item_shape)
        self.dtype = np.dtype(dtype)
        self.count = 0
        # a new file, never one a link planted at the name points to
        self._fh = os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o666), "wb")
        self._fh.write(npy_header((0, *self.item_shape), self.dtype))

    def append(self, items: np.ndarray) -> None:
        """Append ``items`` of shape ``(n, *item_shape)``."""
        items = np.ascontiguousarray(items, dtype=self.dtype)
        if items.shape[1:] != self.item_shape:
            raise ValueError(f"item shape {items.shape[1:]} != {self.item_shape}")
        self._fh.write(items.tobytes())
        self.count += len(items)

    def close(self) -> None:
        self._fh.seek(0)
        self._fh.write(npy_header((self.count, *self.item_shape), self.dtype))
        self._fh.flush()
        os.fsync(self._fh.fileno())  # on disk before the folder is renamed into place
        self._fh.close()


def load_npy(path: Path, name: str, data_dir: str | os.PathLike[str], mmap: bool = True) -> np.ndarray:
    """A prepared array, memory-mapped; a missing or unreadable file is a :class:`DataError`."""
    if not path.is_file():
        raise missing(path, name, data_dir)
    try:
        return np.load(path, mmap_mode="r" if mmap else None, allow_pickle=False)
    except (ValueError, OSError) as exc:
        raise DataError(f"{path}: not a readable .npy array ({' '.join(str(exc).split())}); "
                        f"prepare it again with: {get_command(name, data_dir)}") from exc


def unit_frames(frames: np.ndarray) -> torch.Tensor:
    """Stored uint8 frames as the float32 [0, 1] tensor every video model sees."""
    return torch.from_numpy(np.asarray(frames, dtype=np.float32) / 255.0)


class Mapped:
    """A memory-mapped ``.npy`` that pickles as its path: DataLoader workers started by ``spawn``
    (macOS, Windows) reopen the file instead of receiving a copy of the whole array."""

    def __init__(self, array: np.memmap) -> None:
        self.path = str(array.filename)
        self._array: np.ndarray | None = array

    @property
    def array(self) -> np.ndarray:
        if self._array is None:
            self._array = np.load(self.path, mmap_mode="r")
        return self._array

    def __getstate__(self) -> dict[str, Any]:
        return {"path": self.path, "_array": None}


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


class ClipWindows(Dataset):
    """Windows of ``length`` stored frames starting at ``starts``, as float32 tensors in [0, 1]
    (``(T, C, S, S)`` for frames stored with their channels). ``clips`` (first frame and length of
    each clip) and their file ``names`` tell where a window comes from (:meth:`source`)."""

    def __init__(self, frames: np.ndarray, starts: np.ndarray, length: int, clips: np.ndarray | None = None,
                 names: list[str] | None = None) -> None:
        self.frames = Mapped(frames)
        self.starts = starts
        self.length = length
        self.clips = clips
        self.names = names

    def __len__(self) -> int:
        return len(self.starts)

    def __getitem__(self, index: int) -> torch.Tensor:
        start = int(self.starts[index])
        return unit_frames(self.frames.array[start: start + self.length])

    def source(self, index: int) -> str | None:
        """The clip a window comes from and its frames there (1-based, as stored)."""
        if self.clips is None or self.names is None:
            return None
        start = int(self.starts[index])
        clip = int(np.searchsorted(self.clips[:, 0], start, side="right")) - 1
        first = start - int(self.clips[clip, 0])
        return f"{self.names[clip]}, frames {first + 1}..{first + self.length} of {int(self.clips[clip, 1])}"
