"""BAIR: the TFRecord / Example reader (checked against protobuf itself), prepare from a folder or a
tar, corrupt records, the loader."""

from __future__ import annotations

import struct
import tarfile
from pathlib import Path

import numpy as np
import pytest
import torch

from helpers.data_cli import assert_one_line_error, cli, files_under
from helpers.data_fabricate import bair_example, bair_trajectory, fabricate_bair, fabricate_bair_raw
from vidpred.data import build_data
from vidpred.data.sets.bair import prepare
from vidpred.data.formats.tfrecord import (encode_example, frame_record, masked_crc, parse_example, read_records,
                                          write_records)
from vidpred.errors import DataError


def example_class():
    """``tf.train.Example`` built from its published field numbers with protobuf's own runtime."""
    from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

    proto = descriptor_pb2.FileDescriptorProto(name="example_for_tests.proto", package="tftest", syntax="proto3")
    L = descriptor_pb2.FieldDescriptorProto

    def message(name: str, *fields: tuple[str, int, int, int, str]) -> None:
        msg = proto.message_type.add(name=name)
        for fname, number, ftype, label, type_name in fields:
            field = msg.field.add(name=fname, number=number, type=ftype, label=label)
            if type_name:
                field.type_name = type_name

    message("BytesList", ("value", 1, L.TYPE_BYTES, L.LABEL_REPEATED, ""))
    message("FloatList", ("value", 1, L.TYPE_FLOAT, L.LABEL_REPEATED, ""))
    message("Int64List", ("value", 1, L.TYPE_INT64, L.LABEL_REPEATED, ""))
    message("Feature", ("bytes_list", 1, L.TYPE_MESSAGE, L.LABEL_OPTIONAL, ".tftest.BytesList"),
            ("float_list", 2, L.TYPE_MESSAGE, L.LABEL_OPTIONAL, ".tftest.FloatList"),
            ("int64_list", 3, L.TYPE_MESSAGE, L.LABEL_OPTIONAL, ".tftest.Int64List"))
    message("FeatureEntry", ("key", 1, L.TYPE_STRING, L.LABEL_OPTIONAL, ""),
            ("value", 2, L.TYPE_MESSAGE, L.LABEL_OPTIONAL, ".tftest.Feature"))
    proto.message_type[-1].options.map_entry = True
    message("Features", ("feature", 1, L.TYPE_MESSAGE, L.LABEL_REPEATED, ".tftest.FeatureEntry"))
    # protobuf wants map entries nested in their message: move FeatureEntry into Features
    entry = proto.message_type[4]
    features = proto.message_type[5]
    features.nested_type.add().CopyFrom(entry)
    features.field[0].type_name = ".tftest.Features.FeatureEntry"
    del proto.message_type[4]
    message("Example", ("features", 1, L.TYPE_MESSAGE, L.LABEL_OPTIONAL, ".tftest.Features"))
    pool = descriptor_pool.DescriptorPool()
    pool.Add(proto)
    return message_factory.GetMessageClass(pool.FindMessageTypeByName("tftest.Example"))


def test_crc32c_check_value_and_masking() -> None:
    import crc32c

    assert crc32c.crc32c(b"123456789") == 0xE3069283  # the CRC-32C check value
    crc = 0xE3069283
    assert masked_crc(b"123456789") == (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def test_example_encoding_matches_protobuf_both_ways() -> None:
    Example = example_class()
    features = {"0/image_aux1/encoded": [b"\x01\x02" * 300], "0/action": np.array([0.5, -1.25, 3.0, 0.0], np.float32)}
    parsed = Example.FromString(encode_example(features))
    assert parsed.features.feature["0/image_aux1/encoded"].bytes_list.value == [b"\x01\x02" * 300]
    assert list(parsed.features.feature["0/action"].float_list.value) == [0.5, -1.25, 3.0, 0.0]
    theirs = Example()
    theirs.features.feature["1/image_aux1/encoded"].bytes_list.value.append(b"abc" * 5000)
    theirs.features.feature["1/endeffector_pos"].float_list.value.extend([1.5, 2.5, -3.0])
    theirs.features.feature["count"].int64_list.value.extend([7, -2, 300])
    mine = parse_example(theirs.SerializeToString())
    assert mine["1/image_aux1/encoded"] == [b"abc" * 5000]
    np.testing.assert_array_equal(mine["1/endeffector_pos"], [1.5, 2.5, -3.0])
    np.testing.assert_array_equal(mine["count"], [7, -2, 300])


def test_record_framing_round_trip(tmp_path: Path) -> None:
    records = [b"", b"x" * 10, bair_example(bair_trajectory(0, steps=2), 0)]
    write_records(tmp_path / "r.tfrecords", records)
    with open(tmp_path / "r.tfrecords", "rb") as fh:
        assert list(read_records(fh, "r")) == records
    framed = frame_record(b"abc")
    assert struct.unpack("<Q", framed[:8])[0] == 3 and len(framed) == 8 + 4 + 3 + 4


@pytest.mark.parametrize("source", ["folder", "tar"])
def test_prepare_and_load(tmp_path: Path, source: str) -> None:
    raw = fabricate_bair_raw(tmp_path / "raw", train=(3, 2), test=(2,))
    src = raw
    if source == "tar":
        src = tmp_path / "bair.tar"
        with tarfile.open(src, "w") as tf:  # files in reverse order: loading must not depend on it
            for path in sorted(raw.rglob("*.tfrecords"), reverse=True):
                tf.add(path, arcname=f"softmotion30_44k/{path.relative_to(raw).as_posix()}")
    lines = prepare(src, tmp_path)
    assert lines == ["bair: 5 train trajectories from 2 files, 2 test trajectories from 1 files"]
    train = np.load(tmp_path / "bair" / "train.npy", mmap_mode="r")
    ids = np.load(tmp_path / "bair" / "train_ids.npy")
    assert train.shape == (5, 30, 3, 64, 64) and train.dtype == np.uint8
    assert ids.tolist() == ([0, 1, 2, 3, 4] if source == "folder" else [3, 4, 0, 1, 2])
    for row, k in enumerate(ids):  # each row is the trajectory its id names
        np.testing.assert_array_equal(train[row], bair_trajectory(int(k)).transpose(0, 3, 1, 2))
    data = build_data("bair", dict(context=4, horizon=6, val_trajectories=1), tmp_path)
    assert (len(data.train), len(data.val), len(data.test)) == (4, 1, 2)
    item = data.val[0]
    assert item.shape == (10, 3, 64, 64) and item.dtype == torch.float32
    np.testing.assert_allclose(item.numpy(), bair_trajectory(4)[:10].transpose(0, 3, 1, 2) / 255.0, atol=1e-7)
    np.testing.assert_allclose(data.test[1].numpy(), bair_trajectory(6)[:10].transpose(0, 3, 1, 2) / 255.0,
                               atol=1e-7)


def test_validation_carve_and_length_limits(tmp_path: Path) -> None:
    fabricate_bair(tmp_path)
    base = dict(context=10, horizon=10)
    data = build_data("bair", {**base, "val_trajectories": 256}, tmp_path)
    assert (len(data.train), len(data.val)) == (8, 2)  # a fifth of a tiny train at most
    with pytest.raises(Exception, match="BAIR trajectories have 30 frames"):
        build_data("bair", {**base, "horizon": 25}, tmp_path)
    with pytest.raises(DataError, match="python -m vidpred.data prepare bair --src PATH"):
        build_data("bair", base, tmp_path / "empty")


def damaged(raw: Path, how: str) -> Path:
    path = raw / "train" / "traj_0_to_2.tfrecords"
    data = bytearray(path.read_bytes())
    if how == "truncated":
        del data[-5000:]
    elif how == "flipped":
        data[20000] ^= 0xFF
    else:  # a record without image_aux1 frames, correctly framed
        write_records(path, [encode_example({"0/image_main/encoded": [b"\x00" * 12288]})])
        return path
    path.write_bytes(bytes(data))
    return path


@pytest.mark.parametrize("how, message", [("truncated", "truncated record 2"),
                                          ("flipped", "data checksum mismatch"),
                                          ("no_aux1", "feature '0/image_aux1/encoded' is missing")])
def test_corrupt_tfrecords_fail_cleanly_through_the_cli(tmp_path: Path, capsys, how: str, message: str) -> None:
    fabricate_bair(tmp_path / "root")
    before = (tmp_path / "root" / "bair" / "train.npy").read_bytes()
    raw = fabricate_bair_raw(tmp_path / "raw")
    path = damaged(raw, how)
    code, _, err = cli(capsys, "prepare", "bair", "--src", raw, "--data-dir", tmp_path / "root")
    assert_one_line_error(code, err, str(path), message)
    # the earlier prepared copy is untouched and no temporary folder is left behind
    assert (tmp_path / "root" / "bair" / "train.npy").read_bytes() == before
    assert sorted(p.name for p in (tmp_path / "root").iterdir()) == ["bair", "raw"]


def test_verify_catches_a_changed_array(tmp_path: Path, capsys) -> None:
    fabricate_bair(tmp_path)
    code, out, err = cli(capsys, "verify", "bair", "--data-dir", tmp_path)
    assert code == 0 and "train: train.npy (10, 30, 3, 64, 64) uint8 ok" in out, err
    path = tmp_path / "bair" / "test.npy"
    data = bytearray(path.read_bytes())
    data[-1] ^= 1
    path.write_bytes(bytes(data))
    code, _, err = cli(capsys, "verify", "bair", "--data-dir", tmp_path)
    assert_one_line_error(code, err, str(path), "sha256 differs")
    before = files_under(tmp_path)
    path.write_bytes(bytes(data[:-100]))
    code, _, err = cli(capsys, "verify", "bair", "--data-dir", tmp_path)
    assert_one_line_error(code, err, str(path))
    assert files_under(tmp_path) == before
