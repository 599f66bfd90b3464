"""Find run folders on disk and read them into records and one tidy table.

A run folder is any folder holding ``metrics.json`` or a Hydra ``.hydra/config.yaml``. Nothing
here needs Hydra's end-of-sweep callback (never called when a job fails): whatever is on disk is
read, and jobs that failed or never finished are kept with the reason.
"""

from __future__ import annotations

import functools
import json
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from vidpred import runfolder
from vidpred.errors import UserError

# Folders inside a run that never hold another run: skipping them keeps the walk fast.
SKIP_DIRS = {*runfolder.FOLDERS, ".submitit", "__pycache__"}
CHOICE_KEYS = ("model", "data", "layers", "seed")
# Overrides that define a table cell or a sweep, not a variant of the experiment.
CELL_KEYS = {"model", "data", "layers", "seed", "loss", "experiment", "logger", "trainer.progress"}
# How long a run trains and how much of the test split it scores change its numbers, but a resume may
# change them, so metrics.json's settings leave them out: the report reads them from the run's config.
LENGTH_KEYS = ("trainer.max_epochs", "trainer.max_steps", "trainer.limit_train_batches", "trainer.limit_test_batches")
# Settings that runs of one experiment may differ in and still be pooled into one table cell.
POOLED_OVER = ("seed",)
#: What runs written before ``metrics.json`` recorded their model's declaration are known to be: the
#: study's baselines (no layers, no training); every other model of those runs is trained and layered.
LEGACY_BASELINES = {"last": "baseline: last value", "mean": "baseline: context mean",
                    "linear": "baseline: linear (least squares)"}
LAYER_KEYS = ("layers", "model.layers")  # nothing to a model without layers
DONE = "completed"
UNFINISHED = "unfinished"


class ReportError(UserError):
    """Nothing to report, or a path that does not exist."""


@dataclass
class RunRecord:
    """What one run folder says about its run."""

    path: Path
    status: str                       # completed | failed | diverged | unfinished
    reason: str | None                # why it is not completed
    choices: dict[str, Any]           # model, data, layers, seed, trainer, precision
    overrides: dict[str, str] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)

    @property
    def completed(self) -> bool:
        return self.status == DONE

    @property
    def loss(self) -> str:
        """The training loss (loss=mse, the study's, unless the run chose another)."""
        return str(self.choices.get("loss") or "mse")

    @property
    def declaration(self) -> dict[str, Any]:
        """The model's declaration as the run recorded it (label, layered, trainable)."""
        found = as_mapping(self.metrics.get("declaration"))
        if found:
            return found
        model = str(self.choices.get("model"))
        legacy = model in LEGACY_BASELINES
        return {"label": LEGACY_BASELINES.get(model, model), "layered": not legacy, "trainable": not legacy}

    @property
    def layered(self) -> bool:
        """Whether ``layers`` changes the model (a baseline's runs at several layer counts are one)."""
        return bool(self.declaration.get("layered", True))

    @property
    def trainable(self) -> bool:
        return bool(self.declaration.get("trainable", True))

    @property
    def label(self) -> str:
        return str(self.declaration.get("label") or self.choices.get("model"))

    @property
    def variant(self) -> str:
        """The run's settings beyond model, data, layers and seed (empty: the defaults)."""
        return " ".join(f"{k}={v}" for k, v in sorted(self.overrides.items())
                        if k not in CELL_KEYS and not k.startswith("hydra"))

    @functools.cached_property
    def settings(self) -> dict[str, Any] | None:
        """What the run computed with, as the report compares runs: the result-shaping settings of
        ``metrics.json`` and the run's length from its config, less the seed (and the layers of a model
        without them); None for a run that did not record its settings."""
        saved = self.metrics.get("settings")
        if not isinstance(saved, dict):
            return None
        found = {k: v for k, v in saved.items() if k not in POOLED_OVER}
        for key in LENGTH_KEYS:
            value = _config_value(self.path, key)
            if value is not None:
                found[key] = value
        if not self.layered:
            found = {k: v for k, v in found.items() if k not in LAYER_KEYS}
        if not self.trainable:  # scored as fitted, whatever the loop and optimiser
            found = {k: v for k, v in found.items() if not k.startswith(("optim.", "trainer."))
                     or k in ("trainer.limit_val_batches", "trainer.limit_test_batches")}
        return found

    @property
    def comparable(self) -> dict[str, Any]:
        """The settings runs are told apart by: :attr:`settings`, or for a run without them its
        overrides beyond model, data, layers and seed."""
        if self.settings is not None:
            return self.settings
        return {k: v for k, v in self.overrides.items() if k not in CELL_KEYS and not k.startswith("hydra")}

    @property
    def sweep(self) -> str:
        """Name of the sweep or search folder holding the run."""
        return self.path.parent.name if runfolder.is_sweep_folder(self.path.parent) else ""

    def history(self) -> pd.DataFrame | None:
        path = runfolder.history_path(self.path)
        try:
            return pd.read_csv(path) if path.is_file() else None
        except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError):
            return None

    def sample_images(self) -> list[Path]:
        return sorted(runfolder.samples_dir(self.path).glob("*.png"))


def find_run_dirs(paths: Sequence[str | Path]) -> list[Path]:
    """Every run folder under ``paths`` (each may be a run folder itself), sorted, no duplicates."""
    found: set[Path] = set()
    for raw in paths:
        root = Path(raw)
        if not root.is_dir():
            raise ReportError(f"{root} is not a folder; give run or sweep folders (e.g. outputs/multirun)")
        found.update(_walk(root.resolve()))
    return sorted(found)


def _walk(folder: Path) -> Iterable[Path]:
    if runfolder.metrics_path(folder).is_file() or runfolder.hydra_path(folder).is_file():
        yield folder
        return  # a run folder holds no further runs
    try:
        children = sorted(p for p in folder.iterdir() if p.is_dir() and p.name not in SKIP_DIRS)
    except PermissionError:
        return
    for child in children:
        yield from _walk(child)


def _read_yaml(path: Path) -> Any:
    try:
        return yaml.safe_load(path.read_text()) if path.is_file() else None
    except (yaml.YAMLError, OSError, UnicodeDecodeError):
        return None


def as_mapping(value: Any) -> dict[str, Any]:
    """A file's content where a mapping is expected: anything else (a list, null) reads as empty."""
    return value if isinstance(value, dict) else {}


def _parse_overrides(lines: Any) -> dict[str, str]:
    overrides: dict[str, str] = {}
    for line in lines if isinstance(lines, list) else []:
        key, sep, value = str(line).partition("=")
        if sep:
            overrides[key.lstrip("+~")] = value
    return overrides


def _choices_from_hydra(folder: Path) -> dict[str, Any]:
    """Model, data, layers and seed of a run that never wrote ``metrics.json``."""
    config = as_mapping(_read_yaml(runfolder.hydra_path(folder, "config.yaml")))
    runtime = as_mapping(as_mapping(as_mapping(_read_yaml(runfolder.hydra_path(folder, "hydra.yaml"))).get("hydra")).get("runtime"))
    choices = as_mapping(runtime.get("choices"))

    def name(group: str) -> Any:
        node = config.get(group)
        return node.get("name") if isinstance(node, dict) else choices.get(group)

    return {"model": name("model"), "data": name("data"), "loss": name("loss"), "layers": config.get("layers"),
            "seed": config.get("seed"), "trainer": name("trainer"),
            "precision": str(as_mapping(config.get("trainer")).get("precision", ""))}


def read_run(folder: Path) -> RunRecord:
    """The record of one run folder, whatever state it was left in."""
    overrides = _parse_overrides(_read_yaml(runfolder.hydra_path(folder, "overrides.yaml")))
    metrics_path = runfolder.metrics_path(folder)
    if not metrics_path.is_file():
        return RunRecord(folder, UNFINISHED, "no metrics.json: the job was killed or failed before "
                         "training started", _choices_from_hydra(folder), overrides)
    try:
        metrics = json.loads(metrics_path.read_text())
    except (json.JSONDecodeError, OSError, UnicodeDecodeError) as exc:
        return RunRecord(folder, UNFINISHED, f"metrics.json unreadable ({exc})",
                         _choices_from_hydra(folder), overrides)
    if not isinstance(metrics, dict):
        return RunRecord(folder, UNFINISHED, f"metrics.json holds {type(metrics).__name__}, not a JSON object",
                         _choices_from_hydra(folder), overrides)
    choices = {**_choices_from_hydra(folder), **as_mapping(metrics.get("choices"))}
    overrides = overrides or _parse_overrides(metrics.get("overrides"))  # a refused attempt writes no .hydra/
    status = metrics.get("status", UNFINISHED)
    reason = metrics.get("error")
    if status == "running":
        status = UNFINISHED
        who = runfolder.read_holder(folder / runfolder.LOCK) or as_mapping(metrics.get("process"))
        if runfolder.holder_alive(folder):
            reason = (f"running (process {who.get('pid', '?')} on {who.get('host', '?')}, started "
                      f"{metrics.get('started_at', '?')}, metrics last written {_mtime(metrics_path)})")
        elif metrics.get("search"):  # a search's trial: the search continues it
            reason = (f"interrupted (process gone: {who.get('pid', '?')} on {who.get('host', '?')}); "
                      "the search continues it when its command runs again")
        else:
            reason = (f"interrupted (process gone: {who.get('pid', '?')} on {who.get('host', '?')}); "
                      f"resume with: python -m vidpred.run hydra.run.dir={folder} (same settings)")
    elif status != DONE and not reason:
        reason = f"status {status}"
    return RunRecord(folder, status, reason, choices, overrides, metrics)


def _mtime(path: Path) -> str:
    return datetime.fromtimestamp(path.stat().st_mtime).astimezone().isoformat(timespec="seconds")


def collect(paths: Sequence[str | Path]) -> list[RunRecord]:
    """Read every run folder under ``paths``; fails with one line when there is none."""
    runs = [read_run(folder) for folder in find_run_dirs(paths)]
    if not runs:
        raise ReportError(f"no run folders (with metrics.json or .hydra/) under {', '.join(map(str, paths))}; "
                          "point at a run or sweep folder, e.g. outputs/multirun")
    return runs


def _scalar_items(prefix: str, node: Any) -> Iterable[tuple[str, Any]]:
    """Flatten nested metrics to ``prefix_key`` columns; lists (per-step curves) stay out."""
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _scalar_items(f"{prefix}_{key}" if prefix else str(key), value)
    elif isinstance(node, (int, float, str, bool)) or node is None:
        yield prefix, node


def _config_value(folder: Path, dotted: str) -> Any:
    """The value of ``a.b.c`` in a run's composed config (``.hydra/config.yaml``), or None."""
    node: Any = _read_yaml(runfolder.hydra_path(folder, "config.yaml"))
    for part in dotted.split("."):
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return None if isinstance(node, (dict, list)) else node


def tidy_frame(runs: Sequence[RunRecord]) -> pd.DataFrame:
    """One row per run: folder, status, reason, every choice and override, every scalar metric.

    A key overridden in some runs gets a value in every row: runs that kept the default take it
    from their composed config, so a pivot on ``optim.lr`` does not pool them under a blank label.
    """
    override_keys = sorted({k for run in runs for k in run.overrides})
    rows = []
    for run in runs:
        row: dict[str, Any] = {"run_dir": str(run.path), "sweep": run.sweep, "status": run.status,
                               "reason": run.reason}
        row.update(run.choices)
        row.update({k: v for k, v in run.overrides.items() if k not in row})
        for key in override_keys:
            if key not in row:
                row[key] = _config_value(run.path, key)
        row["variant"] = run.variant
        m = run.metrics
        for section in ("test", "val", "train"):
            row.update(_scalar_items(section, as_mapping(m.get(section))))
        for key in ("params", "device", "precision", "test_checkpoint", "started_at", "finished_at"):
            if key in m:
                row[key] = m[key]
        rows.append(row)
    frame = pd.DataFrame(rows)
    for key in ("layers", "seed"):
        if key in frame:
            frame[key] = pd.to_numeric(frame[key], errors="coerce").astype("Int64")
    return frame


def dedupe_baselines(runs: Sequence[RunRecord]) -> list[RunRecord]:
    """Baselines have no layers, so a baseline run repeated at several layer counts is one
    experiment: keep the first completed run of each (model, data, seed, variant). Runs of other
    models pass through."""
    seen: set[tuple[Any, ...]] = set()
    kept = []
    for run in sorted(runs, key=lambda r: (not r.completed, str(r.path))):
        if run.layered:
            kept.append(run)
            continue
        key = (run.choices.get("model"), run.choices.get("data"), run.choices.get("seed"), run.variant)
        if run.completed and key in seen:
            continue
        if run.completed:
            seen.add(key)
        elif any(k[:3] == key[:3] for k in seen):
            continue  # a failed repeat of a baseline that completed elsewhere adds nothing
        kept.append(run)
    return kept


def shown_value(value: Any) -> str:
    """A setting's value as a label shows it."""
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(shown_value(v) for v in value) + "]"
    return "null" if value is None else str(value)


def varying_keys(runs: Sequence[RunRecord]) -> set[str]:
    """The settings in which ``runs`` differ (the seed aside): what keeps them from one table cell."""
    keys = {k for run in runs for k in run.comparable}
    return {k for k in keys if len({repr(run.comparable.get(k)) for run in runs}) > 1}


def settings_label(run: RunRecord, keys: Iterable[str]) -> str:
    """``key=value, ...`` of the run's ``keys``, sorted: how its table row or curve is told apart."""
    return ", ".join(f"{k}={shown_value(run.comparable.get(k))}" for k in sorted(keys))


def finite(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
