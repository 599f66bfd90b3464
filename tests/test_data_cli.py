"""``python -m vidpred.data``: downloads from a local server, prepare, verify, show, and the one-line
errors of corrupt inputs (exit code 2, the file named, nothing half-written)."""

from __future__ import annotations

import gzip
import hashlib
import json
import subprocess
import sys
from pathlib import Path
from urllib.parse import parse_qs

import numpy as np
import pytest

from helpers.data_fabricate import digit_images, fabricate_mnist, fabricate_stocks, price_walk, stock_csv, write_gz
from helpers.data_cli import assert_one_line_error, cli, files_under
from helpers.data_http import serve
from vidpred.data import mnist, stocks
from vidpred.data.formats.download import Remote, extract, fetch
from vidpred.data.formats.idx import encode_idx
from vidpred.errors import DataError

REPO = Path(__file__).resolve().parents[1]


# ---------------------------------------------------------------- downloads
def test_fetch_checks_and_renames(tmp_path: Path) -> None:
    body = bytes(range(256)) * 500
    with serve() as server:
        server.files["/f.bin"] = body
        remote = Remote(f"{server.url}/f.bin", "f.bin", len(body), hashlib.md5(body).hexdigest())
        path = fetch(remote, tmp_path, quiet=True)
    assert path.read_bytes() == body and files_under(tmp_path) == ["f.bin"]


def test_checksum_mismatch_deletes_the_download(tmp_path: Path) -> None:
    body = b"x" * 1000
    with serve() as server:
        server.files["/f.bin"] = body
        remote = Remote(f"{server.url}/f.bin", "f.bin", len(body), "0" * 32)
        with pytest.raises(DataError, match="checksum mismatch") as info:
            fetch(remote, tmp_path, quiet=True)
    assert "f.bin" in str(info.value) and files_under(tmp_path) == []


def test_dropped_connection_resumes_with_a_range_request(tmp_path: Path) -> None:
    body = np.random.default_rng(0).bytes(300_000)
    with serve() as server:
        server.files["/big.bin"] = body
        server.drop_after["/big.bin"] = 100_000
        remote = Remote(f"{server.url}/big.bin", "big.bin", len(body), hashlib.md5(body).hexdigest())
        with pytest.raises(DataError, match="connection lost after 100000 of 300000 bytes"):
            fetch(remote, tmp_path, quiet=True)
        assert files_under(tmp_path) == ["big.bin.part"]  # never under the final name
        path = fetch(remote, tmp_path, quiet=True)
        assert server.requests[-1] == ("/big.bin", "bytes=100000-")
    assert path.read_bytes() == body and files_under(tmp_path) == ["big.bin"]


def test_a_download_never_writes_through_a_planted_link(tmp_path: Path) -> None:
    victim = tmp_path / "victim"
    victim.write_bytes(b"precious")
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "f.bin.part").symlink_to(victim)  # a resumed download appends to its .part
    with serve() as server:
        server.files["/f.bin"] = b"x" * 1000
        with pytest.raises(DataError, match="f.bin.part is a symbolic link"):
            fetch(Remote(f"{server.url}/f.bin", "f.bin", 1000), tmp_path / "data", quiet=True)
    assert victim.read_bytes() == b"precious"


def test_prepare_never_writes_through_a_planted_link(tmp_path: Path, capsys) -> None:
    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / "keep.txt").write_text("precious")
    data = tmp_path / "data"
    data.mkdir()
    # a data set written file by file (stocks): a linked folder is refused
    (data / "stocks").symlink_to(victim, target_is_directory=True)
    code, _, err = cli(capsys, "prepare", "stocks", "--src", fabricate_stocks(tmp_path / "raw", days=300),
                       "--data-dir", data)
    assert_one_line_error(code, err, f"{data / 'stocks'} is a symbolic link", "never writes through a link")
    # a data set written as a whole folder (series, kth, bair, videos) replaces the link, and so does
    # the link at the old copy's name
    (data / "series").symlink_to(victim, target_is_directory=True)
    (data / ".series.old").symlink_to(victim, target_is_directory=True)
    code, _, err = cli(capsys, "prepare", "series", "--src", tmp_path / "raw" / "stocks" / "GOOGL.csv",
                       "--data-dir", data)
    assert code == 0, err
    assert not (data / "series").is_symlink() and (data / "series" / "GOOGL.csv").is_file()
    assert sorted(p.name for p in data.iterdir()) == ["series", "stocks"]
    assert [p.name for p in victim.iterdir()] == ["keep.txt"] and (victim / "keep.txt").read_text() == "precious"


def test_http_error_and_unreachable_host(tmp_path: Path) -> None:
    with serve() as server:
        with pytest.raises(DataError, match="HTTP 404"):
            fetch(Remote(f"{server.url}/none", "none"), tmp_path, quiet=True)
        url = server.url
    with pytest.raises(DataError, match="cannot connect"):
        fetch(Remote(f"{url}/gone", "gone"), tmp_path, quiet=True)


def test_archives_extract_but_never_escape(tmp_path: Path) -> None:
    import tarfile
    import zipfile

    good = tmp_path / "good.zip"
    with zipfile.ZipFile(good, "w") as zf:
        zf.writestr("walking/a.avi", b"abc")
    extract(good, tmp_path / "out")
    assert (tmp_path / "out" / "walking" / "a.avi").read_bytes() == b"abc"
    bad = tmp_path / "bad.tar"
    with tarfile.open(bad, "w") as tf:
        info = tarfile.TarInfo("../../escape.txt")
        info.size = 3
        import io

        tf.addfile(info, io.BytesIO(b"bad"))
    with pytest.raises(DataError, match="outside"):
        extract(bad, tmp_path / "out2")
    assert not (tmp_path / "out2").exists() and not (tmp_path.parent / "escape.txt").exists()


def mnist_server_files() -> dict[str, bytes]:
    rng = np.random.default_rng(1)
    files = {f"/{name}": gzip.compress(encode_idx(digit_images(12, k) if magic == 2051 else rng.integers(0, 10, 12)))
             for k, (name, (magic, *_)) in enumerate(mnist.IDX_FILES.items())}
    files["/mnist_test_seq.npy"] = npy_bytes(rng.integers(0, 256, (20, 3, 64, 64), dtype=np.uint8))
    return files


def npy_bytes(array: np.ndarray) -> bytes:
    import io

    buffer = io.BytesIO()
    np.save(buffer, array)
    return buffer.getvalue()


def test_download_mnist_from_a_mirror(tmp_path: Path, capsys) -> None:
    files = mnist_server_files()
    with serve() as server:
        server.files.update(files)
        remotes = [Remote(f"{server.url}/{r.filename}", r.filename, len(files[f"/{r.filename}"]),
                          hashlib.md5(files[f"/{r.filename}"]).hexdigest()) for r in mnist.remotes()]
        lines = mnist.download(tmp_path, files=remotes)
        assert "train-images-idx3-ubyte.gz: 12 images ok" in lines
        # the real file list checks sizes: the fabricated files differ, so nothing is kept
        (tmp_path / "other").mkdir()
        code, _, err = cli(capsys, "download", "mnist", "--data-dir", tmp_path / "other", "--mirror", server.url)
    assert_one_line_error(code, err, "train-images-idx3-ubyte.gz", "size", "expected 9912422")
    assert files_under(tmp_path / "other") == []
    assert len(files_under(tmp_path / "mnist")) == 5
    code, out, _ = cli(capsys, "verify", "mnist", "--data-dir", tmp_path)
    assert code == 0 and "mnist_test_seq.npy: 3 sequences of 20 frames ok" in out


def test_corrupt_download_is_not_kept(tmp_path: Path) -> None:
    body = b"\x00\x00\x08\x03" + b"\x00" * 10  # IDX header cut short
    with serve() as server:
        server.files["/train-images-idx3-ubyte.gz"] = gzip.compress(body)
        remote = Remote(f"{server.url}/train-images-idx3-ubyte.gz", "train-images-idx3-ubyte.gz")
        with pytest.raises(DataError, match="truncated IDX header"):
            mnist.download(tmp_path, files=[remote])
    assert files_under(tmp_path) == []


def av_handler(query: str) -> bytes:
    params = {k: v[0] for k, v in parse_qs(query).items()}
    assert params["function"] == "TIME_SERIES_DAILY" and params["datatype"] == "csv"
    if params["apikey"] != "good":
        return json.dumps({"Error Message": "the parameter apikey is invalid or missing."}).encode()
    if params["symbol"] == "LIMIT":
        return json.dumps({"Note": "Our standard API call frequency is 5 calls per minute."}).encode()
    return stock_csv(price_walk(120, len(params["symbol"])), "av").encode()


def test_download_stocks_from_alpha_vantage(tmp_path: Path, capsys, monkeypatch) -> None:
    with serve() as server:
        server.handlers["/query"] = av_handler
        monkeypatch.setenv(stocks.API_URL_ENV, f"{server.url}/query")
        monkeypatch.delenv(stocks.API_KEY_ENV, raising=False)
        code, _, err = cli(capsys, "download", "stocks", "--data-dir", tmp_path, "--tickers", "MSFT")
        assert_one_line_error(code, err, stocks.API_KEY_ENV)
        monkeypatch.setenv(stocks.API_KEY_ENV, "bad")
        code, _, err = cli(capsys, "download", "stocks", "--data-dir", tmp_path, "--tickers", "MSFT")
        assert_one_line_error(code, err, "MSFT", "Alpha Vantage says", "apikey is invalid")
        assert files_under(tmp_path) == []
        monkeypatch.setenv(stocks.API_KEY_ENV, "good")
        code, out, _ = cli(capsys, "download", "stocks", "--data-dir", tmp_path, "--tickers", "MSFT,AMD")
        assert code == 0 and "MSFT.csv: 120 days" in out
        code, _, err = cli(capsys, "download", "stocks", "--data-dir", tmp_path, "--tickers", "LIMIT")
        assert_one_line_error(code, err, "LIMIT", "5 calls per minute")
        code, _, err = cli(capsys, "download", "stocks", "--data-dir", tmp_path, "--tickers", "LIMIT,AMD")
        assert_one_line_error(code, err, "saved 1 (AMD)", "1 failed", "LIMIT")
    assert files_under(tmp_path) == ["stocks/AMD.csv", "stocks/MSFT.csv"]
    assert "good" not in err


# ---------------------------------------------------------------- prepare / verify / show
def test_prepare_mnist_from_plain_idx_files(tmp_path: Path, capsys) -> None:
    src = tmp_path / "src"
    src.mkdir()
    (src / "train-images.idx3-ubyte").write_bytes(encode_idx(digit_images(9)))
    (src / "t10k-images-idx3-ubyte").write_bytes(encode_idx(digit_images(7)))
    code, out, err = cli(capsys, "prepare", "mnist", "--src", src, "--data-dir", tmp_path / "root")
    assert code == 0, err
    assert sorted(files_under(tmp_path / "root")) == ["mnist/t10k-images-idx3-ubyte.gz",
                                                       "mnist/train-images-idx3-ubyte.gz"]
    with gzip.open(tmp_path / "root" / "mnist" / "train-images-idx3-ubyte.gz") as fh:
        assert fh.read() == encode_idx(digit_images(9))


def test_show_writes_the_item_the_model_sees(tmp_path: Path, capsys) -> None:
    fabricate_mnist(tmp_path)
    fabricate_stocks(tmp_path)
    code, out, err = cli(capsys, "show", "mnist", "--data-dir", tmp_path, "--split", "val", "--index", "2",
                         "--out", tmp_path / "item.npy", "data.context=4", "data.horizon=3")
    assert code == 0, err
    item = np.load(tmp_path / "item.npy")
    from vidpred.data import build_data

    data = build_data("mnist", dict(context=4, horizon=3, train_size=10, val_size=5, test_size=5,
                                    seeds={"train": 21, "val": 22, "test": 23}), tmp_path)
    assert item.dtype == np.float32 and item.shape == (7, 1, 64, 64)
    np.testing.assert_array_equal(item, data.val[2].numpy())
    for name in ("mnist", "stocks"):
        code, out, err = cli(capsys, "show", name, "--data-dir", tmp_path, "--out", tmp_path / f"{name}.png")
        assert code == 0, err
        assert (tmp_path / f"{name}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    code, _, err = cli(capsys, "show", "stocks", "--data-dir", tmp_path, "--index", "99999", "--out", tmp_path / "x.npy")
    assert_one_line_error(code, err, "--index 99999")


def test_verify_stocks_reports_each_file(tmp_path: Path, capsys, shared_data: Path) -> None:
    code, out, err = cli(capsys, "verify", "stocks", "--data-dir", shared_data)
    assert code == 0, err
    assert "FB.csv: 2157 days 2012-05-18 .. 2020-12-11 ok" in out and len(out.splitlines()) == 8


# ---------------------------------------------------------------- corrupt inputs: one line, exit 2
@pytest.mark.parametrize("case", ["truncated_idx", "wrong_magic", "bad_npy_shape", "no_close", "av_payload",
                                  "missing", "bad_override"])
def test_corrupt_inputs_end_in_one_line(tmp_path: Path, capsys, case: str) -> None:
    fabricate_mnist(tmp_path)
    fabricate_stocks(tmp_path)
    folder = tmp_path / "mnist"
    target, command = folder / "train-images-idx3-ubyte.gz", ("show", "mnist")
    if case == "truncated_idx":
        write_gz(target, encode_idx(digit_images(5))[:-30])
        needles = [str(target), "truncated"]
    elif case == "wrong_magic":
        write_gz(target, b"\x00\x00\x08\x01" + encode_idx(digit_images(5))[4:])
        needles = [str(target), "not an IDX image file"]
    elif case == "bad_npy_shape":
        target = folder / "mnist_test_seq.npy"
        np.save(target, np.zeros((20, 4, 32, 32), dtype=np.uint8))
        needles = [str(target), "expected uint8 (T, N, 64, 64)"]
    elif case == "no_close":
        target, command = tmp_path / "stocks" / "TSLA.csv", ("show", "stocks")
        target.write_text("Date,Open\n2020-01-01,3\n")
        needles = [str(target), "no column 'close'"]
    elif case == "av_payload":
        target, command = tmp_path / "stocks" / "NVDA.csv", ("verify", "stocks")
        target.write_text(json.dumps({"Information": "premium endpoint"}))
        needles = [str(target), "Alpha Vantage says: premium endpoint"]
    elif case == "missing":
        target.unlink()
        needles = [str(target), "python -m vidpred.data download mnist --data-dir"]
    else:
        command = ("show", "mnist", "data.generator=bogus")
        needles = ["data.generator must be one of svg32, standard28"]
    before = files_under(tmp_path)
    out = tmp_path / "out.npy"
    code, _, err = cli(capsys, *command, "--data-dir", tmp_path, *(["--out", out] if command[0] == "show" else []))
    assert_one_line_error(code, err, *needles)
    assert files_under(tmp_path) == before


def test_module_entry_point_runs(tmp_path: Path) -> None:
    """One separate process for the data commands: the module's entry point, exit code 2, one line."""
    fabricate_stocks(tmp_path)
    done = subprocess.run([sys.executable, "-m", "vidpred.data", "verify", "mnist", "--data-dir", str(tmp_path)],
                          capture_output=True, text=True, cwd=REPO, timeout=120)
    assert done.returncode == 2 and done.stderr.count("\n") == 1 and "download mnist" in done.stderr
    assert "t10k-images-idx3-ubyte.gz not found" in done.stderr


def test_prepare_stocks_checks_every_file_first(tmp_path: Path, capsys) -> None:
    src = tmp_path / "csvs"
    src.mkdir()
    (src / "aapl.csv").write_text(stock_csv(price_walk(60, 1), "yahoo"))
    (src / "MSFT.csv").write_text(stock_csv(price_walk(60, 2), "av"))
    code, out, err = cli(capsys, "prepare", "stocks", "--src", src, "--data-dir", tmp_path / "root")
    assert code == 0, err
    assert files_under(tmp_path / "root") == ["stocks/AAPL.csv", "stocks/MSFT.csv"]
    (src / "ZZZ.csv").write_text(json.dumps({"Error Message": "Invalid API call."}))
    (src / "AAPL.csv").unlink(missing_ok=True)
    code, _, err = cli(capsys, "prepare", "stocks", "--src", src, "--data-dir", tmp_path / "other")
    assert_one_line_error(code, err, str(src / "ZZZ.csv"), "Invalid API call")
    assert not (tmp_path / "other").exists()


def test_download_kth_and_bair_from_a_mirror(tmp_path: Path, capsys) -> None:
    import io
    import tarfile
    import zipfile

    from helpers.data_fabricate import fabricate_bair_raw, fabricate_kth_raw
    from vidpred.data.sets.kth import ACTIONS

    raw = fabricate_kth_raw(tmp_path / "made", {"person01_walking_d1": 24, "person17_boxing_d1": 24})
    bair_raw = fabricate_bair_raw(tmp_path / "made_bair", train=(2,), test=(1,))
    with serve() as server:
        for action in ACTIONS:
            buffer = io.BytesIO()
            with zipfile.ZipFile(buffer, "w") as zf:
                for avi in (raw / action).glob("*.avi") if (raw / action).is_dir() else []:
                    zf.write(avi, avi.name)
            server.files[f"/{action}.zip"] = buffer.getvalue()
        server.files["/00sequences.txt"] = (raw / "00sequences.txt").read_bytes()
        buffer = io.BytesIO()
        with tarfile.open(fileobj=buffer, mode="w") as tf:
            tf.add(bair_raw, arcname="softmotion30_44k")
        server.files["/bair_robot_pushing_dataset_v0.tar"] = buffer.getvalue()
        code, out, err = cli(capsys, "download", "kth", "--data-dir", tmp_path / "root", "--mirror", server.url)
        assert code == 0 and out.startswith("kth: 2 videos -> 48 frames in 4 clips"), err
        code, out, err = cli(capsys, "download", "bair", "--data-dir", tmp_path / "root", "--mirror", server.url)
        assert code == 0 and "bair: 2 train trajectories from 1 files, 1 test" in out, err
    for name, arrays in (("kth", 2), ("bair", 4)):
        code, out, err = cli(capsys, "verify", name, "--data-dir", tmp_path / "root")
        assert code == 0 and out.count(" ok") == arrays, err


def test_missing_crc32c_names_the_extra(tmp_path: Path, capsys, monkeypatch) -> None:
    from helpers.data_fabricate import fabricate_bair_raw

    raw = fabricate_bair_raw(tmp_path / "raw", train=(1,), test=(1,))
    monkeypatch.setitem(sys.modules, "crc32c", None)
    code, _, err = cli(capsys, "prepare", "bair", "--src", raw, "--data-dir", tmp_path / "root")
    assert_one_line_error(code, err, "'crc32c'", "pip install -e '.[video]'")
    assert not (tmp_path / "root" / "bair").exists()


RAW = {  # data set -> (fabricate raw files under a folder, overrides that make a run tiny)
    "mnist": ["data.train_size=8", "data.val_size=4", "data.test_size=4"],
    "stocks": ["data.tickers=[AAPL,MSFT]", "data.train_size=8", "data.val_size=4", "data.test_size=4"],
    "kth": ["data.train_persons=[1,2]", "data.val_persons=[2]", "data.test_persons=[17]"],
    "bair": ["data.val_trajectories=1"],
}


def fabricate_raw(name: str, src: Path) -> Path:
    from helpers.data_fabricate import fabricate_bair_raw, fabricate_kth_raw

    src.mkdir(parents=True)
    if name == "mnist":
        (src / "train-images-idx3-ubyte").write_bytes(encode_idx(digit_images(20)))
        (src / "t10k-images-idx3-ubyte").write_bytes(encode_idx(digit_images(10, 5)))
    elif name == "stocks":
        for k, ticker in enumerate(("AAPL", "MSFT")):
            (src / f"{ticker}.csv").write_text(stock_csv(price_walk(420, k), "yahoo" if k else "av"))
    elif name == "kth":
        fabricate_kth_raw(src, {"person01_walking_d1": 44, "person02_boxing_d1": 44, "person17_running_d2": 44})
    else:
        return fabricate_bair_raw(src, train=(3,), test=(2,))
    return src


def run_last(name: str, root: Path, overrides: list[str], run_dir: Path) -> dict:
    """``python -m vidpred.run model=last data=NAME``, in-process on the same composed config (the
    command line itself has its own tests); returns metrics.json."""
    from helpers.config import experiment_config
    from vidpred.experiment import run_experiment

    args = ["model=last", f"data={name}", f"paths.data_dir={root}", "data.num_workers=0", "trainer.progress=off",
            *overrides]
    run_experiment(experiment_config(args), run_dir)
    return json.loads((run_dir / "metrics.json").read_text())


@pytest.mark.parametrize("name", sorted(RAW))
def test_raw_to_prepare_verify_show_run(tmp_path: Path, capsys, name: str) -> None:
    """The issue's "done when": raw files -> prepare -> verify -> show -> python -m vidpred.run."""
    src = fabricate_raw(name, tmp_path / "raw")
    root = tmp_path / "root"
    for command in (["prepare", name, "--src", src], ["verify", name],
                    ["show", name, "--split", "test", "--index", "1", "--out", tmp_path / "item.npy", *RAW[name]]):
        code, out, err = cli(capsys, *command, "--data-dir", root)
        assert code == 0, (command, err)
    item = np.load(tmp_path / "item.npy")
    assert item.dtype == np.float32 and item.shape[0] == (40 if name == "stocks" else 20)
    metrics = run_last(name, root, RAW[name], tmp_path / "run")
    assert metrics["status"] == "completed" and metrics["choices"]["data"] == name
    assert 0 < metrics["test"]["mse"] < 1


@pytest.mark.parametrize("name", ["mnist", "stocks"])
def test_real_files_prepare_verify_show_run(tmp_path: Path, capsys, shared_data: Path, name: str) -> None:
    """The done-when path on the real MNIST test digits and stock CSVs."""
    root = tmp_path / "root"
    tiny = {"mnist": ["data.train_digits=test", "data.train_size=8", "data.val_size=4", "data.test_size=4"],
            "stocks": ["data.train_size=64", "data.val_size=16", "data.test_size=16"]}[name]
    code, out, err = cli(capsys, "prepare", name, "--src", shared_data / name, "--data-dir", root)
    assert code == 0, err
    code, out, err = cli(capsys, "verify", name, "--data-dir", root)
    assert code == 0, err
    if name == "mnist":
        assert "t10k-images-idx3-ubyte.gz: 10000 images ok" in out
        assert "train-images-idx3-ubyte.gz: absent; data=mnist needs it" in out
    else:
        assert "GOOGL.csv: 4109 days 2004-08-19 .. 2020-12-11 ok" in out
    code, out, err = cli(capsys, "show", name, "--index", "2", "--out", tmp_path / "item.png", "--data-dir", root, *tiny)
    assert code == 0 and (tmp_path / "item.png").stat().st_size > 1000, err
    metrics = run_last(name, root, tiny, tmp_path / "run")
    assert metrics["status"] == "completed" and 0 < metrics["test"]["mse"] < 1
