"""Write a report folder: ``report.md``, the tidy ``runs.csv``, tables as ``.md``/``.csv``/``.tex``
and figures as PNG. Every file is written atomically."""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pandas as pd

from vidpred.io import atomic_path
from vidpred.report import figures
from vidpred.report.compare import comparison_figure, comparison_table, comparisons
from vidpred.report.collect import ReportError, RunRecord, collect, tidy_frame
from vidpred.report.search import objective_figure, searches, section
from vidpred.report.study import OPENSTL_MMNIST_MSE_FRAME, STUDY_TABLES
from vidpred.report.tables import Grid, pivot, study_table

DEFAULT_ROWS = ("model", "layers")
DEFAULT_COLS = ("data",)
DEFAULT_METRIC = "test_mse"


@dataclass
class Report:
    """What a report run wrote (paths inside ``out``) and the runs it read."""

    out: Path
    runs: list[RunRecord]
    tables: dict[str, Path] = field(default_factory=dict)   # table key -> its .md file
    figures: list[Path] = field(default_factory=list)
    figure_notes: list[str] = field(default_factory=list)   # what the figures left out, and why

    @property
    def markdown(self) -> Path:
        return self.out / "report.md"


def _write_text(path: Path, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def _write_frame(path: Path, frame: pd.DataFrame) -> None:
    with atomic_path(path) as tmp:
        frame.to_csv(tmp, index=False)


def _write_table(out: Path, key: str, grid: Grid, records: list[dict[str, Any]]) -> Path:
    _write_frame(out / f"{key}.csv", pd.DataFrame(records))
    _write_text(out / f"{key}.tex", grid.latex())
    md = out / f"{key}.md"
    _write_text(md, f"### {grid.title}\n\n{grid.markdown()}" + "".join(f"\n- note: {n}" for n in grid.notes))
    return md


def _shown(path: Path) -> str:
    """A run folder as the user will recognise it: relative to the working directory if inside."""
    try:
        return os.path.relpath(path) if not os.path.relpath(path).startswith("..") else str(path)
    except ValueError:
        return str(path)


def build_report(paths: Sequence[str | Path], out: str | Path, rows: Sequence[str] = DEFAULT_ROWS,
                 cols: Sequence[str] = DEFAULT_COLS, metric: str = DEFAULT_METRIC,
                 with_figures: bool = True) -> Report:
    """Gather every run under ``paths`` and write the report into ``out``."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise ReportError(f"--out {out} is a file; give a folder for the report")
    runs = collect(paths)
    report = Report(out, runs)
    _write_frame(out / "runs.csv", tidy_frame(runs))

    sections: list[str] = []
    for table in STUDY_TABLES:
        filled = study_table(table, runs)
        if filled is None:
            continue
        grid, records = filled
        report.tables[table.key] = _write_table(out, table.key, grid, records)
        sections.append(f"## {grid.title}\n\n{grid.markdown()}" + "".join(f"\n- note: {n}" for n in grid.notes)
                        + "\nEach cell: mean ± sample std over seeds (n runs); study = the study's "
                        "published value; ratio = ours / study (below 1: lower error than the study). "
                        "Baselines have no layers; repeats at other layer counts count once.\n")
    compared = comparisons(runs)
    for data, found in compared.items():
        grid, records = comparison_table(data, found)
        report.tables[f"compare_{data}"] = _write_table(out, f"compare_{data}", grid, records)
        sections.append(f"## {grid.title}\n\n{grid.markdown()}" + "".join(f"\n- note: {n}" for n in grid.notes) + "\n")
    if tuple(rows) == DEFAULT_ROWS and len({r.loss for r in runs}) > 1:
        rows = ("model", "loss", "layers")  # never average an adversarial run into an mse one
    grid, records = pivot(runs, rows, cols, metric)
    report.tables["pivot"] = _write_table(out, "pivot", grid, records)
    sections.append(f"## All runs: {grid.title}\n\n{grid.markdown()}" + "".join(f"\n- note: {n}" for n in grid.notes))
    for found in searches(runs):
        figure = objective_figure(found, out / "figures") if with_figures else None
        sections.append(section(found, figure))

    if with_figures:
        folder = out / "figures"
        notes = report.figure_notes
        for draw, args in ((figures.loss_curves, (runs, folder, notes)), (figures.per_step_curves, (runs, folder, notes)),
                           (figures.sample_panels, (runs, folder)), (figures.loss_comparison, (runs, folder))):
            report.figures += _drawn(report, draw, *args)
        for data, found in compared.items():
            report.figures += _drawn(report, comparison_figure, data, found, folder, notes)
    _write_text(report.markdown, _report_markdown(paths, runs, sections, report))
    return report


def _drawn(report: Report, draw: Callable[..., list[Path]], *args: Any) -> list[Path]:
    """The figures ``draw(*args)`` made; what matplotlib cannot draw becomes a note in report.md,
    which is always written (a full disk still stops the report)."""
    try:
        return draw(*args)
    except (OverflowError, ValueError, FloatingPointError) as exc:
        report.figure_notes.append(f"{draw.__name__.replace('_', ' ')}: not drawn ({type(exc).__name__}: {exc})")
        return []


def _report_markdown(paths: Sequence[str | Path], runs: Sequence[RunRecord], sections: list[str],
                     report: Report) -> str:
    counts = Counter(run.status for run in runs)
    lines = ["# vidpred report", "",
             f"Generated {datetime.now(timezone.utc).isoformat(timespec='seconds')} from "
             + ", ".join(f"`{p}`" for p in paths) + ".",
             f"{len(runs)} run folders: " + ", ".join(f"{n} {s}" for s, n in sorted(counts.items())) + ".",
             "Metric: `test_mse` is the mean squared error per element (per pixel for video) on the "
             "test split, the unit of the study's tables. Every run folder is listed in `runs.csv`.", ""]
    lines += sections
    if any(t in report.tables for t in ("table2",)):
        lines.append("Published context, Moving MNIST 10 -> 10 (OpenSTL, 200 epochs, `mse_frame` = "
                     "4096 x `mse`): " + ", ".join(f"{k} {v}" for k, v in OPENSTL_MMNIST_MSE_FRAME.items())
                     + ".\n")
    bad = [run for run in runs if not run.completed]
    lines.append("## Runs that did not complete\n")
    if bad:
        lines += ["| run folder | model | data | layers | seed | status | reason |", "|---|---|---|---|---|---|---|"]
        for run in bad:
            c = run.choices
            reason = (run.reason or "").replace("|", "\\|").replace("\n", " ")
            lines.append(f"| `{_shown(run.path)}` | {c.get('model')} | {c.get('data')} | {c.get('layers')} "
                         f"| {c.get('seed')} | {run.status} | {reason} |")
    else:
        lines.append("None: every run completed.")
    lines.append("")
    if report.figures or report.figure_notes:
        lines.append("## Figures\n")
        lines += [f"- note: {note}" for note in report.figure_notes]
        lines += [""] if report.figure_notes else []
        titles = {"loss": "Training loss", "per": "Test MSE per predicted step", "samples": "Sample predictions",
                  "losses": "The same test item, trained with different losses"}
        for prefix, title in titles.items():
            chosen = [f for f in report.figures if f.name.startswith(prefix + "_")]
            if chosen:
                lines.append(f"### {title}\n")
                lines += [f"![{f.stem}](figures/{f.name})\n" for f in chosen]
    return "\n".join(lines) + "\n"
