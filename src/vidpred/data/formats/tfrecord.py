"""TFRecord files and ``tf.train.Example`` messages, read and written without TensorFlow.

Framing of each record: u64 little-endian length, u32 masked CRC32C of those 8 bytes, the data,
u32 masked CRC32C of the data. An Example is a protobuf: ``features`` (field 1) holding map
entries (field 1) of key (1, string) -> Feature (2), whose ``bytes_list`` (1), ``float_list`` (2)
or ``int64_list`` (3) carries the values in field 1.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from pathlib import Path
from typing import IO

import numpy as np

from vidpred.data.folders import require_optional
from vidpred.errors import DataError

MASK_DELTA = 0xA282EAD8
Feature = list[bytes] | np.ndarray


def masked_crc(data: bytes) -> int:
    """TFRecord's masked CRC32C: rotate right by 15 bits and add a constant."""
    crc = require_optional("crc32c").crc32c(data)
    return (((crc >> 15) | (crc << 17)) + MASK_DELTA) & 0xFFFFFFFF


def read_records(fh: IO[bytes], name: str, check_crc: bool = True) -> Iterator[bytes]:
    """The records of one open TFRecord stream; damage raises :class:`DataError` naming ``name``."""
    number, offset = 0, 0
    while True:
        head = fh.read(12)
        if not head:
            return
        if len(head) < 12:
            raise DataError(f"{name}: truncated record {number} header at byte {offset}")
        length, length_crc = struct.unpack("<QI", head)
        if check_crc and masked_crc(head[:8]) != length_crc:
            raise DataError(f"{name}: record {number} at byte {offset}: length checksum mismatch (corrupt file)")
        body = fh.read(length + 4)
        if len(body) < length + 4:
            raise DataError(f"{name}: truncated record {number} at byte {offset}: {length + 4} bytes "
                            f"announced, {len(body)} left")
        data = body[:length]
        if check_crc and masked_crc(data) != struct.unpack("<I", body[length:])[0]:
            raise DataError(f"{name}: record {number} at byte {offset}: data checksum mismatch (corrupt file)")
        yield data
        number += 1
        offset += 12 + length + 4


def frame_record(data: bytes) -> bytes:
    length = struct.pack("<Q", len(data))
    return length + struct.pack("<I", masked_crc(length)) + data + struct.pack("<I", masked_crc(data))


def write_records(path: Path, records: list[bytes]) -> None:
    with open(path, "wb") as fh:
        for data in records:
            fh.write(frame_record(data))


# ---------------------------------------------------------------- protobuf wire format
def _varint(buf: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= len(buf):
            raise ValueError("varint runs past the end")
        byte = buf[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7


def _fields(buf: bytes) -> Iterator[tuple[int, int, bytes | int]]:
    """(field number, wire type, value) of one message; length-delimited values as bytes."""
    pos = 0
    while pos < len(buf):
        key, pos = _varint(buf, pos)
        field, wire = key >> 3, key & 7
        if wire == 0:
            value, pos = _varint(buf, pos)
            yield field, wire, value
        elif wire == 2:
            size, pos = _varint(buf, pos)
            if pos + size > len(buf):
                raise ValueError("field runs past the end")
            yield field, wire, buf[pos:pos + size]
            pos += size
        elif wire == 5:
            yield field, wire, buf[pos:pos + 4]
            pos += 4
        elif wire == 1:
            yield field, wire, buf[pos:pos + 8]
            pos += 8
        else:
            raise ValueError(f"unsupported wire type {wire}")


def _feature(buf: bytes) -> Feature:
    for kind, _, payload in _fields(buf):
        assert isinstance(payload, bytes)
        if kind == 1:  # BytesList
            return [v for f, _, v in _fields(payload) if f == 1]  # type: ignore[misc]
        if kind == 2:  # FloatList, packed or not
            parts = [v for f, _, v in _fields(payload) if f == 1]
            return np.frombuffer(b"".join(parts), dtype="<f4")  # type: ignore[arg-type]
        if kind == 3:  # Int64List: packed varints or single varints
            values: list[int] = []
            for f, wire, v in _fields(payload):
                if f == 1 and wire == 2:
                    pos = 0
                    while pos < len(v):  # type: ignore[arg-type]
                        n, pos = _varint(v, pos)  # type: ignore[arg-type]
                        values.append(n)
                elif f == 1:
                    values.append(v)  # type: ignore[arg-type]
            return np.asarray(values, dtype=np.uint64).astype(np.int64)
    return []


def parse_example(data: bytes, keys: set[str] | None = None) -> dict[str, Feature]:
    """The features of a serialized Example (only ``keys`` when given)."""
    out: dict[str, Feature] = {}
    for field, _, features in _fields(data):
        if field != 1:
            continue
        for entry_field, _, entry in _fields(features):  # type: ignore[arg-type]
            if entry_field != 1:
                continue
            key, value = None, b""
            for f, _, v in _fields(entry):  # type: ignore[arg-type]
                if f == 1:
                    key = v.decode()  # type: ignore[union-attr]
                elif f == 2:
                    value = v  # type: ignore[assignment]
            if key is not None and (keys is None or key in keys):
                out[key] = _feature(value)
    return out


def _key(field: int, wire: int) -> bytes:
    return _encode_varint(field << 3 | wire)


def _encode_varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _len_field(field: int, payload: bytes) -> bytes:
    return _key(field, 2) + _encode_varint(len(payload)) + payload


def encode_example(features: dict[str, list[bytes] | np.ndarray]) -> bytes:
    """Serialize an Example of bytes lists and float arrays (used to fabricate test files)."""
    entries = b""
    for key, value in features.items():
        if isinstance(value, np.ndarray):
            packed = np.ascontiguousarray(value, dtype="<f4").tobytes()
            feature = _len_field(2, _len_field(1, packed))
        else:
            feature = _len_field(1, b"".join(_len_field(1, v) for v in value))
        entries += _len_field(1, _len_field(1, key.encode()) + _len_field(2, feature))
    return _len_field(1, entries)
