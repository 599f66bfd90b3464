"""One declaration per data-set family, read by every command, and the downloadable assets.

A module of ``vidpred.data.sets`` declares its family once, ``FAMILY = FAMILIES.register(DataFamily(...))``:
its name (the option of ``conf/data``), its kind, the builder of its splits and, where it has them,
how to get, convert and check its files. ``python -m vidpred.run``, the ``vidpred.data`` commands, the
benchmark, ``vidpred.predict`` and the tests all read :data:`FAMILIES`; adding a generated data set is
one module, its import in ``vidpred.data``, and ``conf/data/NAME.yaml``. Files that are no data set
but are fetched and checked the same way (the LPIPS metric's weights) are :data:`ASSETS`.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vidpred.data.base import DataSplits, Geometry, Kind
from vidpred.data.folders import default_root
from vidpred.errors import ConfigError, DataError
from vidpred.registry import Registry, call_with_config


@dataclass(frozen=True)
class DataFamily:
    """What a data-set family is and what it can do.

    ``build(**config keys)`` returns the splits; a family that reads files also receives
    ``data_dir`` (``paths.data_dir``). ``download(data_dir, mirror)``, ``prepare(src, data_dir,
    **options)`` and ``verify(data_dir, **options)`` return one line per thing done or checked.
    A family whose sets are prepared with config keys (the user's own clips and series) declares
    ``manifest(data_dir, set)``: the prepared set's manifest (None before it is prepared), whose
    ``settings`` (the keys ``prepare`` was given) are the set's defaults (:func:`with_prepared`).
    ``geometry(config keys)`` says what the settings ask for before anything is read or generated
    (a run checks the model and the memory needed with it first).
    """

    name: str
    kind: Kind
    build: Callable[..., DataSplits]
    download: Callable[..., list[str]] | None = None
    prepare: Callable[..., list[str]] | None = None
    verify: Callable[..., list[str]] | None = None
    manifest: Callable[..., dict[str, Any] | None] | None = None
    geometry: Callable[[dict[str, Any]], Geometry] | None = None

    def plan(self, params: dict[str, Any]) -> Geometry:
        """:attr:`geometry` of ``params``; unknown where the family cannot tell, or a value is of the
        wrong type (the builder names it)."""
        try:
            return self.geometry(params) if self.geometry else Geometry()
        except (TypeError, ValueError, KeyError):
            return Geometry()

    @property
    def reads_files(self) -> bool:
        return "data_dir" in inspect.signature(self.build).parameters

    def get_command(self, data_dir: str | Path | None = None, set_name: str | None = None) -> str:
        """The command that puts this family's files under ``data_dir``."""
        where = "" if data_dir is None or Path(data_dir) == default_root() else f" --data-dir {data_dir}"
        named = f" --name {set_name}" if set_name and set_name != self.name else ""
        download = f"python -m vidpred.data download {self.name}{where}"
        prepare = f"python -m vidpred.data prepare {self.name} --src PATH{named}{where}"
        if self.download and self.prepare:
            return f"{download} (or, with the raw files at hand: {prepare})"
        return download if self.download else prepare


#: Every data-set family, by the option of ``conf/data`` that chooses it.
FAMILIES: Registry[DataFamily] = Registry("data set")


def family(name: str) -> DataFamily:
    return FAMILIES.get(name)


def get_command(name: str, data_dir: str | Path, set_name: str | None = None) -> str:
    """The command that gets data set ``name`` (a named set of it: ``set_name``) into ``data_dir``."""
    return family(name).get_command(data_dir, set_name)


def missing(path: Path, name: str, data_dir: str | Path, what: str = "", hint: str = "",
            set_name: str | None = None) -> DataError:
    """The error for absent data: what is missing and the exact command that gets it."""
    label = f"{what} " if what else ""
    extra = f" ({hint})" if hint else ""
    return DataError(f"{name}: {label}{path} not found; get it with: "
                     f"{get_command(name, data_dir, set_name)}{extra}")


@dataclass(frozen=True)
class Asset:
    """Files a feature needs that are no data set (pretrained weights): ``python -m vidpred.data
    download|verify NAME`` gets and checks them into ``<data_dir>``; each returns one line per file."""

    name: str
    download: Callable[..., list[str]]
    verify: Callable[..., list[str]]


ASSETS: Registry[Asset] = Registry("asset")

#: Keys of ``conf/data/*.yaml`` that the DataLoader takes; every other key (but ``name``) is the builder's.
LOADER_KEYS = ("batch_size", "num_workers")


def split_data_keys(params: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """A data config's keys as (the family builder's, the loader's); ``name`` belongs to neither."""
    builder = {k: v for k, v in params.items() if k not in ("name", *LOADER_KEYS)}
    return builder, {k: params[k] for k in LOADER_KEYS if k in params}


def build_data(name: str, params: dict[str, Any], data_dir: str | Path) -> DataSplits:
    """The splits of data set ``name`` from its config keys ``params``; file-backed families read
    ``data_dir``."""
    chosen = family(name)
    extra = {"data_dir": str(data_dir)} if chosen.reads_files else {}
    return call_with_config(chosen.build, {**params, **extra}, prefix="data")


def override_text(key: str, value: Any, quote: bool = True) -> str:
    """``data.KEY=VALUE`` as it is written on a command line (quoted for the shell where needed)."""
    import shlex

    def text(item: Any) -> str:
        if isinstance(item, bool):
            return str(item).lower()
        if item is None:
            return "null"
        if isinstance(item, (list, tuple)):
            return "[" + ",".join(text(x) for x in item) + "]"
        return str(item)

    written = f"data.{key}={text(value)}"
    return shlex.quote(written) if quote else written


def settings_text(settings: dict[str, Any]) -> str:
    """A prepared set's settings as the overrides that give them (``data.size=32 data.channels=3``)."""
    return " ".join(override_text(k, v, quote=False) for k, v in settings.items())


def prepare_command(name: str, manifest: dict[str, Any], settings: dict[str, Any], data_dir: str | Path,
                    set_name: str | None) -> str:
    """The command that prepares the set again, from the source it was prepared from, with ``settings``."""
    where = "" if Path(data_dir) == default_root() else f" --data-dir {data_dir}"
    named = f" --name {set_name}" if set_name and set_name != name else ""
    given = "".join(f" {override_text(k, v)}" for k, v in settings.items())
    return f"python -m vidpred.data prepare {name} --src {manifest.get('source') or 'PATH'}{named}{where}{given}"


def with_prepared(name: str, params: dict[str, Any], data_dir: str | Path, given: set[str]) -> dict[str, Any]:
    """``params`` with the settings the set was prepared with for every key not in ``given`` (the keys
    the user gave); a given key whose value differs from the prepared one is refused in one line that
    says how to prepare the set again."""
    chosen = family(name)
    manifest = chosen.manifest(str(data_dir), params.get("set")) if chosen.manifest else None
    prepared = {k: v for k, v in ((manifest or {}).get("settings") or {}).items() if k in params}
    differ = {k: params[k] for k in sorted(given & prepared.keys()) if params[k] != prepared[k]}
    if differ:
        set_name = params.get("set") or name
        asked = ", ".join(f"{override_text(k, v, quote=False)} (prepared: "
                          f"{override_text(k, prepared[k], quote=False).split('=', 1)[1]})"
                          for k, v in differ.items())
        raise ConfigError(f"the set {set_name} was prepared with other settings than this asks for: {asked}; "
                          f"leave {', '.join(f'data.{k}' for k in differ)} out to use the prepared "
                          f"{'values' if len(differ) > 1 else 'value'}, or prepare the set again: "
                          + prepare_command(name, manifest or {}, {**prepared, **differ}, data_dir, params.get("set")))
    return {**params, **prepared}
