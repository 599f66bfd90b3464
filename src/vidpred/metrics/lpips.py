"""LPIPS (Zhang et al. 2018), the AlexNet-lin v0.1 variant, in plain PyTorch (no torchvision).

Same numbers as the ``lpips`` package's ``LPIPS(net='alex', version='0.1')``: each frame is scaled
to [-1, 1], shifted and scaled per channel (its ScalingLayer), passed through torchvision's AlexNet
``features`` up to the fifth ReLU; at each of the 5 ReLU outputs the features are unit-normalised
over channels, the squared difference of the two frames is weighted per channel by the learned
linear layer, averaged over space, and the 5 layer values are summed.

Two published files hold the weights (:mod:`vidpred.data.lpips_weights` gets and checks them);
:func:`load_lpips` reads them from one folder.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from vidpred.data.lpips_weights import ALEXNET, DOWNLOAD_HINT, LINEAR
from vidpred.errors import ConfigError, DataError

# ScalingLayer of lpips v0.1: maps [-1, 1] input to roughly ImageNet-normalised values.
SHIFT = (-0.030, -0.088, -0.188)
SCALE = (0.458, 0.448, 0.450)
NORM_EPS = 1e-10  # lpips' normalize_tensor

# (index in torchvision's alexnet.features, in channels, out channels, kernel, stride, padding)
CONVS = ((0, 3, 64, 11, 4, 2), (3, 64, 192, 5, 1, 2), (6, 192, 384, 3, 1, 1),
         (8, 384, 256, 3, 1, 1), (10, 256, 256, 3, 1, 1))
POOLS_AFTER = (0, 3)  # a 3x3 stride-2 max-pool follows the ReLUs of these convolutions
CHANNELS = tuple(c[2] for c in CONVS)

# conv1 gives floor((s - 7) / 4) + 1 pixels per side and each max-pool needs at least 3, so the second
# pool needs conv1 output >= 7, i.e. s >= 31; at 30 the lpips package fails too (the pool's output is empty).
MIN_SIZE = 31


class LPIPS(nn.Module):
    """LPIPS distance between predicted and target frames; build it with :func:`load_lpips`."""

    def __init__(self) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        for index, c_in, c_out, kernel, stride, padding in CONVS:
            assert len(layers) == index  # the layer numbers (state-dict keys) are torchvision's
            layers.append(nn.Conv2d(c_in, c_out, kernel, stride=stride, padding=padding))
            layers.append(nn.ReLU())
            if index in POOLS_AFTER:
                layers.append(nn.MaxPool2d(kernel_size=3, stride=2))
        self.features = nn.Sequential(*layers)
        self.taps = tuple(i + 1 for i, *_ in CONVS)  # the ReLU right after each convolution
        self.lins = nn.ModuleList(nn.Conv2d(c, 1, 1, bias=False) for c in CHANNELS)
        self.register_buffer("shift", torch.tensor(SHIFT).view(1, 3, 1, 1))
        self.register_buffer("scale", torch.tensor(SCALE).view(1, 3, 1, 1))
        self.requires_grad_(False)
        self.eval()

    def _features(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Unit-normalised ReLU outputs of the 5 convolutions for frames in [-1, 1]."""
        h = (x - self.shift) / self.scale
        out = []
        for i, layer in enumerate(self.features):
            h = layer(h)
            if i in self.taps:
                out.append(h / (h.square().sum(dim=1, keepdim=True).sqrt() + NORM_EPS))
        return out

    def forward(self, prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Distances ``(N,)`` of frames ``(N, C, H, W)`` in [0, 1], C 1 or 3; predictions are clipped."""
        if prediction.shape != target.shape:
            raise ValueError(f"prediction {tuple(prediction.shape)} and target {tuple(target.shape)} differ")
        if prediction.dim() != 4 or prediction.shape[1] not in (1, 3):
            raise ConfigError(f"LPIPS needs (N, C, H, W) frames with 1 or 3 channels, got {tuple(prediction.shape)}")
        height, width = prediction.shape[-2:]
        if min(height, width) < MIN_SIZE:
            raise ConfigError(f"LPIPS (AlexNet) needs frames of at least {MIN_SIZE} x {MIN_SIZE} pixels, "
                              f"got {height} x {width}; turn LPIPS off for this data set")
        prediction = prediction.float().clamp(0.0, 1.0) * 2 - 1
        target = target.float() * 2 - 1
        if prediction.shape[1] == 1:  # grey frames as RGB, as images are fed to lpips
            prediction, target = prediction.expand(-1, 3, -1, -1), target.expand(-1, 3, -1, -1)
        # two passes, like lpips: identical frames then give exactly 0, whatever the batch layout
        pairs = zip(self._features(prediction), self._features(target), strict=True)
        total = prediction.new_zeros(prediction.shape[0])
        for lin, (a, b) in zip(self.lins, pairs, strict=True):
            total = total + lin((a - b).square()).mean(dim=(1, 2, 3))
        return total


def _read_state_dict(path: Path) -> dict[str, torch.Tensor]:
    """The tensors of a saved state dict; a missing or unreadable file is a one-line DataError."""
    if not path.is_file():
        raise DataError(f"LPIPS weights {path} are missing; {DOWNLOAD_HINT}")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch.load raises many types (pickle, zip, EOF, runtime) for a bad file
        reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
        raise DataError(f"LPIPS weights {path} are unreadable ({reason}); delete the file and "
                        f"{DOWNLOAD_HINT}") from exc
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise DataError(f"LPIPS weights {path} are not a state dict of tensors; delete the file and {DOWNLOAD_HINT}")
    return state


def _take(state: dict[str, torch.Tensor], key: str, shape: tuple[int, ...], path: Path) -> torch.Tensor:
    """``state[key]``, checked against the shape the network needs."""
    if key not in state:
        raise DataError(f"LPIPS weights {path} lack {key!r} (not the published file?); {DOWNLOAD_HINT}")
    value = state[key]
    if tuple(value.shape) != shape:
        raise DataError(f"LPIPS weights {path}: {key!r} has shape {tuple(value.shape)}, expected {shape} "
                        f"(not the published file?); {DOWNLOAD_HINT}")
    return value.float()


def load_lpips(weights_dir: Path, device: torch.device | str = "cpu") -> LPIPS:
    """An :class:`LPIPS` in eval mode, without gradients, with the two :data:`WEIGHT_FILES` of ``weights_dir``."""
    weights_dir = Path(weights_dir)
    model = LPIPS()
    backbone_path = weights_dir / ALEXNET.filename
    backbone = _read_state_dict(backbone_path)  # its classifier.* keys are not needed and ignored
    linear_path = weights_dir / LINEAR.filename
    linear = _read_state_dict(linear_path)
    ours: dict[str, torch.Tensor] = {}
    for index, c_in, c_out, kernel, *_ in CONVS:
        ours[f"features.{index}.weight"] = _take(
            backbone, f"features.{index}.weight", (c_out, c_in, kernel, kernel), backbone_path)
        ours[f"features.{index}.bias"] = _take(backbone, f"features.{index}.bias", (c_out,), backbone_path)
    for k, channels in enumerate(CHANNELS):
        # lpips' NetLinLayer is Sequential(Dropout, Conv2d): the convolution is item 1
        ours[f"lins.{k}.weight"] = _take(linear, f"lin{k}.model.1.weight", (1, channels, 1, 1), linear_path)
    model.load_state_dict({**model.state_dict(), **ours}, strict=True)
    return model.to(device)
