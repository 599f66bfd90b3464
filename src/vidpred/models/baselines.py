"""Baselines that every table reports beside the learned models.

- ``last``: repeat the last observed value (or frame).
- ``mean``: repeat the mean of the context.
- ``linear``: a least-squares linear map from the flattened context to the flattened horizon,
  fitted in closed form on the training split (sequences only). Sines obey a linear recurrence,
  so on ``data=sins`` it is close to exact: a bar any learned model has to clear.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import torch

from vidpred.errors import ConfigError, require
from vidpred.models.base import MODELS, Forecaster


@MODELS.register
class LastValue(Forecaster):
    name, label = "last", "baseline: last value"
    trainable, layered = False, False

    def __init__(self, frame_shape: tuple[int, ...], layers: int) -> None:
        super().__init__()

    def forward(self, context: torch.Tensor, horizon: int,
                target: torch.Tensor | None = None) -> torch.Tensor:
        last = context[:, -1:]
        return last.expand(-1, horizon, *last.shape[2:])


@MODELS.register
class ContextMean(Forecaster):
    name, label = "mean", "baseline: context mean"
    trainable, layered = False, False

    def __init__(self, frame_shape: tuple[int, ...], layers: int) -> None:
        super().__init__()

    def forward(self, context: torch.Tensor, horizon: int,
                target: torch.Tensor | None = None) -> torch.Tensor:
        mean = context.mean(dim=1, keepdim=True)
        return mean.expand(-1, horizon, *mean.shape[2:])


@MODELS.register
class LinearPredictor(Forecaster):
    """``horizon = W @ [context, 1]``, solved by least squares in float64.

    The design matrix is badly conditioned (smooth signals are nearly collinear), so the default
    solves it by SVD (``numpy.linalg.lstsq``); ``ridge > 0`` adds a Tikhonov term instead.
    """

    name, label = "linear", "baseline: linear (least squares)"
    trainable, layered = False, False
    kinds = ("sequence",)

    def __init__(self, frame_shape: tuple[int, ...], layers: int, ridge: float = 0.0,
                 max_fit_samples: int = 200_000) -> None:
        super().__init__()
        require(ridge >= 0, f"model.ridge must be non-negative, got {ridge}")
        self.frame_shape = tuple(frame_shape)
        self.ridge = ridge
        self.max_fit_samples = max_fit_samples
        self.register_buffer("weight", torch.empty(0))
        self.register_buffer("bias", torch.empty(0))

    def _load_from_state_dict(self, state_dict: dict, prefix: str, *args: object, **kwargs: object) -> None:
        # Fitted buffers are sized by fit(); a checkpoint carries them at their fitted size.
        for name in ("weight", "bias"):
            if prefix + name in state_dict:
                setattr(self, name, torch.empty_like(state_dict[prefix + name], device=self.weight.device))
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    def memory_bytes(self, batch: int, context: int, horizon: int, train_items: int | None) -> int:
        # float64 copies of the fitted items: the batches, their concatenation and the solver's copy
        items = min(train_items if train_items is not None else self.max_fit_samples, self.max_fit_samples)
        return 8 * 3 * items * (context + horizon + 1) * int(np.prod(self.frame_shape))

    def fit(self, batches: Iterable[torch.Tensor], context: int) -> None:
        xs, ys, seen = [], [], 0
        for batch in batches:
            flat = batch.double().flatten(2)
            xs.append(flat[:, :context].flatten(1).numpy())
            ys.append(flat[:, context:].flatten(1).numpy())
            seen += len(batch)
            if seen >= self.max_fit_samples:
                break
        x = np.concatenate(xs)
        y = np.concatenate(ys)
        design = np.hstack([x, np.ones((len(x), 1))])
        if self.ridge > 0:
            gram = design.T @ design + self.ridge * len(x) * np.eye(design.shape[1])
            solution = np.linalg.solve(gram, design.T @ y)
        else:
            solution = np.linalg.lstsq(design, y, rcond=None)[0]
        # Kept in float64: the solution has large, cancelling coefficients.
        device = self.weight.device  # the trainer may have moved the model to a GPU already
        self.weight = torch.from_numpy(solution[:-1]).to(device)
        self.bias = torch.from_numpy(solution[-1]).to(device)

    def forward(self, context: torch.Tensor, horizon: int,
                target: torch.Tensor | None = None) -> torch.Tensor:
        if self.weight.numel() == 0:
            raise ConfigError("model=linear was not fitted: call fit() on the training split first")
        outputs = self.weight.shape[1] // int(np.prod(self.frame_shape))
        require(horizon == outputs, f"model=linear was fitted for horizon {outputs}, asked for {horizon}")
        flat = context.flatten(1).double() @ self.weight + self.bias
        return flat.view(context.shape[0], horizon, *self.frame_shape).to(context.dtype)
