"""Models: one module per family plus the baselines, built by name from ``conf/model``."""

from __future__ import annotations

from typing import Any

from vidpred.errors import ConfigError
from vidpred.models.base import Forecaster, count_parameters
from vidpred.models.baselines import ContextMean, LastValue, LinearPredictor
from vidpred.models.convlstm import Seq2SeqConvLSTM
from vidpred.models.lstm import Seq2SeqLSTM
from vidpred.registry import call_with_config

MODELS: dict[str, type[Forecaster]] = {
    "lstm": Seq2SeqLSTM,
    "convlstm": Seq2SeqConvLSTM,
    "last": LastValue,
    "mean": ContextMean,
    "linear": LinearPredictor,
}


def build_model(name: str, kind: str, frame_shape: tuple[int, ...], params: dict[str, Any]) -> Forecaster:
    """Model ``name`` for ``kind`` data with frames of ``frame_shape``, from its config ``params``."""
    if name not in MODELS:
        raise ConfigError(f"unknown model {name!r}; choose one of {', '.join(sorted(MODELS))}")
    if kind not in MODELS[name].kinds:
        fits = sorted(m for m, cls in MODELS.items() if kind in cls.kinds)
        raise ConfigError(f"model={name} works on {' and '.join(MODELS[name].kinds)} data, and this "
                          f"data set is {kind}: choose one of model={','.join(fits)}")
    return call_with_config(MODELS[name], {"frame_shape": tuple(frame_shape), **params}, prefix="model")


__all__ = ["MODELS", "Forecaster", "build_model", "count_parameters"]
