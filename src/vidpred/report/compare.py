"""The compute-matched comparison of models on one data set (``experiment=zoo``): what each model costs
(parameters, multiply-accumulates per predicted item, training and inference samples/s on the run's
device) beside what it scores on the test set, mean +- std over seeds, and one test item as every
model predicted it.

A data set gets the comparison when its completed runs hold two or more trained models (the model's
label; a baseline's runs show beside them). A row is one model at one setting: its runs differ in the
seed alone, as everywhere in the report. Rows of one model that differ in other settings (the
ConvLSTM's layers, SimVP's translator) are told apart by those settings.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from vidpred import runfolder
from vidpred.plots import read_samples, save_figure
from vidpred.report.collect import RunRecord, as_mapping, dedupe_baselines, finite, settings_label, varying_keys
from vidpred.report.figures import samples_figure
from vidpred.report.tables import Cell, Grid, metric_value

#: The test metrics of the table, in its column order (``lpips`` where the runs computed it), each
#: with the formats of its mean and std: errors span decades, PSNR (dB), SSIM and LPIPS do not.
METRICS = {"mse": (".3e", ".1e"), "mse_frame": (".2f", ".2f"), "psnr": (".2f", ".2f"), "ssim": (".3f", ".3f"),
           "lpips": (".3f", ".3f")}
#: Keys the layers column shows already (and that SimVP and the baselines do not have).
LAYER_KEYS = ("layers", "model.layers")


@dataclass
class Row:
    """The runs of one model at one setting, over seeds."""

    label: str
    layers: Any
    runs: list[RunRecord] = field(default_factory=list)

    @property
    def done(self) -> list[RunRecord]:
        return [run for run in self.runs if run.completed]

    def cell(self, read: Any) -> Cell:
        """Mean +- std over the completed runs of what ``read(run)`` gives (None: not recorded)."""
        cell = Cell(not_completed=len(self.runs) - len(self.done))
        for run in self.done:
            value = read(run)
            if value is not None:
                cell.add(float(value))
        return cell


def _key(run: RunRecord) -> tuple[str, Any, str]:
    layers = run.choices.get("layers") if run.layered else None
    settings = {k: v for k, v in run.comparable.items() if k not in LAYER_KEYS}
    return run.label, layers, json.dumps(settings, sort_keys=True, default=str)


def comparisons(runs: Sequence[RunRecord]) -> dict[str, list[Row]]:
    """Per data set with two or more trained models among its completed runs: its rows, models in the
    order of their first run, then by layers."""
    by_data: dict[str, list[RunRecord]] = {}
    for run in dedupe_baselines(runs):
        by_data.setdefault(str(run.choices.get("data")), []).append(run)
    found = {}
    for data, group in sorted(by_data.items()):
        if len({run.label for run in group if run.completed and run.trainable}) < 2:
            continue
        rows: dict[tuple[str, Any, str], Row] = {}
        for run in sorted(group, key=lambda r: str(r.path)):
            key = _key(run)
            rows.setdefault(key, Row(key[0], key[1])).runs.append(run)
        order = list(dict.fromkeys(row.label for row in rows.values()))
        found[data] = sorted(rows.values(), key=lambda r: (order.index(r.label), _number(r.layers)))
    return found


def _number(value: Any) -> float:
    return float(value) if finite(value) else -1.0


def row_names(rows: Sequence[Row], with_layers: bool = False) -> list[str]:
    """Each row's model, with the settings that tell it from the same model's other rows (and its
    layers where they do, ``with_layers``: a figure has no layers column)."""
    names = []
    for row in rows:
        same = [r for r in rows if r.label == row.label]
        keys = varying_keys([run for r in same for run in r.runs]) - set(LAYER_KEYS)
        shown = [settings_label(row.runs[0], keys)] if len(same) > 1 and keys else []
        if with_layers and len({r.layers for r in same}) > 1:
            shown.insert(0, f"{row.layers} layer{'' if row.layers == 1 else 's'}")
        names.append(row.label + (f" ({', '.join(shown)})" if shown else ""))
    return names


def _count(value: float | None, scale: float, unit: str) -> str:
    return "—" if value is None else f"{value / scale:.2f}{unit}"


def _rate(cell: Cell) -> str:
    if cell.mean is None:
        return "—"
    return f"{cell.mean:.1f}" + (f" ± {cell.std:.1f}" if cell.std is not None else "")


def comparison_table(data: str, rows: Sequence[Row]) -> tuple[Grid, list[dict[str, Any]]]:
    """The compute-matched table of one data set, and its records (unrounded) for CSV."""
    shown = [m for m in METRICS if any(metric_value(run, f"test_{m}") is not None for row in rows for run in row.done)]
    header = ["model", "layers", "params", "GMACs / item", "train samples/s", "inference samples/s",
              *(f"test {m}" for m in shown)]
    grid = Grid(f"Models compared on {data}", header, [])
    records = []
    devices = sorted({str(run.metrics.get("device")) for row in rows for run in row.done})
    for name, row in zip(row_names(rows), rows):
        params = row.cell(lambda r: r.metrics.get("params") if finite(r.metrics.get("params")) else None)
        macs = row.cell(lambda r: r.metrics.get("macs_per_sample") if finite(r.metrics.get("macs_per_sample")) else None)
        train = row.cell(lambda r: as_mapping(r.metrics.get("train")).get("samples_per_second"))
        infer = row.cell(lambda r: as_mapping(r.metrics.get("inference")).get("samples_per_second"))
        scores = {m: row.cell(lambda r, m=m: metric_value(r, f"test_{m}")) for m in shown}
        grid.rows.append([name, "—" if row.layers is None else str(row.layers), _count(params.mean, 1e6, "M"),
                          _count(macs.mean, 1e9, ""), _rate(train), _rate(infer),
                          *(scores[m].text(*METRICS[m]) for m in shown)])
        records.append({"data": data, "model": name, "layers": row.layers, "params": params.mean,
                        "macs_per_sample": macs.mean, "train_samples_per_second": train.mean,
                        "train_samples_per_second_std": train.std, "inference_samples_per_second": infer.mean,
                        "inference_samples_per_second_std": infer.std, "n": len(row.done),
                        "not_completed": len(row.runs) - len(row.done),
                        **{f"test_{m}": scores[m].mean for m in shown},
                        **{f"test_{m}_std": scores[m].std for m in shown}})
    grid.notes.append(f"speeds measured on {', '.join(devices)} while each run trained (training) and scored its "
                      "test set (inference: forward passes only, the first batch left out); a multiply-add counts "
                      "once; scores are mean ± sample std over seeds (n runs)")
    return grid, records


def comparison_panels(data: str, rows: Sequence[Row], notes: list[str]) -> list[tuple[str, dict[str, Any]]]:
    """Each row's saved test predictions (its run with the lowest seed), labelled. A run whose saved
    item differs from the first row's (other test data) is left out, with a note."""
    panels: list[tuple[str, dict[str, Any]]] = []
    for name, row in zip(row_names(rows, with_layers=True), rows):
        for run in sorted(row.done, key=lambda r: (_number(r.choices.get("seed")), str(r.path))):
            found = read_samples(runfolder.samples_dir(run.path))
            if found is None:
                continue
            if panels and not (np.array_equal(found["truth"][:1], panels[0][1]["truth"][:1])
                               and np.array_equal(found["indices"][:1], panels[0][1]["indices"][:1])):
                notes.append(f"compare_{data}.png: {name} left out: its saved test item is not the others' "
                             f"({run.path})")
            else:
                panels.append((name, found))
            break
    return panels


def comparison_figure(data: str, rows: Sequence[Row], folder: Path, notes: list[str]) -> list[Path]:
    """The same test item as every model predicted it, under the truth (none below two models)."""
    panels = comparison_panels(data, rows, notes)
    fig = samples_figure(panels, f"every model on the same test item, {data}") if len(panels) >= 2 else None
    return [] if fig is None else [save_figure(fig, folder / f"compare_{data}.png")]
