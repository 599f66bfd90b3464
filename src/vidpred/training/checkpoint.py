"""Checkpoints that let a run continue exactly where an uninterrupted one would be, and that are data,
never code.

``last.pt`` holds everything training depends on: weights, optimizer / scaler / scheduler state,
the position in the epoch (batches done), the history so far, every random number generator and the
settings that shape the result. ``best.pt`` holds the weights with the lowest validation loss.

Everything is stored as tensors, numbers, strings, lists and dicts and read back with
``torch.load(weights_only=True)``, which refuses any other Python object: a checkpoint someone sent
you cannot run code when it is loaded.
"""

from __future__ import annotations

import pickle
import random
from pathlib import Path
from typing import Any

import numpy as np
import torch

from vidpred.errors import ConfigError, DataError
from vidpred.io import atomic_path

LAST = "last.pt"
BEST = "best.pt"
FORMAT = 2  # version 1 pickled Python objects; it is refused with a one-line explanation


def rng_state() -> dict[str, Any]:
    """Every generator a run draws from, as plain data."""
    name, keys, position, has_gauss, cached = np.random.get_state(legacy=True)
    state: dict[str, Any] = {
        "python": random.getstate(),  # (version, tuple of ints, gauss): plain data already
        "numpy": [name, torch.from_numpy(keys.astype(np.int64)), int(position), int(has_gauss), float(cached)],
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    name, keys, position, has_gauss, cached = state["numpy"]
    np.random.set_state((name, keys.numpy().astype(np.uint32), position, has_gauss, cached))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def save(path: Path, state: dict[str, Any]) -> None:
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:  # closed on failure: a full disk's space comes back
        torch.save({"format": FORMAT, **state}, fh)


def load(path: Path) -> dict[str, Any]:
    """A checkpoint's content; anything but plain data, a foreign or an old file is a one-line error."""
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        raise DataError(f"refusing to load {path}: it holds Python objects other than tensors and plain "
                        "data, which could run code when loaded (a checkpoint from before vidpred's "
                        "format 2, or not made by vidpred)") from exc
    except Exception as exc:  # a truncated or foreign file: say which one
        raise DataError(f"cannot read checkpoint {path}: {' '.join(str(exc).split())}") from exc
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise DataError(f"{path} is not a vidpred checkpoint of format {FORMAT}")
    return state


def load_weights(model: torch.nn.Module, state_dict: dict[str, Any], path: Path) -> None:
    try:
        model.load_state_dict(state_dict)
    except RuntimeError as exc:
        raise ConfigError(f"checkpoint {path} does not fit this model (was it trained with other "
                          f"model/data/layers settings?): {str(exc).splitlines()[0]}") from exc
