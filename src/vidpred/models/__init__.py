"""Models: one module per family plus the baselines, each declared once with ``@register``.

Every module of this package is imported here, so a new model is one module plus
``conf/model/NAME.yaml``.
"""

from __future__ import annotations

import importlib
import pkgutil
from typing import Any

from vidpred.errors import ConfigError
from vidpred.models.base import MODELS, Forecaster, count_parameters
from vidpred.registry import call_with_config

for _module in pkgutil.iter_modules(__path__):
    importlib.import_module(f"{__name__}.{_module.name}")


def check_model_kind(name: str, kind: str) -> None:
    """A one-line config error unless model ``name`` exists and works on ``kind`` data (a check that
    needs the declarations alone, so a run makes it before reading any data)."""
    if name not in MODELS:
        raise ConfigError(f"unknown model {name!r}; choose one of {', '.join(sorted(MODELS))}")
    if kind not in MODELS[name].kinds:
        fits = sorted(m for m, cls in MODELS.items() if kind in cls.kinds)
        raise ConfigError(f"model={name} works on {' and '.join(MODELS[name].kinds)} data, and this "
                          f"data set is {kind}: choose one of model={','.join(fits)}")


def build_model(name: str, kind: str, frame_shape: tuple[int, ...], params: dict[str, Any]) -> Forecaster:
    """Model ``name`` for ``kind`` data with frames of ``frame_shape``, from its config ``params``."""
    check_model_kind(name, kind)
    return call_with_config(MODELS[name], {"frame_shape": tuple(frame_shape), **params}, prefix="model")


__all__ = ["MODELS", "Forecaster", "build_model", "check_model_kind", "count_parameters"]
