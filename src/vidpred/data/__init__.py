"""Data sets: one module per family, all returning :class:`DataSplits`.

New data sets register a builder in :data:`BUILDERS`; the config group ``conf/data/NAME.yaml``
names it with ``name:`` and passes its other keys (except the loader keys) as arguments.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from vidpred.data.bair import build_bair
from vidpred.data.base import DataSplits
from vidpred.data.kth import build_kth
from vidpred.data.mnist import build_mnist
from vidpred.data.stocks import build_stocks
from vidpred.data.synthetic import build_noise, build_sins
from vidpred.errors import ConfigError
from vidpred.registry import call_with_config

BUILDERS: dict[str, Callable[..., DataSplits]] = {
    "sins": build_sins,
    "noise": build_noise,
    "mnist": build_mnist,
    "kth": build_kth,
    "bair": build_bair,
    "stocks": build_stocks,
}


def build_data(name: str, params: dict[str, Any]) -> DataSplits:
    """Build the splits of data set ``name`` from its config keys ``params``."""
    if name not in BUILDERS:
        raise ConfigError(f"unknown data set {name!r}; choose one of {', '.join(sorted(BUILDERS))}")
    return call_with_config(BUILDERS[name], params, prefix="data")


__all__ = ["BUILDERS", "DataSplits", "build_data"]
