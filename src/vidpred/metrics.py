"""Prediction metrics, accumulated over batches on the model's device (DESIGN section 3).

- ``mse`` / ``mae``: mean squared / absolute error per element (per pixel for video), the unit of
  the study's tables.
- ``mse_frame`` / ``mae_frame``: the per-frame sum over all non-time dimensions (C x H x W, or D),
  averaged over frames and sequences; equal to ``numel(frame) * mse``.
- ``mse_per_step`` / ``mae_per_step``: one value per predicted step, averaged over sequences and
  elements.
"""

from __future__ import annotations

import math

import torch


class MetricAccumulator:
    """Sums of errors per predicted step; :meth:`compute` turns them into the metrics above."""

    def __init__(self) -> None:
        self.sq_per_step: torch.Tensor | None = None
        self.abs_per_step: torch.Tensor | None = None
        self.sequences = 0
        self.frame_numel = 0

    @torch.no_grad()
    def update(self, prediction: torch.Tensor, target: torch.Tensor) -> None:
        """Add a batch; both tensors are ``(B, horizon, *frame)``."""
        if prediction.shape != target.shape:
            raise ValueError(f"prediction {tuple(prediction.shape)} and target {tuple(target.shape)} differ")
        error = prediction.float() - target.float()
        sq = error.square().flatten(2).sum(dim=(0, 2)).double()
        ab = error.abs().flatten(2).sum(dim=(0, 2)).double()
        if self.sq_per_step is None:
            self.sq_per_step, self.abs_per_step = sq, ab
        else:
            self.sq_per_step += sq
            self.abs_per_step += ab
        self.sequences += prediction.shape[0]
        self.frame_numel = math.prod(prediction.shape[2:])

    def compute(self) -> dict[str, float | list[float]]:
        if self.sq_per_step is None or self.abs_per_step is None:
            raise ValueError("no batches were evaluated")
        per_element = self.sequences * self.frame_numel
        mse_per_step = (self.sq_per_step / per_element).tolist()
        mae_per_step = (self.abs_per_step / per_element).tolist()
        mse = sum(mse_per_step) / len(mse_per_step)
        mae = sum(mae_per_step) / len(mae_per_step)
        return {
            "mse": mse,
            "mae": mae,
            "mse_frame": mse * self.frame_numel,
            "mae_frame": mae * self.frame_numel,
            "mse_per_step": mse_per_step,
            "mae_per_step": mae_per_step,
            "sequences": self.sequences,
        }
