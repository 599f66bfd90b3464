"""Running ``python -m vidpred.run`` in-process from tests (Hydra's real command line, without the
start-up of a new interpreter) and checking its one-line errors."""

from __future__ import annotations

import logging

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
