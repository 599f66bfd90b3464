"""Models: one module per family plus the baselines, each declared once with ``@MODELS.register``.

A new model is one module, its import below and ``conf/model/NAME.yaml``.
"""

from __future__ import annotations

from typing import Any

from vidpred.errors import ConfigError
from vidpred.models.base import MODELS, Forecaster, count_parameters
from vidpred.models import baselines, convlstm, lstm, predrnn, simvp  # noqa: F401,E402  (each registers its models)
from vidpred.registry import call_with_config


def check_model(name: str, kind: str, data: str = "this data set") -> None:
    """Refuse an unknown model, or one that does not declare ``kind`` data (before any data is read)."""
    if kind not in MODELS.get(name).kinds:
        fits = sorted(m for m, cls in MODELS.items() if kind in cls.kinds)
        raise ConfigError(f"model={name} works on {' and '.join(MODELS[name].kinds)} data, and {data} is "
                          f"{kind}: choose one of model={','.join(fits)}, or leave model= out (the default "
                          "follows the data: lstm for sequences, convlstm for video)")


def build_model(name: str, kind: str, frame_shape: tuple[int, ...], params: dict[str, Any]) -> Forecaster:
    """Model ``name`` for ``kind`` data with frames of ``frame_shape``, from its config ``params``."""
    check_model(name, kind)
    return call_with_config(MODELS[name], {"frame_shape": tuple(frame_shape), **params}, prefix="model")


__all__ = ["MODELS", "Forecaster", "build_model", "check_model", "count_parameters"]
