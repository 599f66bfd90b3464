"""Tables from run records: the study's Tables 1 and 2 beside its numbers, and a generic pivot.

Every cell is the mean +- sample standard deviation over the completed runs in it, with their
count ``n``; runs of the cell that did not complete are counted beside it, never averaged in. A
completed run whose value is not a finite number (``nan``, ``inf``; ``null`` in ``metrics.json``,
where vidpred writes a value that is not finite) is shown as such beside the finite ones, never
averaged in either. Huge finite values are averaged without overflowing.
A table is a :class:`Grid` of strings (rendered to Markdown or LaTeX) plus long-format records
(written as CSV) that keep the unrounded numbers.
"""

from __future__ import annotations

import functools
import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from vidpred import runfolder
from vidpred.errors import ConfigError
from vidpred.report.collect import (ReportError, RunRecord, as_mapping, dedupe_baselines, settings_label, tidy_frame,
                                    varying_keys)
from vidpred.report.study import StudyTable

MISSING = "—"
SECTIONS = ("test", "val", "train")


def _kind(value: float) -> str:
    return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")


@dataclass
class Cell:
    """The runs that fall into one table cell: runs of one experiment, differing in the seed alone."""

    values: list[float] = field(default_factory=list)       # finite values of completed runs
    not_finite: list[float] = field(default_factory=list)   # nan or +-inf values of completed runs
    not_completed: int = 0

    def add(self, value: float) -> None:
        (self.values if math.isfinite(value) else self.not_finite).append(value)

    @property
    def n(self) -> int:
        return len(self.values)

    def _scaled(self) -> tuple[np.ndarray, float]:
        """The values divided by the largest magnitude: 1e308 + 1e308 must not overflow."""
        scale = max(abs(v) for v in self.values) or 1.0
        return np.array(self.values) / scale, scale

    @property
    def mean(self) -> float | None:
        if not self.values:
            return None
        values, scale = self._scaled()
        return float(np.mean(values) * scale)

    @property
    def std(self) -> float | None:
        """Sample standard deviation (ddof 1); ``None`` below two runs."""
        if self.n < 2:
            return None
        values, scale = self._scaled()
        return float(np.std(values, ddof=1) * scale)

    def text(self, mean_spec: str = ".3e", std_spec: str = ".1e") -> str:
        """``mean ± std (n=...)``, with what did not count beside it (the formats: ``format()`` specs)."""
        odd = Counter(_kind(v) for v in self.not_finite)
        if not self.values:
            body = f"{', '.join(sorted(odd))} (n={len(self.not_finite)})" if odd else MISSING
            odd = Counter()
        elif self.std is None:
            body = f"{self.mean:{mean_spec}} (n=1)"
        else:
            body = f"{self.mean:{mean_spec}} ± {self.std:{std_spec}} (n={self.n})"
        body += "".join(f" +{count} {kind}" for kind, count in sorted(odd.items()))
        return body + (f" +{self.not_completed} not completed" if self.not_completed else "")


@dataclass
class Grid:
    """A rendered table: a title, column headers and rows of cell strings."""

    title: str
    header: list[str]
    rows: list[list[str]]
    notes: list[str] = field(default_factory=list)

    def markdown(self) -> str:
        lines = ["| " + " | ".join(self.header) + " |",
                 "|" + "|".join("---" if i == 0 else "---:" for i in range(len(self.header))) + "|"]
        lines += ["| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |" for row in self.rows]
        return "\n".join(lines) + "\n"

    def latex(self) -> str:
        spec = "l" + "r" * (len(self.header) - 1)
        body = [" & ".join(_tex(cell) for cell in row) + r" \\" for row in self.rows]
        return "\n".join([r"\begin{table}[ht]", r"\centering", rf"\caption{{{_tex(self.title)}}}",
                          rf"\begin{{tabular}}{{{spec}}}", r"\hline",
                          " & ".join(_tex(h) for h in self.header) + r" \\", r"\hline", *body,
                          r"\hline", r"\end{tabular}", r"\end{table}"]) + "\n"


def _tex(text: str) -> str:
    for old, new in (("\\", r"\textbackslash{}"), ("&", r"\&"), ("%", r"\%"), ("_", r"\_"),
                     ("#", r"\#"), ("±", r"$\pm$"), ("—", "--"), ("×", r"$\times$")):
        text = text.replace(old, new)
    return text


def _ratio(mean: float | None, study: float | None) -> float | None:
    return mean / study if mean is not None and study else None


def _fmt(value: float | None, spec: str) -> str:
    if value is None:
        return MISSING
    return format(value, spec) if math.isfinite(value) else _kind(value)


def metric_value(run: RunRecord, metric: str) -> float | None:
    """``metric`` (``test_mse``: section ``test``, key ``mse``) of a run as a float: ``nan`` where
    metrics.json holds null or something that is not a number; None where the run has no such key."""
    section, _, key = metric.partition("_")
    found = as_mapping(run.metrics.get(section))
    if key not in found or isinstance(found[key], (list, dict)):
        return None
    value = found[key]
    try:
        return float("nan") if value is None or isinstance(value, bool) else float(value)
    except (TypeError, ValueError):
        return float("nan")


def _fill(cell: Cell, run: RunRecord, metric: str) -> None:
    if not run.completed:
        cell.not_completed += 1
        return
    value = metric_value(run, metric)
    if value is not None:
        cell.add(value)


@functools.lru_cache(maxsize=64)
def study_settings(table_key: str, model: str, data: str, layers: int, trainer: str, loss: str) -> dict[str, Any] | None:
    """The settings of the study's experiment: the preset's, with the run's model, data, layers,
    trainer and loss (a run is compared on the keys it recorded, plus how long it trains); None where
    they do not compose (an option no longer there)."""
    from vidpred import config  # Hydra's compose API, only where a study table is drawn

    try:
        plain = config.to_plain(config.compose([f"experiment={table_key}", f"model={model}", f"data={data}",
                                                f"layers={layers}", f"trainer={trainer}", f"loss={loss}"]))
    except ConfigError:
        return None
    flat = runfolder.shaping_settings(plain)
    flat.update({f"trainer.{k}": v for k, v in plain["trainer"].items()})
    return flat


def study_difference(table: StudyTable, run: RunRecord) -> str:
    """How the run's settings differ from the study's ("" where they are the study's): the keys that
    differ, and the trainer where it is not the default one. A run without recorded settings is
    judged by its overrides."""
    if run.settings is None:
        return run.variant
    c = run.choices
    reference = study_settings(table.key, str(c.get("model")), str(c.get("data")), int(c.get("layers") or 1),
                               str(c.get("trainer") or "default"), run.loss)
    if reference is None:
        return "settings not comparable with the study's"
    keys = [k for k in run.settings if k in reference and run.settings[k] != reference[k]]
    trainer = [] if (c.get("trainer") or "default") == "default" else [f"trainer={c.get('trainer')}"]
    return ", ".join([*trainer, settings_label(run, keys)] if keys else trainer)


def study_table(table: StudyTable, runs: Sequence[RunRecord]) -> tuple[Grid, list[dict[str, Any]]] | None:
    """The study's table filled with ``runs`` (``None`` when no run belongs to it). Runs with the
    study's settings fill its rows, beside its numbers and the ratio; runs with other settings get rows
    of their own that say how they differ, without a ratio."""
    mine = [r for r in runs if r.choices.get("data") in table.data]
    main = [r for r in mine if r.choices.get("model") == table.model]
    # baselines: the models fitted without gradient steps (a trained model without layers is none)
    baseline_runs = dedupe_baselines([r for r in mine if not r.trainable])
    baselines = {str(r.choices.get("model")): r.label for r in baseline_runs}
    if not main and not baseline_runs:
        return None
    differs = {id(r): study_difference(table, r) for r in [*main, *baseline_runs]}
    found_layers = {int(r.choices["layers"]) for r in main if isinstance(r.choices.get("layers"), int)}
    # Runs trained with another loss than the study's (loss=adversarial) get rows of their own.
    losses = ["mse", *sorted({r.loss for r in main} - {"mse"})]
    row_keys: list[tuple[str, str, int | None, str]] = []
    for loss in losses:
        for n in sorted(set(table.layers) | found_layers):
            ours = [r for r in main if r.loss == loss and r.choices.get("layers") == n]
            if loss == "mse" or any(differs[id(r)] == "" for r in ours):
                row_keys.append((table.model, loss, n, ""))
            row_keys += [(table.model, loss, n, v) for v in sorted({differs[id(r)] for r in ours} - {""})]
    for b in sorted(baselines):
        ours = [r for r in baseline_runs if r.choices.get("model") == b]
        row_keys += [(b, "mse", None, v) for v in sorted({differs[id(r)] for r in ours}, key=lambda v: (v != "", v))]

    cells = {(*key, d): Cell() for key in row_keys for d in table.data}
    for run in main:
        key = (table.model, run.loss, run.choices.get("layers"), differs[id(run)], run.choices.get("data"))
        if key in cells:
            _fill(cells[key], run, table.metric)
    for run in baseline_runs:
        _fill(cells[(run.choices["model"], "mse", None, differs[id(run)], run.choices["data"])], run, table.metric)

    header = [""]
    for d in table.data:
        header += [f"{table.data_labels[d]} ({d})", "study", "ratio"]
    grid = Grid(table.title, header, [])
    records: list[dict[str, Any]] = []
    for model, loss, layers, variant in row_keys:
        name = table.model_label if loss == "mse" else f"{table.model_label} (loss={loss})"
        label = (f"{name}, {layers} layer{'s' if layers != 1 else ''}" if layers is not None
                 else baselines[model])
        label += f" [{variant}]" if variant else ""
        row = [label]
        for d in table.data:
            cell = cells[(model, loss, layers, variant, d)]
            study = table.study_value(d, layers) if layers is not None else None
            ratio = _ratio(cell.mean, study) if not variant else None
            row += [cell.text(), _fmt(study, ".3e"), _fmt(ratio, ".2f") if not variant or study is None or not cell.n
                    else "other settings"]
            records.append({"table": table.key, "row": label, "model": model, "loss": loss, "layers": layers, "data": d,
                            "variant": variant, "metric": table.metric, "mean": cell.mean, "std": cell.std, "n": cell.n,
                            "not_finite": len(cell.not_finite), "not_completed": cell.not_completed,
                            "study": study, "ratio": ratio})
        grid.rows.append(row)
    if any(v for *_, v in row_keys):
        grid.notes.append("rows marked [...] hold runs whose settings differ from the study's as listed; they get no "
                          "ratio to the study")
    return grid, records


def pivot(runs: Sequence[RunRecord], rows: Sequence[str], cols: Sequence[str],
          metric: str) -> tuple[Grid, list[dict[str, Any]]]:
    """Mean +- std (n) of ``metric`` over completed runs, by the ``rows`` x ``cols`` columns of the
    tidy table (any choice, override or metric column). Only runs that differ in the seed alone share
    a cell: where a cell would pool other differences, its row is split by the settings that differ."""
    if "layers" not in (*rows, *cols):
        runs = dedupe_baselines(runs)  # a baseline repeated over layer counts is one run here
    frame = tidy_frame(runs)
    missing = [c for c in (*rows, *cols, metric) if c not in frame.columns]
    if missing:
        raise ReportError(f"unknown column(s) {', '.join(missing)} for the pivot; available: "
                          f"{', '.join(sorted(map(str, frame.columns)))}")
    keys = [*rows, *cols]
    frame = frame.assign(**{k: frame[k].astype("string").fillna("") for k in keys})
    by_path = {str(run.path): run for run in runs}
    members: dict[tuple[str, ...], list[tuple[RunRecord, Any]]] = {}
    for _, record in frame.iterrows():
        members.setdefault(tuple(record[k] for k in keys), []).append((by_path[record["run_dir"]], record))
    # per row, the settings that differ inside any of its cells (the pivot's own keys aside)
    splitting: dict[tuple[str, ...], set[str]] = {}
    for key, found in members.items():
        varying = varying_keys([run for run, _ in found]) - set(keys)
        splitting.setdefault(key[:len(rows)], set()).update(varying)
    cells: dict[tuple[str, ...], Cell] = {}
    for key, found in members.items():
        for run, record in found:
            split = settings_label(run, splitting[key[:len(rows)]])
            cell = cells.setdefault((*key[:len(rows)], split, *key[len(rows):]), Cell())
            if not run.completed:
                cell.not_completed += 1
            elif metric.partition("_")[0] in SECTIONS:
                value = metric_value(run, metric)
                if value is not None:
                    cell.add(value)
            elif pd.notna(number := pd.to_numeric(record[metric], errors="coerce")):
                cell.add(float(number))
    row_values = sorted({k[:len(rows) + 1] for k in cells}, key=_natural)
    col_values = sorted({k[len(rows) + 1:] for k in cells}, key=_natural)
    header = [", ".join(rows) + " \\ " + ", ".join(cols)] + [", ".join(c) for c in col_values]
    grid = Grid(f"{metric} by {', '.join(rows)} x {', '.join(cols)}", header, [])
    records = []
    for r in row_values:
        *values, split = r
        line = [", ".join(values) + (f" [{split}]" if split else "")]
        for c in col_values:
            cell = cells.get((*r, *c), Cell())
            line.append(cell.text())
            records.append({**dict(zip(keys, (*values, *c))), "variant": split, "metric": metric, "mean": cell.mean,
                            "std": cell.std, "n": cell.n, "not_finite": len(cell.not_finite),
                            "not_completed": cell.not_completed})
        grid.rows.append(line)
    if any(r[-1] for r in row_values):
        grid.notes.append("rows marked [...] are split by the settings their runs differ in; a cell pools runs "
                          "that differ in the seed alone")
    return grid, records


def _natural(key: tuple[str, ...]) -> tuple[Any, ...]:
    """Sort numbers as numbers ('2' before '10') and text as text."""
    out: list[Any] = []
    for part in key:
        try:
            out.append((0, float(part), ""))
        except ValueError:
            out.append((1, 0.0, part))
    return tuple(out)
