"""The interface every forecaster implements.

``model(context, horizon)`` maps a context ``(B, Tc, *frame)`` to a prediction ``(B, horizon,
*frame)``. Trainable models learn by gradient descent in the trainer; baselines either need no
training or are fitted in closed form through :meth:`Forecaster.fit`.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch import nn


class Forecaster(nn.Module):
    """Base class: a model that continues a sequence by ``horizon`` steps."""

    #: whether the trainer runs gradient descent on this model
    trainable: bool = True
    #: the data kinds (``sequence``, ``video``) the model works on
    kinds: tuple[str, ...] = ("sequence", "video")

    def fit(self, batches: Iterable[torch.Tensor], context: int) -> None:
        """Closed-form fitting on the training split (a no-op for most models)."""

    def forward(self, context: torch.Tensor, horizon: int,
                target: torch.Tensor | None = None) -> torch.Tensor:  # pragma: no cover
        raise NotImplementedError


def count_parameters(model: nn.Module) -> int:
    """Learned numbers: parameters, plus the fitted buffers of closed-form models (``linear``)."""
    learned = sum(p.numel() for p in model.parameters())
    if isinstance(model, Forecaster) and not model.trainable:
        learned += sum(b.numel() for b in model.buffers())
    return learned
