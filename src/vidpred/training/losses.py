"""What a training step minimises: ``loss=mse`` (the study's); ``loss=ddr``, the mean squared error
plus TAU's differential divergence regularisation; or ``loss=adversarial``, the next step the study
names for its blurry video predictions: a reconstruction term plus a GAN term from a discriminator
that judges the predicted frames given the context frames.

``loss=ddr`` (Tan et al., CVPR 2023; video, a horizon of 2 or more): the differences between
consecutive predicted frames and between consecutive true frames are each turned into a
distribution over the pixels by a softmax (temperature ``loss.temperature``, 0.1), and the
Kullback-Leibler divergence of the prediction's from the truth's is added with weight
``loss.alpha`` (0.1), averaged over items, frame pairs and pixels (as the published TAU was
trained). It rewards getting the motion right, not only the pixels.

``loss=adversarial``:

- the discriminator sees ``[context, future]`` as one clip through 3-D convolutions with spectral
  normalisation (real: the true future; fake: the prediction), and optionally a per-frame 2-D one
  that sees each future frame beside the last context frame (``loss.frame_discriminator``);
- ``loss.gan``: ``lsgan`` (least squares: real -> 1, fake -> 0) or ``hinge``;
- the generator minimises ``loss.rec_weight`` x reconstruction (``loss.rec``: ``mse`` or ``l1``) +
  ``loss.adv_weight`` x its adversarial term; for the first ``loss.warmup_steps`` steps only the
  reconstruction (the discriminator does not train yet either);
- the discriminator has its own Adam (``loss.lr``, ``loss.beta1``, ``loss.beta2``: 2e-4, 0.5, 0.999)
  and its own gradient scaler under float16; its weights and optimizer state go into ``last.pt``.

Evaluation never sees the discriminator: a run is scored on the generator's predictions.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm

from vidpred.errors import require

OBJECTIVES = ("mse", "ddr", "adversarial")
GANS = ("lsgan", "hinge")
RECONSTRUCTIONS = ("mse", "l1")


@dataclass
class LossConfig:
    name: str = "mse"
    gan: str = "lsgan"
    rec: str = "mse"
    rec_weight: float = 100.0
    adv_weight: float = 0.05
    warmup_steps: int = 0
    lr: float = 2e-4
    beta1: float = 0.5
    beta2: float = 0.999
    channels: int = 32             # the discriminator's first layer; doubled at each downsampling
    frame_discriminator: bool = False
    alpha: float = 0.1             # loss=ddr: the weight of the divergence of the frame differences
    temperature: float = 0.1       # loss=ddr: the softmax's temperature

    def __post_init__(self) -> None:
        require(self.name in OBJECTIVES, f"unknown loss {self.name!r}; choose one of {', '.join(OBJECTIVES)}")
        require(self.gan in GANS, f"loss.gan must be one of {', '.join(GANS)}, got {self.gan!r}")
        require(self.rec in RECONSTRUCTIONS, f"loss.rec must be one of {', '.join(RECONSTRUCTIONS)}, got {self.rec!r}")
        require(self.rec_weight > 0, f"loss.rec_weight must be positive, got {self.rec_weight}")
        require(self.adv_weight >= 0, f"loss.adv_weight must be non-negative, got {self.adv_weight}")
        require(self.warmup_steps >= 0, f"loss.warmup_steps must be 0 or positive, got {self.warmup_steps}")
        require(self.lr > 0, f"loss.lr must be positive, got {self.lr}")
        require(0 <= self.beta1 < 1 and 0 <= self.beta2 < 1, f"loss.beta1 and loss.beta2 must be in [0, 1), "
                                                             f"got {self.beta1} and {self.beta2}")
        require(self.channels >= 1, f"loss.channels must be at least 1, got {self.channels}")
        require(self.alpha >= 0, f"loss.alpha must be non-negative, got {self.alpha}")
        require(self.temperature > 0, f"loss.temperature must be positive, got {self.temperature}")

    @property
    def adversarial(self) -> bool:
        return self.name == "adversarial"

    @property
    def ddr(self) -> bool:
        return self.name == "ddr"


def _downsampled(frame: int) -> int:
    """Stride-2 layers a frame side allows (kernel 4, padding 1 halve it), at most 3."""
    count = 0
    while frame >= 2 and count < 3:
        frame //= 2
        count += 1
    return count


class ClipDiscriminator(nn.Module):
    """Scores a clip ``[context, future]`` ``(B, T, C, H, W)``: 3-D convolutions with spectral
    normalisation, space halved at each layer (time from the second on), then a linear score."""

    def __init__(self, channels: int, frame: tuple[int, int], width: int) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        c_in = channels
        for k in range(max(1, _downsampled(min(frame)))):
            c_out = width * 2 ** k
            stride = (1 if k == 0 else 2, 2, 2)
            layers += [spectral_norm(nn.Conv3d(c_in, c_out, (3, 4, 4), stride=stride, padding=1)),
                       nn.LeakyReLU(0.2)]
            c_in = c_out
        self.body = nn.Sequential(*layers)
        self.score = spectral_norm(nn.Linear(c_in, 1))

    def forward(self, clip: torch.Tensor) -> torch.Tensor:
        features = self.body(clip.transpose(1, 2))  # (B, C, T, H, W) for the 3-D convolutions
        return self.score(features.mean(dim=(2, 3, 4))).squeeze(1)


class FrameDiscriminator(nn.Module):
    """Scores each future frame beside the last context frame, 2-D convolutions with spectral
    normalisation; the clip's score is the mean over its frames."""

    def __init__(self, channels: int, frame: tuple[int, int], width: int) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        c_in = 2 * channels
        for k in range(max(1, _downsampled(min(frame)))):
            c_out = width * 2 ** k
            layers += [spectral_norm(nn.Conv2d(c_in, c_out, 4, stride=2, padding=1)), nn.LeakyReLU(0.2)]
            c_in = c_out
        self.body = nn.Sequential(*layers)
        self.score = spectral_norm(nn.Linear(c_in, 1))

    def forward(self, last_seen: torch.Tensor, future: torch.Tensor) -> torch.Tensor:
        b, t = future.shape[:2]
        pairs = torch.cat([last_seen.unsqueeze(1).expand(-1, t, -1, -1, -1), future], dim=2).flatten(0, 1)
        scores = self.score(self.body(pairs).mean(dim=(2, 3))).view(b, t)
        return scores.mean(dim=1)


class Discriminator(nn.Module):
    """The clip discriminator, plus the per-frame one when asked: one score per item and judge."""

    def __init__(self, frame_shape: tuple[int, ...], width: int, frames: bool) -> None:
        super().__init__()
        channels, height, width_px = frame_shape
        self.clip = ClipDiscriminator(channels, (height, width_px), width)
        self.frames = FrameDiscriminator(channels, (height, width_px), width) if frames else None

    def forward(self, context: torch.Tensor, future: torch.Tensor) -> list[torch.Tensor]:
        scores = [self.clip(torch.cat([context, future], dim=1))]
        if self.frames is not None:
            scores.append(self.frames(context[:, -1], future))
        return scores


def discriminator_loss(gan: str, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    """Per item: the discriminator's loss on a real and a fake score."""
    if gan == "lsgan":
        return (real - 1).square() + fake.square()
    return F.relu(1 - real) + F.relu(1 + fake)


def generator_adversarial(gan: str, fake: torch.Tensor) -> torch.Tensor:
    """Per item: the generator's adversarial loss on the discriminator's score of its prediction."""
    if gan == "lsgan":
        return (fake - 1).square()
    return -fake


def reconstruction(kind: str, prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """The summed squared (``mse``) or absolute (``l1``) error of a batch."""
    error = prediction.float() - target.float()
    return error.square().sum() if kind == "mse" else error.abs().sum()


def differential_divergence(prediction: torch.Tensor, target: torch.Tensor, temperature: float) -> torch.Tensor:
    """Per item ``(B,)``: TAU's differential divergence, ``KL(softmax(dP / t) || softmax(dY / t))``
    with ``dP``, ``dY`` the differences of consecutive predicted and true frames (softmax over each
    difference's pixels), averaged over the frame pairs and the pixels."""
    pairs = prediction.shape[1] - 1
    if pairs < 1:
        return prediction.new_zeros(prediction.shape[0], dtype=torch.float32)
    log_p = F.log_softmax(prediction.float().diff(dim=1).flatten(2) / temperature, dim=2)
    log_q = F.log_softmax(target.float().diff(dim=1).flatten(2) / temperature, dim=2)
    return (log_p.exp() * (log_p - log_q)).flatten(1).mean(dim=1)
