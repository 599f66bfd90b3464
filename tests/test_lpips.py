"""LPIPS (AlexNet-lin v0.1) against an independent numpy implementation, its invariants and its weight files.

The real weights are not needed: fixed random weights are saved under the published file names and key
layouts, so loading by key is exercised too.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest
import torch
from numpy.lib.stride_tricks import sliding_window_view

from vidpred.errors import ConfigError, DataError
from vidpred.data.lpips_weights import ALEXNET, LINEAR, WeightFile, verify_weights
from vidpred.metrics.lpips import LPIPS, MIN_SIZE, load_lpips

DOWNLOAD = "python -m vidpred.data download lpips"
# (torchvision features index, in, out, kernel, stride, padding, max-pool after the ReLU)
ALEX_LAYERS = [(0, 3, 64, 11, 4, 2, True), (3, 64, 192, 5, 1, 2, True), (6, 192, 384, 3, 1, 1, False),
               (8, 384, 256, 3, 1, 1, False), (10, 256, 256, 3, 1, 1, False)]


def random_weights(seed: int = 0) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    """AlexNet and linear-layer state dicts with the published keys (He-scaled, so ReLUs stay alive)."""
    gen = torch.Generator().manual_seed(seed)
    alex: dict[str, torch.Tensor] = {}
    for index, c_in, c_out, k, *_ in ALEX_LAYERS:
        alex[f"features.{index}.weight"] = torch.randn(c_out, c_in, k, k, generator=gen) * (2 / (c_in * k * k)) ** 0.5
        alex[f"features.{index}.bias"] = torch.randn(c_out, generator=gen) * 0.05
    alex["classifier.1.weight"] = torch.randn(8, 8, generator=gen)  # present in the real file, must be ignored
    lin = {f"lin{k}.model.1.weight": torch.rand(1, layer[2], 1, 1, generator=gen)
           for k, layer in enumerate(ALEX_LAYERS)}
    return alex, lin


def save_weights(folder: Path, alex: dict[str, torch.Tensor], lin: dict[str, torch.Tensor]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    torch.save(alex, folder / ALEXNET.filename)
    torch.save(lin, folder / LINEAR.filename)
    return folder


@pytest.fixture(scope="module")
def weights(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict, dict]:
    alex, lin = random_weights()
    return save_weights(tmp_path_factory.mktemp("lpips"), alex, lin), alex, lin


@pytest.fixture(scope="module")
def model(weights: tuple[Path, dict, dict]) -> LPIPS:
    return load_lpips(weights[0], "cpu")


# ---- an independent LPIPS in float64 numpy -------------------------------------------------------------

def np_conv(x: np.ndarray, w: np.ndarray, b: np.ndarray, stride: int, pad: int) -> np.ndarray:
    """Cross-correlation of ``x (C, H, W)`` with ``w (O, C, k, k)``, zero padding, as a sum over windows."""
    k = w.shape[-1]
    padded = np.pad(x, ((0, 0), (pad, pad), (pad, pad)))
    windows = sliding_window_view(padded, (k, k), axis=(1, 2))[:, ::stride, ::stride]  # C, Ho, Wo, k, k
    return np.tensordot(w, windows, axes=([1, 2, 3], [0, 3, 4])) + b[:, None, None]


def np_maxpool(x: np.ndarray) -> np.ndarray:
    """3 x 3 max-pool, stride 2, no padding, by explicit loops."""
    c, h, w = x.shape
    out = np.empty((c, (h - 3) // 2 + 1, (w - 3) // 2 + 1))
    for i in range(out.shape[1]):
        for j in range(out.shape[2]):
            out[:, i, j] = x[:, 2 * i:2 * i + 3, 2 * j:2 * j + 3].max(axis=(1, 2))
    return out


def np_lpips(prediction: np.ndarray, target: np.ndarray, alex: dict, lin: dict) -> float:
    """LPIPS of one ``(C, H, W)`` pair in [0, 1], following Zhang et al. (2018) and the lpips package."""
    shift = np.array([-0.030, -0.088, -0.188])[:, None, None]
    scale = np.array([0.458, 0.448, 0.450])[:, None, None]

    def taps(frame: np.ndarray) -> list[np.ndarray]:
        h = (np.repeat(frame, 3 // frame.shape[0], axis=0) * 2 - 1 - shift) / scale
        out = []
        for index, _, _, _, stride, pad, pool in ALEX_LAYERS:
            w = alex[f"features.{index}.weight"].double().numpy()
            b = alex[f"features.{index}.bias"].double().numpy()
            h = np.maximum(np_conv(h, w, b, stride, pad), 0.0)
            out.append(h / (np.sqrt((h ** 2).sum(axis=0, keepdims=True)) + 1e-10))
            if pool:
                h = np_maxpool(h)
        return out

    total = 0.0
    for k, (a, b) in enumerate(zip(taps(np.clip(prediction, 0, 1)), taps(target), strict=True)):
        weight = lin[f"lin{k}.model.1.weight"].double().numpy().reshape(-1)
        total += np.tensordot(weight, (a - b) ** 2, axes=1).mean()
    return float(total)


def noisy(target: torch.Tensor, noise: float, seed: int) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    return (target + noise * torch.randn(target.shape, generator=gen)).clamp(0, 1)


def smooth_frames(shape: tuple[int, ...], seed: int) -> torch.Tensor:
    """Random frames in [0, 1] with some spatial structure (a blurred noise field)."""
    x = torch.rand(shape, generator=torch.Generator().manual_seed(seed))
    return (x + x.roll(1, -1) + x.roll(1, -2) + x.roll((1, 1), (-2, -1))) / 4


# ---- tests ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("shape", [(2, 3, 64, 64), (2, 1, 40, 52)])
def test_matches_independent_numpy_lpips(model: LPIPS, weights: tuple[Path, dict, dict],
                                         shape: tuple[int, ...]) -> None:
    _, alex, lin = weights
    target = smooth_frames(shape, seed=1)
    prediction = target + 0.15 * torch.randn(shape, generator=torch.Generator().manual_seed(2))  # leaves [0, 1]
    got = model(prediction, target)
    expected = [np_lpips(p.double().numpy(), t.double().numpy(), alex, lin) for p, t in zip(prediction, target)]
    assert got.shape == (shape[0],) and got.dtype == torch.float32
    assert min(expected) > 1e-3 and abs(expected[0] - expected[1]) > 1e-6  # a real, frame-specific value
    np.testing.assert_allclose(got.numpy(), expected, rtol=1e-5, atol=0)


def test_weights_are_loaded_by_key_and_frozen(model: LPIPS, weights: tuple[Path, dict, dict]) -> None:
    _, alex, lin = weights
    assert torch.equal(model.features[8].weight, alex["features.8.weight"])
    assert torch.equal(model.features[10].bias, alex["features.10.bias"])
    assert torch.equal(model.lins[3].weight, lin["lin3.model.1.weight"])
    assert not model.training
    assert not any(p.requires_grad for p in model.parameters())


def test_identical_frames_give_exactly_zero(model: LPIPS) -> None:
    frames = smooth_frames((3, 3, 48, 48), seed=3)
    assert model(frames, frames.clone()).tolist() == [0.0, 0.0, 0.0]


def test_symmetric(model: LPIPS) -> None:
    a, b = smooth_frames((2, 3, 48, 56), seed=4), smooth_frames((2, 3, 48, 56), seed=5)
    ab, ba = model(a, b), model(b, a)
    assert ab.min() > 0.01
    assert torch.equal(ab, ba)


def test_grows_with_distortion(model: LPIPS) -> None:
    target = smooth_frames((3, 3, 64, 64), seed=6)
    d = torch.stack([model(noisy(target, level, seed=7), target) for level in (0.05, 0.1, 0.2)])
    assert (d[0] > 0).all()
    assert (d[1] > d[0] * 1.2).all() and (d[2] > d[1] * 1.2).all(), d


def test_grey_equals_frame_repeated_to_rgb(model: LPIPS) -> None:
    target = smooth_frames((2, 1, 40, 40), seed=8)
    prediction = noisy(target, 0.1, seed=9)
    grey = model(prediction, target)
    assert grey.min() > 0
    assert torch.equal(grey, model(prediction.repeat(1, 3, 1, 1), target.repeat(1, 3, 1, 1)))


def test_predictions_are_clipped_to_unit_range(model: LPIPS) -> None:
    target = smooth_frames((2, 3, 40, 40), seed=10)
    wild = target + 0.5 * torch.randn(target.shape, generator=torch.Generator().manual_seed(11))
    assert wild.min() < -0.5 and wild.max() > 1.5
    assert torch.allclose(model(wild, target), model(wild.clamp(0, 1), target), rtol=1e-6, atol=0)


def test_frames_below_minimum_size_raise_config_error(model: LPIPS) -> None:
    assert MIN_SIZE == 31
    ok = torch.rand(1, 3, 31, 31)
    assert torch.isfinite(model(ok, ok * 0.5)).all()
    for h, w in ((30, 64), (64, 30)):
        x = torch.rand(1, 3, h, w)
        with pytest.raises(ConfigError, match="at least 31 x 31"):
            model(x, x)
    with pytest.raises(ConfigError, match="1 or 3 channels"):
        model(torch.rand(1, 2, 40, 40), torch.rand(1, 2, 40, 40))


def test_missing_weights_name_the_download_command(tmp_path: Path, weights: tuple[Path, dict, dict]) -> None:
    with pytest.raises(DataError, match=ALEXNET.filename) as info:
        load_lpips(tmp_path, "cpu")
    assert DOWNLOAD in str(info.value) and "\n" not in str(info.value)
    _, alex, _ = weights
    torch.save(alex, tmp_path / ALEXNET.filename)
    with pytest.raises(DataError, match=f"{LINEAR.filename}.*{DOWNLOAD}"):
        load_lpips(tmp_path, "cpu")


def test_unreadable_weights_raise_one_line_data_error(tmp_path: Path, weights: tuple[Path, dict, dict]) -> None:
    _, alex, lin = weights
    save_weights(tmp_path, alex, lin)
    (tmp_path / LINEAR.filename).write_bytes(b"<html>404: Not Found</html>")
    with pytest.raises(DataError, match=f"unreadable.*{DOWNLOAD}") as info:
        load_lpips(tmp_path, "cpu")
    assert "\n" not in str(info.value)


def test_wrong_key_layout_raises_data_error(tmp_path: Path, weights: tuple[Path, dict, dict]) -> None:
    _, alex, lin = weights
    prefixed = {f"module.{k}": v for k, v in alex.items()}  # e.g. a DataParallel checkpoint
    save_weights(tmp_path, prefixed, lin)
    with pytest.raises(DataError, match="features.0.weight"):
        load_lpips(tmp_path, "cpu")
    flat = {k.replace(".model.1", ""): v for k, v in lin.items()}  # lin0.weight, ...
    save_weights(tmp_path, alex, flat)
    with pytest.raises(DataError, match="lin0.model.1.weight"):
        load_lpips(tmp_path, "cpu")
    wrong_shape = {**lin, "lin2.model.1.weight": torch.rand(1, 256, 1, 1)}  # e.g. another network's file
    save_weights(tmp_path, alex, wrong_shape)
    with pytest.raises(DataError, match=r"shape \(1, 256, 1, 1\), expected \(1, 384, 1, 1\)"):
        load_lpips(tmp_path, "cpu")


def test_published_checksums_are_consistent() -> None:
    assert ALEXNET.sha256 is not None and ALEXNET.sha256.startswith(ALEXNET.sha256_prefix)
    assert ALEXNET.sha256_prefix in ALEXNET.filename and ALEXNET.url.endswith(ALEXNET.filename)
    assert LINEAR.sha256 is not None and LINEAR.sha256.startswith(LINEAR.sha256_prefix)
    assert LINEAR.url.endswith("lpips/weights/v0.1/alex.pth")
    assert all(len(spec.sha256 or "") == 64 for spec in (ALEXNET, LINEAR))


def test_verify_weights_reports_missing_published_files(tmp_path: Path) -> None:
    lines = verify_weights(tmp_path)
    assert len(lines) == 2
    assert all(line.startswith("FAILED") and "missing" in line and DOWNLOAD in line for line in lines)
    assert ALEXNET.filename in lines[0] and LINEAR.filename in lines[1]


def test_verify_weights_catches_a_changed_byte(tmp_path: Path) -> None:
    data = bytes(range(256)) * 8
    digest = hashlib.sha256(data).hexdigest()
    full = WeightFile("full.pth", "https://example.invalid/full.pth", digest[:8], digest, len(data))
    prefix_only = WeightFile(f"net-{digest[:8]}.pth", "https://example.invalid/net.pth", digest[:8])
    (tmp_path / full.filename).write_bytes(data)
    (tmp_path / prefix_only.filename).write_bytes(data)
    lines = verify_weights(tmp_path, (full, prefix_only))
    assert [line.split()[0] for line in lines] == ["ok", "ok"] and "prefix check only" in lines[1]

    changed = bytearray(data)
    changed[1000] ^= 0x01  # same size, one bit different
    for spec in (full, prefix_only):
        (tmp_path / spec.filename).write_bytes(bytes(changed))
    lines = verify_weights(tmp_path, (full, prefix_only))
    assert all(line.startswith("FAILED") and "sha256" in line for line in lines), lines

    (tmp_path / full.filename).write_bytes(data[:-1])
    assert "expected 2048" in verify_weights(tmp_path, (full,))[0]
