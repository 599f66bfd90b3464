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


def check_model(name: str, kind: str, data: str = "this data set") -> None:
    """Refuse an unknown model, or one that does not declare ``kind`` data (before any data is read)."""
    if name not in MODELS:
        raise ConfigError(f"unknown model {name!r}; choose one of {', '.join(sorted(MODELS))}")
    if kind not in MODELS[name].kinds:
        fits = sorted(m for m, cls in MODELS.items() if kind in cls.kinds)
        raise ConfigError(f"model={name} works on {' and '.join(MODELS[name].kinds)} data, and {data} is "
                          f"{kind}: choose one of model={','.join(fits)}, or leave model= out (the default "
                          "follows the data: lstm for sequences, convlstm for video)")


def build_model(name: str, kind: str, frame_shape: tuple[int, ...], params: dict[str, Any]) -> Forecaster:
    """Model ``name`` for ``kind`` data with frames of ``frame_shape``, from its config ``params``."""
    check_model(name, kind)
    return call_with_config(MODELS[name], {"frame_shape": tuple(frame_shape), **params}, prefix="model")


__all__ = ["MODELS", "Forecaster", "build_model", "check_model", "count_parameters"]
