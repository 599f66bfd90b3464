"""The one place that knows vidpred's Hydra config tree: where ``conf/`` is, composing it, the
resolvers that name run folders, and turning a Hydra or OmegaConf failure into one line.

Only the entry points (``vidpred.run``, ``vidpred.perf.bench``, ``vidpred.data``, ``vidpred.predict``,
``vidpred.report``) call into this module; everything below them takes plain dictionaries and typed
arguments.
"""

from __future__ import annotations

import os
import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from vidpred.errors import ConfigError


def find_config_dir() -> Path:
    """``conf/`` of a source checkout (editable install), else the copy installed in the package."""
    here = Path(__file__).resolve().parent
    for candidate in (here.parents[1] / "conf", here / "conf"):
        if (candidate / "config.yaml").exists():
            return candidate
    raise FileNotFoundError("vidpred's conf/ folder was not found beside the package")


CONFIG_DIR = find_config_dir()
CONFIG_NAME = "config"

# ---------------------------------------------------------------- run folder names
@dataclass(frozen=True)
class RunStamp:
    """When a command started and a token unique to its process: run and sweep folder names carry both
    (``${stamp:%H-%M-%S}``, ``${unique:}`` in ``conf/config.yaml``), so two runs started in the same
    second never share a folder."""

    started: datetime
    token: str

    @classmethod
    def new(cls) -> RunStamp:
        return cls(datetime.now(), f"{os.getpid():x}{secrets.token_hex(2)}")


def use_run_stamp(stamp: RunStamp) -> None:
    """Name run folders with ``stamp`` from now on (the ranks of a data-parallel job all use rank 0's)."""
    # use_cache: Hydra copies a sweep's resolved values into each job's config, so jobs that run in
    # other processes (joblib, SLURM) still land in the one sweep folder.
    OmegaConf.register_new_resolver("stamp", lambda pattern: stamp.started.strftime(pattern), use_cache=True,
                                    replace=True)
    OmegaConf.register_new_resolver("unique", lambda: stamp.token, use_cache=True, replace=True)


# ---------------------------------------------------------------- errors in one line
def config_error(exc: BaseException, overrides: Sequence[str] = ()) -> ConfigError:
    """A Hydra or OmegaConf exception as one line that names the problem and the options (of the
    groups chosen by ``overrides``)."""
    text = str(exc)
    lines = [line.strip() for line in text.split("Config search path:")[0].splitlines() if line.strip()]
    missing = re.search(r"Could not find '([^']+)'", text)
    if missing:
        group, _, option = missing.group(1).rpartition("/")
        start = next((i for i, line in enumerate(lines) if line.startswith("Available options")), len(lines))
        if group and lines[start + 1:]:
            return ConfigError(f"unknown option {group}={option}; choose one of {', '.join(lines[start + 1:])}")
    override = re.search(r"Could not override '([^']+)'", text)
    if override:
        key = override.group(1)
        return ConfigError(f"unknown config key {key!r}; {known_keys_hint(key, overrides)}")
    kept = [line for line in lines if not line.startswith(("See https://", "full_key:", "object_type=",
                                                           "reference_type="))]
    return ConfigError(" ".join(kept) or type(exc).__name__)


def known_keys_hint(key: str, overrides: Sequence[str] = ()) -> str:
    """Which keys exist where ``key`` was looked for: at the top level, or in its group as chosen by
    the ``group=option`` entries of ``overrides``."""
    group, _, _ = key.lstrip("+~").partition(".")
    if "." in key and group in top_level_keys():
        choices = tuple(o for o in overrides if re.fullmatch(r"\w+=[\w.-]+", o) and o.split("=")[0] in top_level_keys())
        node = chosen_groups(choices).get(group)
        if isinstance(node, DictConfig):
            return f"{group} has: {', '.join(f'{group}.{k}' for k in node)}"
    return f"known top-level keys: {', '.join(top_level_keys())}"


@lru_cache(maxsize=1)
def top_level_keys() -> tuple[str, ...]:
    """The keys of ``conf/config.yaml`` and the groups of its defaults list, read from the file (a
    running Hydra job cannot compose a second config)."""
    root = OmegaConf.load(CONFIG_DIR / f"{CONFIG_NAME}.yaml")
    groups = [next(iter(entry)).removeprefix("optional ").strip() for entry in root.get("defaults", [])
              if isinstance(entry, DictConfig)]
    return tuple(dict.fromkeys([*groups, *(str(k) for k in root if k not in ("defaults", "hydra"))]))


# ---------------------------------------------------------------- composing
def compose(overrides: Sequence[str] = (), return_hydra_config: bool = False) -> DictConfig:
    """The config ``python -m vidpred.run OVERRIDES`` would see; errors as one :class:`ConfigError`."""
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir
    from hydra.errors import HydraException
    from omegaconf.errors import OmegaConfBaseException

    if not OmegaConf.has_resolver("stamp"):  # outside a command (tests, notebooks): this process's stamp
        use_run_stamp(RunStamp.new())
    try:
        with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
            cfg = hydra_compose(config_name=CONFIG_NAME, overrides=list(overrides),
                                return_hydra_config=return_hydra_config)
    except (HydraException, OmegaConfBaseException) as exc:
        raise config_error(exc, overrides) from exc
    check_top_level(cfg)
    return cfg


@lru_cache(maxsize=8)
def chosen_groups(choices: tuple[str, ...]) -> DictConfig:
    """The config composed with only the group choices ``choices`` (outside a running Hydra job);
    empty when even that does not compose."""
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir
    from hydra.errors import HydraException

    try:
        with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
            return hydra_compose(config_name=CONFIG_NAME, overrides=list(choices))
    except HydraException:
        return OmegaConf.create({})


def check_top_level(cfg: DictConfig) -> None:
    """Hydra accepts ``+anything=1`` at the top level; a key nothing reads is a typo, so refuse it."""
    known = set(top_level_keys()) | {"hydra"}
    unknown = sorted(str(k) for k in cfg if k not in known)
    if unknown:
        raise ConfigError(f"unknown config key(s) {', '.join(unknown)}; {known_keys_hint(unknown[0])}")


def data_keys_given(data: dict[str, Any], overrides: Sequence[str] | None = None) -> set[str]:
    """The keys of the data set's config ``data`` that were chosen rather than left at their default:
    named in ``overrides`` (a command line: ``data.columns=[Close]``), or set to another value than
    ``conf/data/<name>.yaml`` gives (by a preset, or by a caller of the Python API)."""
    named = set()
    for override in overrides or ():
        key = override.split("=", 1)[0].lstrip("+~")
        if key.startswith("data."):
            named.add(key.split(".")[1])
    path = CONFIG_DIR / "data" / f"{data.get('name')}.yaml"
    defaults = OmegaConf.to_container(OmegaConf.load(path)) if path.is_file() else {}
    assert isinstance(defaults, dict)
    changed = {key for key, value in data.items() if key in defaults and key != "defaults" and defaults[key] != value}
    return (named | changed) & set(data)


def to_plain(node: Any) -> Any:
    """A resolved config node as plain dicts and lists; an interpolation that fails is one line."""
    from omegaconf.errors import OmegaConfBaseException

    try:
        return OmegaConf.to_container(node, resolve=True)
    except OmegaConfBaseException as exc:
        raise config_error(exc) from exc
