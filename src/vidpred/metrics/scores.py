"""Prediction metrics, accumulated over batches on the model's device.

- ``mse`` / ``mae``: mean squared / absolute error per element (per pixel for video), the unit of
  the study's tables.
- ``mse_frame`` / ``mae_frame``: the per-frame sum over all non-time dimensions (C x H x W, or D),
  averaged over frames and sequences; equal to ``numel(frame) * mse``.
- ``mse_per_step`` / ``mae_per_step``: one value per predicted step, averaged over sequences and
  elements.

Video (:class:`VideoMetricAccumulator`) adds, on predictions clipped to [0, 1]:

- ``psnr``: per frame ``10 log10(1 / mse(frame))`` (peak 1, mse over C x H x W), averaged over
  frames and sequences. A perfect frame would be infinite; its mse is floored at 1e-10, so one
  frame counts at most 100 dB.
- ``ssim``: per frame, the mean SSIM (Wang et al. 2004) over the positions where an 11 x 11
  Gaussian window (sigma 1.5) fits inside the frame, K1 = 0.01, K2 = 0.03, data range 1, averaged
  over channels, then over frames and sequences. Same as scikit-image's ``structural_similarity(
  gaussian_weights=True, sigma=1.5, use_sample_covariance=False, data_range=1)``.
- ``psnr_per_step`` / ``ssim_per_step``: the same, one value per predicted step.
- ``lpips`` / ``lpips_per_step`` (``metrics.lpips=true``): the AlexNet-lin LPIPS v0.1 distance of each
  frame (:mod:`vidpred.metrics.lpips`), averaged like psnr and ssim.

Both are computed in batches on the model's device; only the per-step sums leave it.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable

import torch
import torch.nn.functional as F

log = logging.getLogger("vidpred")

SSIM_WINDOW = 11
SSIM_SIGMA = 1.5
SSIM_K1, SSIM_K2 = 0.01, 0.03
PSNR_MIN_MSE = 1e-10  # caps a perfect frame at 100 dB instead of infinity


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

    def _sums(self) -> list[str]:
        return ["sq_per_step", "abs_per_step"]

    @torch.no_grad()
    def reduce(self, sum_: Callable[[torch.Tensor], torch.Tensor], horizon: int, frame_shape: tuple[int, ...],
               device: torch.device) -> None:
        """Add the other ranks' sums to this one's with ``sum_`` (an all-reduce, in place: a
        data-parallel evaluation, where every rank scored its share of the split, some perhaps none),
        so :meth:`compute` covers the whole split."""
        for name in self._sums():
            if getattr(self, name) is None:
                setattr(self, name, torch.zeros(horizon, dtype=torch.float64, device=device))
            sum_(getattr(self, name))
        count = sum_(torch.tensor([float(self.sequences)], dtype=torch.float64, device=device))
        self.sequences = int(count.item())
        self.frame_numel = math.prod(frame_shape)

    def compute(self) -> dict[str, float | list[float]]:
        if self.sq_per_step is None or self.abs_per_step is None or not self.sequences:
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


def gaussian_window(size: int = SSIM_WINDOW, sigma: float = SSIM_SIGMA,
                    device: torch.device | None = None) -> torch.Tensor:
    """The normalised 1-D Gaussian of length ``size`` (the 2-D window is its outer product)."""
    x = torch.arange(size, dtype=torch.float32, device=device) - (size - 1) / 2
    weights = torch.exp(-0.5 * (x / sigma) ** 2)
    return weights / weights.sum()


def psnr_per_frame(prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """PSNR (peak 1) of each frame of ``(N, C, H, W)`` tensors in [0, 1]; returns ``(N,)``."""
    mse = (prediction - target).square().flatten(1).mean(dim=1)
    return -10.0 * torch.log10(mse.clamp(min=PSNR_MIN_MSE))


def ssim_per_frame(prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """SSIM of each frame of ``(N, C, H, W)`` tensors in [0, 1], averaged over channels: ``(N,)``.

    The five local statistics (means, variances, covariance) come from one grouped, separable
    convolution without padding, so only positions where the whole window fits are scored.
    """
    n, c, h, w = prediction.shape
    x = prediction.reshape(n * c, 1, h, w)
    y = target.reshape(n * c, 1, h, w)
    stats = torch.cat([x, y, x * x, y * y, x * y], dim=1)
    g = gaussian_window(device=prediction.device).to(stats.dtype)
    stats = F.conv2d(stats, g.view(1, 1, 1, -1).expand(5, 1, 1, -1), groups=5)
    stats = F.conv2d(stats, g.view(1, 1, -1, 1).expand(5, 1, -1, 1), groups=5)
    mu_x, mu_y, xx, yy, xy = stats.unbind(dim=1)
    var_x, var_y, cov = xx - mu_x.square(), yy - mu_y.square(), xy - mu_x * mu_y
    c1, c2 = SSIM_K1 ** 2, SSIM_K2 ** 2
    ssim_map = ((2 * mu_x * mu_y + c1) * (2 * cov + c2)) / (
        (mu_x.square() + mu_y.square() + c1) * (var_x + var_y + c2))
    return ssim_map.flatten(1).mean(dim=1).view(n, c).mean(dim=1)


class VideoMetricAccumulator(MetricAccumulator):
    """:class:`MetricAccumulator` plus per-step sums of PSNR and SSIM (and LPIPS, given its network)
    for ``(B, T, C, H, W)`` video."""

    def __init__(self, lpips: torch.nn.Module | None = None) -> None:
        super().__init__()
        self.psnr_per_step: torch.Tensor | None = None
        self.ssim_per_step: torch.Tensor | None = None
        self.ssim_defined = True
        self.lpips = lpips
        self.lpips_per_step: torch.Tensor | None = None

    @torch.no_grad()
    def update(self, prediction: torch.Tensor, target: torch.Tensor) -> None:
        super().update(prediction, target)
        if prediction.dim() != 5:
            raise ValueError(f"video metrics need (B, T, C, H, W) tensors, got {tuple(prediction.shape)}")
        b, t = prediction.shape[:2]
        clipped = prediction.float().clamp(0.0, 1.0).flatten(0, 1)
        truth = target.float().flatten(0, 1)
        psnr = psnr_per_frame(clipped, truth).view(b, t).sum(dim=0).double()
        self.psnr_per_step = psnr if self.psnr_per_step is None else self.psnr_per_step + psnr
        # SSIM needs frames at least as large as its window; smaller (debug) frames get none.
        self.ssim_defined = min(prediction.shape[-2:]) >= SSIM_WINDOW
        if self.ssim_defined:
            ssim = ssim_per_frame(clipped, truth).view(b, t).sum(dim=0).double()
            self.ssim_per_step = ssim if self.ssim_per_step is None else self.ssim_per_step + ssim
        if self.lpips is not None:
            distance = self.lpips(clipped, truth).view(b, t).sum(dim=0).double()
            self.lpips_per_step = distance if self.lpips_per_step is None else self.lpips_per_step + distance

    def _sums(self) -> list[str]:
        return [*super()._sums(), "psnr_per_step", *(["ssim_per_step"] if self.ssim_defined else []),
                *(["lpips_per_step"] if self.lpips is not None else [])]

    @torch.no_grad()
    def reduce(self, sum_: Callable[[torch.Tensor], torch.Tensor], horizon: int, frame_shape: tuple[int, ...],
               device: torch.device) -> None:
        self.ssim_defined = min(frame_shape[-2:]) >= SSIM_WINDOW
        super().reduce(sum_, horizon, frame_shape, device)

    def compute(self) -> dict[str, float | list[float]]:
        metrics = super().compute()
        assert self.psnr_per_step is not None
        psnr_per_step = (self.psnr_per_step / self.sequences).tolist()
        metrics.update(psnr=sum(psnr_per_step) / len(psnr_per_step), psnr_per_step=psnr_per_step)
        if self.ssim_per_step is not None and self.ssim_defined:
            ssim_per_step = (self.ssim_per_step / self.sequences).tolist()
            metrics.update(ssim=sum(ssim_per_step) / len(ssim_per_step), ssim_per_step=ssim_per_step)
        else:
            log.warning("frames smaller than the %d-pixel SSIM window: ssim is not reported", SSIM_WINDOW)
        if self.lpips_per_step is not None:
            lpips_per_step = (self.lpips_per_step / self.sequences).tolist()
            metrics.update(lpips=sum(lpips_per_step) / len(lpips_per_step), lpips_per_step=lpips_per_step)
        return metrics


def make_accumulator(kind: str, lpips: torch.nn.Module | None = None) -> MetricAccumulator:
    """The metrics of a data kind: ``video`` adds PSNR and SSIM (and LPIPS with its network) to the
    error metrics."""
    return VideoMetricAccumulator(lpips) if kind == "video" else MetricAccumulator()
