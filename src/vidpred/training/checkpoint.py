"""Checkpoints that let a run continue exactly where an uninterrupted one would be.

``last.pt`` holds everything training depends on: weights, optimizer / scaler / scheduler state,
the position in the epoch (batches done), the history so far and every random number generator.
``best.pt`` holds the weights with the lowest validation loss.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import numpy as np
import torch

from vidpred.errors import ConfigError, DataError
from vidpred.io import atomic_path

LAST = "last.pt"
BEST = "best.pt"


def rng_state() -> dict[str, Any]:
    state = {"python": random.getstate(), "numpy": np.random.get_state(), "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def save(path: Path, state: dict[str, Any]) -> None:
    with atomic_path(path) as tmp:
        torch.save(state, tmp)


def load(path: Path) -> dict[str, Any]:
    try:
        return torch.load(path, map_location="cpu", weights_only=False)
    except Exception as exc:  # a truncated or foreign file: say which one
        raise DataError(f"cannot read checkpoint {path}: {exc}") from exc


def load_weights(model: torch.nn.Module, state_dict: dict[str, Any], path: Path) -> None:
    try:
        model.load_state_dict(state_dict)
    except RuntimeError as exc:
        raise ConfigError(f"checkpoint {path} does not fit this model (was it trained with other "
                          f"model/data/layers settings?): {str(exc).splitlines()[0]}") from exc
