"""vidpred: Hydra-configured experiments in recurrent sequence and video prediction."""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"


def __getattr__(name: str) -> Any:
    # ``from vidpred import load_run`` without importing torch for ``import vidpred`` alone
    if name == "load_run":
        from vidpred.predict import load_run

        return load_run
    raise AttributeError(f"module 'vidpred' has no attribute {name!r}")
