"""The interface every forecaster implements.

``model(context, horizon)`` maps a context ``(B, Tc, *frame)`` to a prediction ``(B, horizon,
*frame)``. Trainable models learn by gradient descent in the trainer; baselines either need no
training or are fitted in closed form through :meth:`Forecaster.fit`.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TypeVar

import torch
from torch import nn


class Forecaster(nn.Module):
    """Base class: a model that continues a sequence by ``horizon`` steps.

    A model declares itself with the class attributes below and :func:`register`; the run, the
    report and the model x data test read those declarations.
    """

    #: the option of ``conf/model`` that builds it
    name: str = ""
    #: whether the trainer runs gradient descent on this model
    trainable: bool = True
    #: the data kinds (``sequence``, ``video``) the model works on
    kinds: tuple[str, ...] = ("sequence", "video")
    #: whether ``layers`` changes the model (the report counts runs of a model without layers once)
    layered: bool = True
    #: how tables name it
    label: str = ""

    def fit(self, batches: Iterable[torch.Tensor], context: int) -> None:
        """Closed-form fitting on the training split (a no-op for most models)."""

    def memory_bytes(self, batch: int, context: int, horizon: int, train_items: int | None) -> int:
        """An upper estimate of the memory one training step keeps for its backward pass (for a
        baseline: what :meth:`fit` holds), beyond the weights. A run compares it with the memory
        available before it builds anything (``train_items``: ``None`` when not known yet)."""
        return 0

    def forward(self, context: torch.Tensor, horizon: int,
                target: torch.Tensor | None = None) -> torch.Tensor:  # pragma: no cover
        raise NotImplementedError


MODELS: dict[str, type[Forecaster]] = {}

F = TypeVar("F", bound=type[Forecaster])


def register(cls: F) -> F:
    """Class decorator: make the model buildable as ``model=<cls.name>``."""
    assert cls.name and cls.name not in MODELS, f"model name {cls.name!r} is empty or taken"
    MODELS[cls.name] = cls
    return cls


def count_parameters(model: nn.Module) -> int:
    """Learned numbers: parameters, plus the fitted buffers of closed-form models (``linear``)."""
    learned = sum(p.numel() for p in model.parameters())
    if isinstance(model, Forecaster) and not model.trainable:
        learned += sum(b.numel() for b in model.buffers())
    return learned
