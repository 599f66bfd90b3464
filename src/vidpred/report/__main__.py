"""``python -m vidpred.report PATH... [--out DIR] [--rows R --cols C --metric M]``

Gathers every run folder under the PATHs (sweeps, single runs, or folders of them) into
``DIR/report.md`` with the study's tables, a pivot, the failed runs and the figures.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from vidpred.errors import exit_on_user_error
from vidpred.report.build import DEFAULT_COLS, DEFAULT_METRIC, DEFAULT_ROWS, build_report


def _keys(text: str) -> list[str]:
    return [k.strip() for k in text.split(",") if k.strip()]


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m vidpred.report", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("paths", nargs="+", metavar="PATH", help="run or sweep folders, searched recursively")
    parser.add_argument("--out", default="outputs/report", help="report folder (default: %(default)s)")
    parser.add_argument("--rows", default=",".join(DEFAULT_ROWS),
                        help="pivot rows: columns of runs.csv, comma-separated (default: %(default)s)")
    parser.add_argument("--cols", default=",".join(DEFAULT_COLS), help="pivot columns (default: %(default)s)")
    parser.add_argument("--metric", default=DEFAULT_METRIC, help="pivot metric (default: %(default)s)")
    parser.add_argument("--no-figures", action="store_true", help="tables only")
    args = parser.parse_args(argv)
    with exit_on_user_error():
        report = build_report(args.paths, args.out, rows=_keys(args.rows), cols=_keys(args.cols),
                              metric=args.metric, with_figures=not args.no_figures)
    bad = sum(not run.completed for run in report.runs)
    print(f"{len(report.runs)} runs ({bad} not completed) -> {report.markdown}", file=sys.stdout)


if __name__ == "__main__":
    main()
