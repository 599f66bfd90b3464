"""Video metrics against an independent implementation (scikit-image) and their invariants."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from vidpred.metrics.scores import (MetricAccumulator, VideoMetricAccumulator, make_accumulator,
                             psnr_per_frame, ssim_per_frame)

skimage_metrics = pytest.importorskip("skimage.metrics", reason="scikit-image (dev extra) is needed")


def reference(prediction: np.ndarray, target: np.ndarray) -> tuple[float, float]:
    """scikit-image's PSNR and SSIM of one ``(C, H, W)`` frame, with the settings of DESIGN section 3."""
    psnr = skimage_metrics.peak_signal_noise_ratio(target, prediction, data_range=1.0)
    ssim = skimage_metrics.structural_similarity(
        target, prediction, data_range=1.0, gaussian_weights=True, sigma=1.5,
        use_sample_covariance=False, channel_axis=0)
    return psnr, ssim


def noisy_pair(rng: np.random.Generator, shape: tuple[int, ...], noise: float) -> tuple[np.ndarray, np.ndarray]:
    """A smooth-ish target in [0, 1] and a noisy prediction of it (clipped like a real model's)."""
    target = rng.uniform(0.0, 1.0, shape)
    target = (target + np.roll(target, 1, axis=-1) + np.roll(target, 1, axis=-2)) / 3.0
    prediction = np.clip(target + rng.normal(0.0, noise, shape), 0.0, 1.0)
    return prediction, target


@pytest.mark.parametrize("channels", [1, 3])
@pytest.mark.parametrize("size", [(16, 16), (64, 48)])
def test_psnr_and_ssim_match_scikit_image_on_random_frames(channels: int, size: tuple[int, int]) -> None:
    rng = np.random.default_rng(channels * 100 + size[1])
    frames = [noisy_pair(rng, (channels, *size), noise) for noise in (0.02, 0.1, 0.3, 1.0)]
    frames.append((rng.uniform(0, 1, (channels, *size)), rng.uniform(0, 1, (channels, *size))))
    prediction = torch.tensor(np.stack([p for p, _ in frames]), dtype=torch.float32)
    target = torch.tensor(np.stack([t for _, t in frames]), dtype=torch.float32)
    psnr = psnr_per_frame(prediction, target)
    ssim = ssim_per_frame(prediction, target)
    for k, (p, t) in enumerate(frames):
        ref_psnr, ref_ssim = reference(p.astype(np.float32).astype(np.float64),
                                       t.astype(np.float32).astype(np.float64))
        assert psnr[k].item() == pytest.approx(ref_psnr, abs=1e-3)
        assert ssim[k].item() == pytest.approx(ref_ssim, abs=1e-3)
    # the cases really differ: from nearly identical to unrelated frames
    assert ssim.max() > 0.9 and ssim.min() < 0.2


@pytest.mark.filterwarnings("ignore:divide by zero")
def test_identical_frames_score_ssim_one_and_capped_psnr() -> None:
    frame = torch.rand(2, 3, 24, 24)
    np_frame = frame[0].double().numpy()
    ref_psnr, ref_ssim = reference(np_frame, np_frame)
    assert math.isinf(ref_psnr) and ref_ssim == pytest.approx(1.0)
    torch.testing.assert_close(ssim_per_frame(frame, frame), torch.ones(2), atol=1e-5, rtol=0)
    # infinite for scikit-image; floored mse 1e-10 -> 100 dB here, so averages stay finite
    torch.testing.assert_close(psnr_per_frame(frame, frame), torch.full((2,), 100.0))


@pytest.mark.parametrize("channels", [1, 3])
def test_inverted_frames_match_scikit_image(channels: int) -> None:
    rng = np.random.default_rng(7)
    _, target = noisy_pair(rng, (channels, 32, 32), 0.0)
    inverted = 1.0 - target
    ref_psnr, ref_ssim = reference(inverted, target)
    t = torch.tensor(target[None], dtype=torch.float32)
    i = torch.tensor(inverted[None], dtype=torch.float32)
    assert psnr_per_frame(i, t).item() == pytest.approx(ref_psnr, abs=1e-3)
    assert ssim_per_frame(i, t).item() == pytest.approx(ref_ssim, abs=1e-3)
    assert ssim_per_frame(i, t).item() < 0  # anti-correlated structure


def test_accumulator_per_step_curves_over_batches() -> None:
    rng = np.random.default_rng(3)
    b, t, c, h, w = 5, 4, 1, 20, 20
    pairs = [noisy_pair(rng, (c, h, w), 0.05 * (1 + step)) for _ in range(b) for step in range(t)]
    prediction = torch.tensor(np.stack([p for p, _ in pairs]), dtype=torch.float32).view(b, t, c, h, w)
    target = torch.tensor(np.stack([x for _, x in pairs]), dtype=torch.float32).view(b, t, c, h, w)
    accumulator = make_accumulator("video")
    accumulator.update(prediction[:2], target[:2])  # two batches of different sizes
    accumulator.update(prediction[2:], target[2:])
    metrics = accumulator.compute()

    refs = np.array([reference(p, x) for p, x in pairs]).reshape(b, t, 2)
    np.testing.assert_allclose(metrics["psnr_per_step"], refs[:, :, 0].mean(axis=0), atol=1e-3)
    np.testing.assert_allclose(metrics["ssim_per_step"], refs[:, :, 1].mean(axis=0), atol=1e-3)
    assert metrics["psnr"] == pytest.approx(refs[:, :, 0].mean(), abs=1e-3)
    assert metrics["ssim"] == pytest.approx(refs[:, :, 1].mean(), abs=1e-3)
    # more noise at later steps: the curves fall
    assert all(np.diff(metrics["psnr_per_step"]) < 0) and all(np.diff(metrics["ssim_per_step"]) < 0)
    # the error metrics keep their definitions
    error = (prediction.double() - target.double())
    assert metrics["mse"] == pytest.approx(error.square().mean().item(), rel=1e-6)
    assert metrics["mse_frame"] == pytest.approx(c * h * w * metrics["mse"], rel=1e-12)
    assert metrics["mae_frame"] == pytest.approx(c * h * w * metrics["mae"], rel=1e-12)
    assert metrics["sequences"] == b


def test_clipping_applies_to_psnr_and_ssim_only() -> None:
    target = torch.rand(2, 3, 3, 16, 16)
    overshoot = target + 0.5  # up to 1.5: clipped for psnr/ssim, not for mse
    accumulator = VideoMetricAccumulator()
    accumulator.update(overshoot, target)
    metrics = accumulator.compute()
    assert metrics["mse"] == pytest.approx(0.25, rel=1e-5)
    clipped_mse = (overshoot.clamp(0, 1) - target).square().flatten(2).mean(dim=2)
    expected = (-10 * torch.log10(clipped_mse)).mean().item()
    assert metrics["psnr"] == pytest.approx(expected, rel=1e-5)


def test_sequence_metrics_are_unchanged_and_small_frames_get_no_ssim() -> None:
    assert type(make_accumulator("sequence")) is MetricAccumulator
    sequence = make_accumulator("sequence")
    sequence.update(torch.zeros(3, 4, 2), torch.ones(3, 4, 2))
    assert "psnr" not in sequence.compute() and sequence.compute()["mse_frame"] == pytest.approx(2.0)
    small = make_accumulator("video")
    small.update(torch.rand(2, 3, 1, 8, 8), torch.rand(2, 3, 1, 8, 8))
    metrics = small.compute()
    assert "ssim" not in metrics and len(metrics["psnr_per_step"]) == 3
