"""SimVP (Gao et al., "SimVP: Simpler yet Better Video Prediction", CVPR 2022) with the gated
spatiotemporal attention translator of SimVP v2 (Tan et al., "SimVP: Towards Simple yet Powerful
Spatiotemporal Predictive Learning", 2022) or the temporal attention unit (Tan et al., "Temporal
Attention Unit: Towards Efficient Spatiotemporal Predictive Learning", CVPR 2023), written from
the papers.

No recurrence: the ``T`` context frames are encoded one by one, the translator sees them stacked
along the channels and maps them to ``T`` future frames at once, which the decoder turns back
into pixels.

- **Encoder**, per frame: ``spatial_layers`` convolutions (kernel ``kernel_size``, GroupNorm with 2
  groups, SiLU) of ``spatial_hidden`` channels; every second one has stride 2, so the latent grid
  is ``2^(spatial_layers // 2)`` times smaller than the frame.
- **Translator**, over ``(T x spatial_hidden)`` channels: ``translator_layers`` blocks, each a
  token mixer and a channel MLP (both pre-normalised with BatchNorm, added back through learned
  per-channel scales starting at 0.01). A 1x1 convolution after the first block narrows to
  ``translator_hidden`` channels, one after the last widens back. The MLP is 1x1 convolution ->
  3x3 depth-wise convolution -> GELU -> 1x1 convolution (``mlp_ratio`` times wider inside). The
  token mixer is 1x1 -> GELU -> attention -> 1x1, plus its input; the attention decomposes a
  large kernel (``attention_kernel``, 21) into a depth-wise convolution, a dilated depth-wise one
  and a 1x1 convolution:

  * ``translator=gsta``: the 1x1 gives two halves ``f``, ``g``; attention = ``sigmoid(g) * f``;
  * ``translator=tau``: static attention (the 1x1 of the decomposed kernel) times dynamic attention
    (squeeze-and-excitation: average pool, FC, ReLU, FC, sigmoid, per channel) times the input.

- **Decoder**, per frame: the encoder mirrored (pixel-shuffle upsampling where it strided), the
  encoder's first feature map added before its last layer (the skip connection), then a 1x1
  read-out to the frame's channels.

**Horizons.** The translator is built for ``context`` frames in and as many out. A shorter horizon
keeps the first frames of the translated block; a longer one rolls out in blocks: the last
``context`` predicted frames are the next block's input, until the horizon is covered (the last
block cut). In training the loss sees the whole roll-out and gradients flow through every block.
So ``python -m vidpred.predict --horizon N`` works for any ``N``.

BatchNorm normalises with the statistics of the whole global batch also under ``torchrun``: the
sums are added up over the processes (:class:`BatchNorm2d`), so data-parallel training computes
what one process would.
"""

from __future__ import annotations

import math

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn
from torch.distributed.nn.functional import all_reduce

from vidpred.errors import ConfigError, require
from vidpred.models.base import MODELS, Forecaster

TRANSLATORS = ("gsta", "tau")


class BatchNorm2d(nn.BatchNorm2d):
    """``nn.BatchNorm2d`` whose training statistics span every process of a data-parallel run.

    One process: exactly ``nn.BatchNorm2d``. Several: each adds up its per-channel sums (the count,
    the sum, then the squared deviations from the global mean) with a differentiable all-reduce, so
    the normalisation, its gradients and the running statistics are those of the global batch.
    (PyTorch's own ``SyncBatchNorm`` runs on GPUs only; this one also on the CPU with Gloo.)
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not (self.training and dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1):
            return super().forward(x)
        values = x.float()
        count = all_reduce(values.new_full((1,), values.numel() / values.shape[1]))
        mean = all_reduce(values.sum(dim=(0, 2, 3))) / count
        centred = values - mean[None, :, None, None]
        var = all_reduce(centred.square().sum(dim=(0, 2, 3))) / count
        with torch.no_grad():
            self.num_batches_tracked.add_(1)
            self.running_mean.lerp_(mean.detach(), self.momentum)
            self.running_var.lerp_(var.detach() * count / (count - 1).clamp(min=1), self.momentum)
        scale = self.weight / torch.sqrt(var + self.eps)
        return (centred * scale[None, :, None, None] + self.bias[None, :, None, None]).to(x.dtype)


class ConvNormAct(nn.Module):
    """Convolution (stride 2 to downsample; 4x channels and a pixel shuffle to upsample),
    GroupNorm with 2 groups, SiLU: a layer of the spatial encoder and decoder."""

    def __init__(self, c_in: int, c_out: int, kernel_size: int, down: bool = False, up: bool = False) -> None:
        super().__init__()
        stride = 2 if down else 1
        self.conv = nn.Conv2d(c_in, c_out * (4 if up else 1), kernel_size, stride=stride,
                              padding=(kernel_size - stride + 1) // 2)
        self.shuffle = nn.PixelShuffle(2) if up else nn.Identity()
        self.norm = nn.GroupNorm(2, c_out)
        nn.init.trunc_normal_(self.conv.weight, std=0.02)
        nn.init.zeros_(self.conv.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.silu(self.norm(self.shuffle(self.conv(x))))


def _downsamples(layers: int) -> list[bool]:
    """Which encoder layers stride: every second one, starting with the second."""
    return [k % 2 == 1 for k in range(layers)]


def _depthwise_kernels(kernel: int, dilation: int = 3) -> tuple[int, int]:
    """A ``kernel`` x ``kernel`` receptive field as a depth-wise convolution of ``2 d - 1`` followed
    by a depth-wise one dilated by ``d`` (its size ``kernel // d``, rounded down to odd)."""
    dilated = kernel // dilation
    return 2 * dilation - 1, dilated - (1 - dilated % 2)


class LargeKernel(nn.Module):
    """Depth-wise convolution, then a dilated depth-wise one: a large kernel, decomposed."""

    def __init__(self, dim: int, kernel: int, dilation: int = 3) -> None:
        super().__init__()
        local, dilated = _depthwise_kernels(kernel, dilation)
        self.local = nn.Conv2d(dim, dim, local, padding=local // 2, groups=dim)
        self.dilated = nn.Conv2d(dim, dim, dilated, padding=dilation * (dilated // 2), groups=dim,
                                 dilation=dilation)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.dilated(self.local(x))


class GatedAttention(nn.Module):
    """gSTA's attention: the decomposed kernel, a 1x1 to ``f`` and ``g``; ``sigmoid(g) * f``."""

    def __init__(self, dim: int, kernel: int) -> None:
        super().__init__()
        self.kernel = LargeKernel(dim, kernel)
        self.gate = nn.Conv2d(dim, 2 * dim, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        f, g = self.gate(self.kernel(x)).chunk(2, dim=1)
        return torch.sigmoid(g) * f


class TemporalAttention(nn.Module):
    """TAU's attention: static (the decomposed kernel and a 1x1) times dynamic (squeeze-and-
    excitation over the channels) times the input."""

    def __init__(self, dim: int, kernel: int) -> None:
        super().__init__()
        self.kernel = LargeKernel(dim, kernel)
        self.static = nn.Conv2d(dim, dim, 1)
        squeezed = dim // max(dim // 16, 4)
        self.squeeze = nn.Linear(dim, squeezed, bias=False)
        self.excite = nn.Linear(squeezed, dim, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        dynamic = torch.sigmoid(self.excite(F.relu(self.squeeze(x.mean(dim=(2, 3))))))
        return self.static(self.kernel(x)) * dynamic[:, :, None, None] * x


class TranslatorBlock(nn.Module):
    """Token mixer and channel MLP, each pre-normalised and added back through a learned scale."""

    def __init__(self, dim: int, translator: str, kernel: int, mlp_ratio: float) -> None:
        super().__init__()
        self.norm1 = BatchNorm2d(dim)
        self.proj_in = nn.Conv2d(dim, dim, 1)
        self.attention = GatedAttention(dim, kernel) if translator == "gsta" else TemporalAttention(dim, kernel)
        self.proj_out = nn.Conv2d(dim, dim, 1)
        self.norm2 = BatchNorm2d(dim)
        inner = int(dim * mlp_ratio)
        self.mlp = nn.Sequential(nn.Conv2d(dim, inner, 1), nn.Conv2d(inner, inner, 3, padding=1, groups=inner),
                                 nn.GELU(), nn.Conv2d(inner, dim, 1))
        self.scale1 = nn.Parameter(torch.full((dim, 1, 1), 1e-2))
        self.scale2 = nn.Parameter(torch.full((dim, 1, 1), 1e-2))
        for module in self.modules():
            if isinstance(module, nn.Conv2d):  # He initialisation by fan-out
                fan_out = module.kernel_size[0] * module.kernel_size[1] * module.out_channels // module.groups
                nn.init.normal_(module.weight, 0.0, math.sqrt(2.0 / fan_out))
                nn.init.zeros_(module.bias)
            elif isinstance(module, nn.Linear):
                nn.init.trunc_normal_(module.weight, std=0.02)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        normed = self.norm1(x)
        mixed = self.proj_out(self.attention(F.gelu(self.proj_in(normed)))) + normed
        x = x + self.scale1 * mixed
        return x + self.scale2 * self.mlp(self.norm2(x))


class Translator(nn.Module):
    """``layers`` blocks over the stacked frames' channels, narrowed to ``hidden`` in between."""

    def __init__(self, channels: int, hidden: int, layers: int, translator: str, kernel: int,
                 mlp_ratio: float) -> None:
        super().__init__()
        blocks: list[nn.Module] = []
        for k in range(layers):
            dim = channels if k == 0 else hidden
            out = channels if k == layers - 1 else hidden
            blocks.append(TranslatorBlock(dim, translator, kernel, mlp_ratio))
            if dim != out:
                blocks.append(nn.Conv2d(dim, out, 1))
        self.blocks = nn.Sequential(*blocks)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.blocks(x)


@MODELS.register
class SimVP(Forecaster):
    """SimVP with the gSTA or TAU translator; input ``(B, context, C, H, W)``, output
    ``(B, horizon, C, H, W)`` for any horizon (blocks of ``context`` frames, see the module docstring)."""

    name, label = "simvp", "SimVP"
    kinds = ("video",)
    layered = False  # its depths are spatial_layers and translator_layers; `layers` leaves it unchanged
    small = {"spatial_hidden": 8, "translator_hidden": 32, "spatial_layers": 2, "translator_layers": 2,
             "mlp_ratio": 2.0, "attention_kernel": 9}

    def __init__(self, frame_shape: tuple[int, ...], layers: int, context: int = 10, translator: str = "gsta",
                 spatial_hidden: int = 64, translator_hidden: int = 512, spatial_layers: int = 4,
                 translator_layers: int = 8, kernel_size: int = 3, attention_kernel: int = 21,
                 mlp_ratio: float = 8.0) -> None:
        super().__init__()
        require(translator in TRANSLATORS, f"model.translator must be one of {', '.join(TRANSLATORS)}, "
                                           f"got {translator!r}")
        require(context >= 1, f"model.context must be at least 1, got {context}")
        require(spatial_hidden >= 2 and spatial_hidden % 2 == 0,
                f"model.spatial_hidden must be even (GroupNorm with 2 groups), got {spatial_hidden}")
        require(translator_hidden >= 1, f"model.translator_hidden must be at least 1, got {translator_hidden}")
        require(spatial_layers >= 1, f"model.spatial_layers must be at least 1, got {spatial_layers}")
        require(translator_layers >= 2, f"model.translator_layers must be at least 2, got {translator_layers}")
        require(kernel_size >= 1 and kernel_size % 2 == 1, f"model.kernel_size must be odd, got {kernel_size}")
        require(attention_kernel >= 3, f"model.attention_kernel must be at least 3, got {attention_kernel}")
        require(mlp_ratio > 0, f"model.mlp_ratio must be positive, got {mlp_ratio}")
        channels, height, width = frame_shape
        shrink = 2 ** (spatial_layers // 2)
        require(height % shrink == 0 and width % shrink == 0,
                f"model.spatial_layers={spatial_layers} halves the frame {spatial_layers // 2} time(s): "
                f"its size {height}x{width} must divide by {shrink}")
        self.context = context
        self.frame = (height, width)
        self.spatial_hidden, self.mlp_ratio = spatial_hidden, mlp_ratio
        self.translator_width = max(context * spatial_hidden, translator_hidden)  # the widest block
        downs = _downsamples(spatial_layers)
        self.encoder = nn.ModuleList(ConvNormAct(channels if k == 0 else spatial_hidden, spatial_hidden,
                                                 kernel_size, down=down) for k, down in enumerate(downs))
        self.translator = Translator(context * spatial_hidden, translator_hidden, translator_layers, translator,
                                     attention_kernel, mlp_ratio)
        self.decoder = nn.ModuleList(ConvNormAct(spatial_hidden, spatial_hidden, kernel_size, up=up)
                                     for up in reversed(downs))
        self.readout = nn.Conv2d(spatial_hidden, channels, 1)

    def memory_bytes(self, batch: int, context: int, horizon: int, train_items: int | None) -> int:
        """An upper estimate of what a training step keeps for its backward pass (tests/test_memory.py
        checks it): per frame and encoder or decoder layer, the convolution's output, the normalised
        and the activated map (an upsampling layer's 4x wider output before the shuffle too); per
        translator block, about 16 maps of its widest channel count and 3 of its MLP's; all once per
        block of the roll-out."""
        height, width = self.frame
        maps, pixels = 0, height * width
        for layer in self.encoder:
            pixels //= 4 if layer.conv.stride[0] == 2 else 1
            maps += 4 * pixels
        latent = pixels
        for layer in self.decoder:
            upsampling = isinstance(layer.shuffle, nn.PixelShuffle)
            pixels *= 4 if upsampling else 1
            maps += (8 if upsampling else 4) * pixels
        spatial = self.context * self.spatial_hidden * maps
        blocks = sum(isinstance(block, TranslatorBlock) for block in self.translator.blocks)
        translator = blocks * (16 + 3 * self.mlp_ratio) * self.translator_width * latent
        return int(4 * batch * -(-horizon // self.context) * (spatial + translator))

    def translate(self, frames: torch.Tensor) -> torch.Tensor:
        """``context`` frames -> the next ``context`` frames, ``(B, T, C, H, W)`` both."""
        batch, steps = frames.shape[:2]
        skip = latent = self.encoder[0](frames.flatten(0, 1))
        for layer in self.encoder[1:]:
            latent = layer(latent)
        latent = latent.unflatten(0, (batch, steps)).flatten(1, 2)
        if latent.device.type == "cpu":
            # channels-last: on the CPU, oneDNN runs depth-wise and 1x1 convolutions faster in this layout
            latent = latent.contiguous(memory_format=torch.channels_last)
        latent = self.translator(latent)
        latent = latent.unflatten(1, (steps, -1)).flatten(0, 1)
        for layer in self.decoder[:-1]:
            latent = layer(latent)
        out = self.readout(self.decoder[-1](latent + skip))
        return out.unflatten(0, (batch, steps))

    def forward(self, context: torch.Tensor, horizon: int,
                target: torch.Tensor | None = None) -> torch.Tensor:
        if context.shape[1] != self.context:
            raise ConfigError(f"model=simvp was built for a context of {self.context} frames (model.context), "
                              f"got {context.shape[1]}")
        blocks, done, frames = [], 0, context
        while done < horizon:
            frames = self.translate(frames)
            blocks.append(frames)
            done += self.context
        future = blocks[0] if len(blocks) == 1 else torch.cat(blocks, dim=1)
        return future[:, :horizon]
