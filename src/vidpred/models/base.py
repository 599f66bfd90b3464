"""The interface every forecaster implements.

``model(context, horizon)`` maps a context ``(B, Tc, *frame)`` to a prediction ``(B, horizon,
*frame)``. Trainable models learn by gradient descent in the trainer; baselines either need no
training or are fitted in closed form through :meth:`Forecaster.fit`.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call
from torch.utils.flop_counter import FlopCounterMode

from vidpred.errors import require
from vidpred.registry import Registry


class Forecaster(nn.Module):
    """Base class: a model that continues a sequence by ``horizon`` steps.

    A model declares itself with the class attributes below and ``@MODELS.register``; the run, the
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
    #: settings of a small variant (``model.KEY=VALUE``) that trains in seconds on a CPU: the tests
    #: shrink every model with them, and docs/models.md lists them for debugging runs
    small: ClassVar[dict[str, Any]] = {}

    @classmethod
    def declaration(cls) -> dict[str, Any]:
        """What a run records of its model in ``metrics.json``, so that the report can tell a baseline
        (no layers, no training) and name it without importing the models."""
        return {"label": cls.label or cls.name, "layered": cls.layered, "trainable": cls.trainable,
                "kinds": list(cls.kinds)}

    def fit(self, batches: Iterable[torch.Tensor], context: int) -> None:
        """Closed-form fitting on the training split (a no-op for most models)."""

    def auxiliary_loss(self) -> torch.Tensor | None:
        """Per item ``(B,)``, a training loss the last training forward pass computed besides the
        prediction (PredRNN-v2's memory decoupling), in units of the trainer's mean squared error;
        None for most models. Reading it clears it: it holds the graph of that pass."""
        return None

    @torch.no_grad()
    def macs_per_sample(self, frame_shape: tuple[int, ...], context: int, horizon: int) -> int:
        """Multiply-accumulates of one prediction (``forward`` in evaluation mode) of one item of
        frames ``frame_shape`` with ``context`` steps given and ``horizon`` predicted, each
        multiply-add counted ONCE: the convention of the published model tables
        (``torch.utils.flop_counter`` counts a multiply-add as two FLOPs). Matrix products and
        convolutions only. Nothing is computed: the pass runs on the meta device, so it is instant
        whatever the model's size.
        """
        meta = {name: torch.empty_like(value, device="meta")
                for name, value in (*self.named_parameters(), *self.named_buffers())}
        item = torch.empty(1, context, *frame_shape, device="meta")
        was_training = self.training
        # the eager forward: a compiled one (an instance attribute over the class's) would compile
        # again for meta tensors
        compiled = self.__dict__.pop("forward", None)
        self.eval()
        try:
            with FlopCounterMode(display=False) as counter:
                functional_call(self, meta, (item, horizon))
        finally:
            self.train(was_training)
            if compiled is not None:
                self.forward = compiled
        return counter.get_total_flops() // 2

    def memory_bytes(self, batch: int, context: int, horizon: int, train_items: int | None) -> int:
        """An upper estimate of the memory one training step keeps for its backward pass (for a
        baseline: what :meth:`fit` holds), beyond the weights. A run compares it with the memory
        available before it builds anything (``train_items``: ``None`` when not known yet)."""
        return 0

    def forward(self, context: torch.Tensor, horizon: int,
                target: torch.Tensor | None = None) -> torch.Tensor:  # pragma: no cover
        raise NotImplementedError


def check_cell_stack(layers: int, hidden: int, kernel_size: int, patch_size: int,
                     frame_shape: tuple[int, ...]) -> tuple[int, int, int]:
    """The settings every stack of convolutional recurrent cells shares (ConvLSTM, PredRNN-v2), each
    mistake one line; returns the frame's channels, height and width."""
    require(1 <= layers <= 8, f"layers must be between 1 and 8, got {layers}")
    require(hidden >= 1, f"model.hidden must be at least 1, got {hidden}")
    require(kernel_size >= 1 and kernel_size % 2 == 1,
            f"model.kernel_size must be odd (for 'same' padding), got {kernel_size}")
    channels, height, width = frame_shape
    require(patch_size >= 1 and height % patch_size == 0 and width % patch_size == 0,
            f"model.patch_size={patch_size} must divide the frame size {height}x{width}")
    return channels, height, width


#: Every model, by the option of ``conf/model`` that builds it: ``@MODELS.register`` on the class.
MODELS: Registry[type[Forecaster]] = Registry("model")


def space_to_depth(frames: torch.Tensor, patch: int) -> torch.Tensor:
    """``(B, T, C, H, W)`` -> ``(B, T, C p^2, H/p, W/p)``: each ``p x p`` block of pixels becomes
    channels, so that recurrent convolutions run on a ``p``-times smaller grid."""
    if patch == 1:
        return frames
    return F.pixel_unshuffle(frames.flatten(0, 1), patch).unflatten(0, frames.shape[:2])


def depth_to_space(frames: torch.Tensor, patch: int) -> torch.Tensor:
    """The inverse of :func:`space_to_depth`."""
    if patch == 1:
        return frames
    return F.pixel_shuffle(frames.flatten(0, 1), patch).unflatten(0, frames.shape[:2])


def count_parameters(model: nn.Module) -> int:
    """Learned numbers: parameters, plus the fitted buffers of closed-form models (``linear``)."""
    learned = sum(p.numel() for p in model.parameters())
    if isinstance(model, Forecaster) and not model.trainable:
        learned += sum(b.numel() for b in model.buffers())
    return learned
