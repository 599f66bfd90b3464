"""``.npy`` arrays written item by item: a prepared data set larger than memory streams to disk."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

NPY_HEADER_BYTES = 128  # fixed, so a streamed array's final shape can be written over the placeholder


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
