"""Running ``python -m vidpred.run`` in-process from tests (Hydra's real command line, without the
start-up of a new interpreter) and checking its one-line errors."""

from __future__ import annotations

import logging
from pathlib import Path

from vidpred.run import main


def run_cli(capsys, *argv: object) -> tuple[int, str, str]:  # noqa: ANN001
    """``python -m vidpred.run ARGV`` in this process; returns (exit code, stdout, stderr)."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    try:
        main([str(a) for a in argv])
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    finally:
        # Hydra points the log at this test's captured stderr and the run's run.log: undo that, or a
        # later test would log into closed streams.
        for handler in root.handlers:
            if handler not in handlers:
                handler.close()
        root.handlers[:] = handlers
        root.setLevel(level)
    out = capsys.readouterr()
    return code, out.out, out.err


def train_on_prices(tmp_path: Path, capsys, columns: str) -> tuple[Path, Path, Path]:  # noqa: ANN001
    """Two fabricated Yahoo price files (2019-2020) prepared as ``data=series`` with
    ``data.columns=COLUMNS``, and a tiny LSTM trained on them; returns (prices, data folder, run)."""
    from helpers.data_cli import cli
    from helpers.data_fabricate import yahoo_daily_csv

    src, data, run = tmp_path / "prices", tmp_path / "data", tmp_path / "run"
    for k, ticker in enumerate(("ACME", "GLOBEX")):
        yahoo_daily_csv(src / f"{ticker}.csv", k, start="2019-01-02", end="2020-12-31")
    assert cli(capsys, "prepare", "series", "--src", src, "--data-dir", data, f"data.columns={columns}")[0] == 0
    code, _, err = run_cli(capsys, "data=series", f"paths.data_dir={data}", "model.hidden=4", "trainer.max_epochs=1",
                           "trainer.limit_train_batches=2", "trainer.progress=off", f"hydra.run.dir={run}")
    assert code == 0, err
    return src, data, run
