"""The IDX format of the MNIST files: big-endian, magic ``0x00 0x00 dtype ndim``, then the sizes.

Images are magic 2051 (uint8, 3 dimensions, 16-byte header); labels 2049 (uint8, 1 dimension,
8-byte header). Files may be gzipped (the canonical ``*.gz`` names) or plain.
"""

from __future__ import annotations

import gzip
import zlib
from pathlib import Path

import numpy as np

from vidpred.errors import DataError

IMAGES_MAGIC = 2051
LABELS_MAGIC = 2049


def encode_idx(array: np.ndarray) -> bytes:
    """The IDX bytes of a uint8 array (used to fabricate test files)."""
    array = np.ascontiguousarray(array, dtype=np.uint8)
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    return header + array.tobytes()


def _read_bytes(path: Path) -> bytes:
    try:
        with open(path, "rb") as fh:
            head = fh.read(2)
        if head == b"\x1f\x8b":
            with gzip.open(path, "rb") as fh:
                return fh.read()
        return path.read_bytes()
    except EOFError as exc:
        raise DataError(f"{path}: truncated gzip stream; download the file again") from exc
    except (gzip.BadGzipFile, zlib.error) as exc:
        raise DataError(f"{path}: corrupt gzip stream ({exc}); download the file again") from exc


def read_idx(path: Path, magic: int) -> np.ndarray:
    """Read an IDX file whose magic number must be ``magic``; corrupt files raise :class:`DataError`."""
    data = _read_bytes(path)
    ndim = {IMAGES_MAGIC: 3, LABELS_MAGIC: 1}[magic]
    if len(data) < 4 or int.from_bytes(data[:4], "big") != magic:
        found = int.from_bytes(data[:4], "big") if len(data) >= 4 else None
        raise DataError(f"{path}: not an IDX {'image' if ndim == 3 else 'label'} file (magic {found}, "
                        f"expected {magic}); download the file again")
    header = 4 + 4 * ndim
    if len(data) < header:
        raise DataError(f"{path}: truncated IDX header ({len(data)} bytes); download the file again")
    shape = tuple(int.from_bytes(data[4 + 4 * k: 8 + 4 * k], "big") for k in range(ndim))
    expected = int(np.prod(shape))
    if len(data) - header != expected:
        raise DataError(f"{path}: truncated or padded IDX data: header says shape {shape} "
                        f"({expected} bytes), found {len(data) - header} bytes; download the file again")
    return np.frombuffer(data, dtype=np.uint8, offset=header).reshape(shape)
