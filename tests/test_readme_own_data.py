"""The README's "Your own data" and "Predicting" sections, run command by command exactly as written,
from a fresh folder holding the data they describe (fabricated here): clips panned and zoomed over
photographs as mp4 files, GIFs and folders of PNG frames, and daily Yahoo price files of three
companies with weekends, holidays and missing days."""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from helpers.config import REPO
from helpers.data_fabricate import market_days, yahoo_daily_csv
from helpers.media_fabricate import fabricate_pans
from helpers.run_cli import run_cli


def section(start: str, end: str) -> str:
    text = (REPO / "README.md").read_text()
    return text[text.index(start):text.index(end)]


def blocks(text: str, language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", text, flags=re.S)


def commands(text: str) -> list[list[str]]:
    """Every command of the bash blocks, continuation lines joined, comments dropped."""
    found = []
    for block in blocks(text, "bash"):
        for line in block.replace("\\\n", " ").splitlines():
            argv = shlex.split(line, comments=True)
            if argv:
                found.append(argv)
    return found


def run_command(argv: list[str], capsys) -> tuple[int, str, str]:  # noqa: ANN001
    """``python -m vidpred.X ...`` in this process, as the shell would run it."""
    assert argv[:2] == ["python", "-m"], argv
    module, args = argv[2], argv[3:]
    if module == "vidpred.run":
        return run_cli(capsys, *args)
    main = {"vidpred.data": "vidpred.data.cli", "vidpred.predict": "vidpred.predict"}[module]
    import importlib

    try:
        importlib.import_module(main).main(args)
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    out = capsys.readouterr()
    return code, out.out, out.err


def test_the_own_data_and_predicting_sections_work_as_written(tmp_path: Path, capsys,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("VIDPRED_DATA_DIR", raising=False)  # a fresh clone: data/ under the working folder
    fabricate_pans(tmp_path / "clips", frames=48, height=72, width=96, counts=(3, 2, 2))
    for k, company in enumerate(("ACME", "GLOBEX", "INITECH")):
        yahoo_daily_csv(tmp_path / "prices" / f"{company}.csv", k, start="2019-01-02", end="2020-12-31",
                        null_days=("2019-11-20",), empty_volume_days=("2020-05-13",))
    text = section("## Your own data\n", "## Reference\n")
    ran = []
    for argv in commands(text):
        code, out, err = run_command(argv, capsys)
        assert code == 0, (" ".join(argv), err[-3000:])
        ran.append(argv[2])
    assert ran.count("vidpred.run") == 3 and ran.count("vidpred.predict") == 5

    # what the commands promise
    pans = json.loads((tmp_path / "outputs" / "pans_convlstm" / "metrics.json").read_text())
    assert pans["choices"]["model"] == "convlstm" and pans["data"]["frame_shape"] == [3, 32, 32]
    prices = json.loads((tmp_path / "outputs" / "prices_lstm" / "metrics.json").read_text())
    assert prices["data"]["columns"] == ["Close"] and prices["settings"]["data.missing"] == "drop"
    forecast = pd.read_csv(tmp_path / "predictions" / "acme" / "ACME.csv", parse_dates=["time"])
    days = market_days("2019-01-02", "2020-12-31")
    assert forecast["time"].iloc[0] == days[-1] + pd.offsets.BDay(1)  # the next business day on
    march = json.loads((tmp_path / "predictions" / "acme_march" / "summary.json").read_text())["predictions"][0]
    assert march["at_time"] == "2020-03-02 00:00:00" and set(march["scores_in_data_units"]) == {"Close"}
    assert (tmp_path / "predictions" / "market" / "market0.gif").is_file()
    assert np.load(tmp_path / "predictions" / "pans_long" / "harbour0.npy").shape == (30, 3, 32, 32)

    # the Python example, as written
    (snippet,) = blocks(text, "python")
    scope: dict = {}
    exec(compile(snippet, "README.md", "exec"), scope)  # noqa: S102
    assert scope["future"].shape == (20, 1)
