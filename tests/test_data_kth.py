"""KTH: 00sequences.txt quirks, .avi decoding with PyAV, prepare / verify, person splits, errors."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from helpers.data_cli import assert_one_line_error, cli, files_under
from helpers.data_fabricate import fabricate_kth, fabricate_kth_raw, moving_square_frames
from vidpred.data import build_data
from vidpred.data.sets.kth import ACTIONS, decode_video, parse_sequences, prepare
from vidpred.errors import DataError, UserError

SPLITS = dict(train_persons=[1, 2, 16], val_persons=[16], test_persons=[17])


def build(root: Path, **overrides):
    params = dict(context=5, horizon=5, **SPLITS)
    params.update(overrides)
    return build_data("kth", params, root)


def test_sequences_file_quirks() -> None:
    text = ("person01_boxing_d1\t\tframes\t1-95, 96-185, 186-245, 246-360\n"
            "\n"
            "person01_boxing_d2  frames   1-85,86-170 ,171-260\n"     # three ranges, odd spacing
            "person02_walking_d3 \t frames \t 5 - 40, 41-80, 81-120, 121-150\r\n"
            "Some header line\n")
    ranges = parse_sequences(text)
    assert ranges == {"person01_boxing_d1": [(0, 95), (95, 185), (185, 245), (245, 360)],
                      "person01_boxing_d2": [(0, 85), (85, 170), (170, 260)],
                      "person02_walking_d3": [(4, 40), (40, 80), (80, 120), (120, 150)]}
    with pytest.raises(DataError, match="line 1"):
        parse_sequences("person01_boxing_d1 frames 9-3\n", "00sequences.txt")


def test_decoded_frames_match_the_written_video(tmp_path: Path) -> None:
    from helpers.data_fabricate import write_avi

    original = moving_square_frames(12, 3)
    decoded = decode_video(write_avi(tmp_path / "person03_jogging_d2_uncomp.avi", original))
    assert decoded.shape == (12, 64, 64) and decoded.dtype == np.uint8
    expected = F.interpolate(torch.from_numpy(original).float()[:, None], size=(64, 64), mode="area")[:, 0]
    # MPEG-4 is lossy: the mean error stays a few grey levels out of 255
    assert np.abs(decoded.astype(float) - expected.numpy()).mean() < 6.0


def test_prepare_honours_sequences_and_reports_gaps(tmp_path: Path) -> None:
    src = fabricate_kth_raw(tmp_path / "raw", {"person01_walking_d1": 30, "person02_boxing_d2": 24},
                            ranges={"person01_walking_d1": "1-10, 11-20, 21-35"},
                            extra_lines="person13_handclapping_d3\t\tframes\t1-50, 51-100\n")
    # a video the sequences file does not list is kept whole
    from helpers.data_fabricate import write_avi

    write_avi(src / "running" / "person17_running_d4_uncomp.avi", moving_square_frames(16, 9))
    lines = prepare(src, tmp_path)
    assert lines[0] == "kth: 3 videos -> 70 frames in 6 clips"
    assert "listed in 00sequences.txt but absent: person13_handclapping_d3" in lines
    assert "not in 00sequences.txt, kept whole: person17_running_d4" in lines
    clips = np.load(tmp_path / "kth" / "clips.npy")
    # sorted by path: boxing/person02 (2 halves), running/person17 (whole), walking/person01 (3 ranges,
    # the last one clipped at the 30 decoded frames)
    np.testing.assert_array_equal(clips, [[2, 0, 2, 0, 12], [2, 0, 2, 12, 12], [17, 4, 4, 24, 16],
                                          [1, 5, 1, 40, 10], [1, 5, 1, 50, 10], [1, 5, 1, 60, 10]])
    assert (ACTIONS[0], ACTIONS[4], ACTIONS[5]) == ("boxing", "running", "walking")


def test_splits_by_person_and_windows(tmp_path: Path) -> None:
    fabricate_kth(tmp_path)
    frames = np.load(tmp_path / "kth" / "frames.npy")
    data = build(tmp_path, stride=5)
    # persons 1 and 2 train (clips of 20, 20, 4 and 30, 30 frames), 16 val, 17 test; windows of 10
    assert (len(data.train), len(data.val), len(data.test)) == (16, 6, 6)
    starts = data.train.starts
    assert all(any(c[3] <= s and s + 10 <= c[3] + c[4] for c in np.load(tmp_path / "kth" / "clips.npy")
                   if c[0] in (1, 2)) for s in starts)
    item = data.test[1]
    assert item.shape == (10, 1, 64, 64) and item.dtype == torch.float32
    start = int(data.test.starts[1])
    np.testing.assert_allclose(item.numpy()[:, 0], frames[start:start + 10] / 255.0, atol=1e-7)
    walking = build(tmp_path, actions=["walking", "running", "handwaving"], stride=5)  # no boxing
    assert len(walking.train) == 6
    capped = build(tmp_path, stride=1, train_size=4)
    assert len(capped.train) == 4 and capped.train.starts[0] == 0
    with pytest.raises(Exception, match="are not in data.train_persons"):
        build(tmp_path, val_persons=[20])
    with pytest.raises(DataError, match="no test window of 10 frames for persons"):
        build(tmp_path, test_persons=[25])


def test_missing_prepared_data_names_both_commands(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="python -m vidpred.data download kth .* prepare kth --src PATH"):
        build(tmp_path)


def test_undecodable_avi_fails_cleanly_through_the_cli(tmp_path: Path, capsys) -> None:
    fabricate_kth(tmp_path / "root")
    before = (tmp_path / "root" / "kth" / "frames.npy").read_bytes()
    src = fabricate_kth_raw(tmp_path / "raw", {"person01_walking_d1": 20})
    bad = src / "jogging" / "person05_jogging_d1_uncomp.avi"
    bad.parent.mkdir()
    bad.write_bytes(b"RIFF\x00\x10\x00\x00AVI LIST" + bytes(range(256)) * 8)
    code, _, err = cli(capsys, "prepare", "kth", "--src", src, "--data-dir", tmp_path / "root")
    assert_one_line_error(code, err, str(bad), "cannot decode")
    assert (tmp_path / "root" / "kth" / "frames.npy").read_bytes() == before
    assert sorted(p.name for p in (tmp_path / "root").iterdir()) == ["kth", "raw"]


def test_cli_prepare_verify_show(tmp_path: Path, capsys) -> None:
    src = fabricate_kth_raw(tmp_path / "raw", {"person01_walking_d1": 24, "person02_walking_d1": 24,
                                               "person17_boxing_d1": 24})
    code, out, err = cli(capsys, "prepare", "kth", "--src", src, "--data-dir", tmp_path)
    assert code == 0 and out.startswith("kth: 3 videos -> 72 frames in 6 clips"), err
    code, out, err = cli(capsys, "verify", "kth", "--data-dir", tmp_path)
    assert code == 0 and "frames: frames.npy (72, 64, 64) uint8 ok" in out, err
    code, out, err = cli(capsys, "show", "kth", "--data-dir", tmp_path, "--out", tmp_path / "k.npy",
                         "data.train_persons=[1,2]", "data.val_persons=[2]", "data.test_persons=[17]",
                         "data.context=6", "data.horizon=4")
    assert code == 0, err
    assert np.load(tmp_path / "k.npy").shape == (10, 1, 64, 64)
    before = files_under(tmp_path)
    (tmp_path / "kth" / "frames.npy").write_bytes(b"\x93NUMPY garbage")
    code, _, err = cli(capsys, "verify", "kth", "--data-dir", tmp_path)
    assert_one_line_error(code, err, str(tmp_path / "kth" / "frames.npy"), "not a readable .npy")
    assert files_under(tmp_path) == before


def test_missing_pyav_names_the_extra(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "av", None)  # import av now raises ImportError
    (tmp_path / "walking").mkdir()
    (tmp_path / "walking" / "person01_walking_d1_uncomp.avi").write_bytes(b"")
    with pytest.raises(UserError, match=r"pip install -e '\.\[video\]'"):
        prepare(tmp_path, tmp_path / "root")
    assert not (tmp_path / "root" / "kth").exists()


def test_datasets_pickle_as_file_paths(tmp_path: Path) -> None:
    """Workers started by spawn get the path of the memory-mapped file, not a copy of it."""
    import pickle

    from helpers.data_fabricate import fabricate_bair

    fabricate_kth(tmp_path)
    fabricate_bair(tmp_path)
    kth = build(tmp_path).train
    bair = build_data("bair", dict(context=5, horizon=5), tmp_path).test
    for dataset, array_bytes in ((kth, (tmp_path / "kth" / "frames.npy").stat().st_size),
                                 (bair, (tmp_path / "bair" / "test.npy").stat().st_size)):
        blob = pickle.dumps(dataset)
        assert len(blob) < array_bytes / 10
        copy = pickle.loads(blob)
        torch.testing.assert_close(copy[len(copy) - 1], dataset[len(dataset) - 1])
