"""The searched settings: Hydra's sweep syntax (``interval``, ``choice``, ``range``, ``tag(log, ...)``) read
as Optuna distributions, and a trial's drawn values written back as ``python -m vidpred.run`` overrides."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from typing import Any

from optuna.distributions import (BaseDistribution, CategoricalDistribution, FloatDistribution,
                                  IntDistribution)

from vidpred.errors import ConfigError, one_line, require
from vidpred.search.settings import GROUP


def distribution(key: str, text: Any) -> BaseDistribution | None:
    """A setting's entry in Hydra's sweep syntax as an Optuna distribution; None for a plain value
    (the same for every trial)."""
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.core.override_parser.types import ChoiceSweep, IntervalSweep, RangeSweep
    from hydra.errors import HydraException

    where = f"{GROUP}.params.{key}={text!r}"
    if not isinstance(text, str):
        return None
    try:
        value = OverridesParser.create().parse_override(f"{key}={text}").value()
    except HydraException as exc:
        raise ConfigError(f"{where}: {one_line(exc)}; write interval(a, b), int(interval(a, b)), "
                          "tag(log, interval(a, b)), choice(x, y, ...) or range(a, b, step)") from None
    unknown = set(getattr(value, "tags", ()) or ()) - {"log"}
    require(not unknown, f"{where}: unknown tag {', '.join(sorted(unknown))} (only log is understood)")
    log_scale = "log" in (getattr(value, "tags", ()) or ())
    if isinstance(value, IntervalSweep):
        low, high = value.start, value.end
        require(low is not None and high is not None and low < high, f"{where}: the interval needs low < high")
        require(not log_scale or low > 0, f"{where}: a log scale needs a positive low end")
        if isinstance(low, int) and isinstance(high, int):
            return IntDistribution(low, high, log=log_scale)
        return FloatDistribution(float(low), float(high), log=log_scale)
    require(not log_scale, f"{where}: tag(log, ...) goes with interval(a, b) only")
    if isinstance(value, ChoiceSweep):
        require(not value.shuffle, f"{where}: shuffle means nothing to a search")
        require(all(v is None or isinstance(v, (bool, int, float, str)) for v in value.list),
                f"{where}: choices must be numbers, strings or booleans")
        return CategoricalDistribution(list(value.list))
    if isinstance(value, RangeSweep):
        require(not value.shuffle, f"{where}: shuffle means nothing to a search")
        start, stop, step = value.start, value.stop, value.step
        count = math.ceil((stop - start) / step) if step else 0
        require(count >= 1, f"{where}: the range is empty")
        last = start + (count - 1) * step
        low, high = min(start, last), max(start, last)
        if all(isinstance(v, int) for v in (start, stop, step)):
            return IntDistribution(low, high, step=abs(step))
        return FloatDistribution(float(low), float(round(high, 12)), step=float(abs(step)))
    return None


def parse_space(params: Mapping[str, Any]) -> tuple[dict[str, BaseDistribution], dict[str, Any]]:
    """The searched settings' distributions, and the settings fixed for every trial."""
    space, fixed = {}, {}
    for key, text in params.items():
        found = distribution(key, text)
        if found is None:
            fixed[key] = text
        else:
            space[key] = found
    require(bool(space), f"{GROUP}.params holds no interval, choice or range: nothing to search")
    return space, fixed


def override(key: str, value: Any) -> str:
    """``key=value`` as Hydra parses it back to the same value."""
    if isinstance(value, bool):
        text = "true" if value else "false"
    elif value is None:
        text = "null"
    elif isinstance(value, (int, float)):
        text = repr(value)
    else:
        text = str(value)
        if not re.fullmatch(r"[A-Za-z_][\w./-]*", text) or text.lower() in ("true", "false", "null", "nan", "inf"):
            text = "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"
    return f"{key}={text}"


def key_of(entry: str) -> str:
    return entry.split("=", 1)[0].lstrip("+~")


def trial_overrides(overrides: Sequence[str], fixed: Mapping[str, Any], params: Mapping[str, Any]) -> list[str]:
    """A trial's ``python -m vidpred.run`` overrides: the command's, less the search's own, then the
    fixed and drawn settings."""
    # the search's own keys, and settings the search sets, are left out: a trial's values win
    own = [o for o in overrides if key_of(o) != GROUP and not key_of(o).startswith(GROUP + ".")
           and key_of(o) not in fixed and key_of(o) not in params]
    return [*own, *(override(k, v) for k, v in fixed.items()), *(override(k, v) for k, v in params.items())]


def representative(dist: BaseDistribution) -> Any:
    return dist.choices[0] if isinstance(dist, CategoricalDistribution) else dist.low


def refuse_sweeps(overrides: Sequence[str]) -> None:
    """A sweep on the command line is either a search entry without quotes or a grid: say which."""
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.errors import HydraException

    parser = OverridesParser.create()
    for entry in overrides:
        try:
            parsed = parser.parse_override(entry)
        except HydraException:
            continue  # composing reports it
        if not parsed.is_sweep_override():
            continue
        key, value = entry.split("=", 1)
        if key_of(key).startswith(f"{GROUP}.params."):
            raise ConfigError(f"{entry}: quote the search entry, or the shell and Hydra take it apart: "
                              f"'{key}=\"{value}\"'")
        suggested = value if "(" in value else f"choice({value})"
        raise ConfigError(f"{entry} is a sweep; a search draws its settings from {GROUP}.params: "
                          f"'+{GROUP}.params.{key_of(key)}=\"{suggested}\"'")
