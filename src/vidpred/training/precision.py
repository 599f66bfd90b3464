"""Device and numeric precision: the one place where autocast and gradient scaling live.

``32`` is exact float32. ``bf16`` autocasts to bfloat16 on CUDA and on the CPU (so the mixed
path is testable without a GPU); on a GPU without bfloat16 it falls back to ``16``. ``16``
autocasts to float16 with a gradient scaler, on CUDA only.
"""

from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass

import torch

from vidpred.errors import ConfigError

log = logging.getLogger("vidpred")

_ALIASES = {
    "32": "32", "32-true": "32", "fp32": "32", "float32": "32",
    "bf16": "bf16", "bf16-mixed": "bf16", "bfloat16": "bf16",
    "16": "16", "16-mixed": "16", "fp16": "16", "float16": "16",
}


def resolve_device(name: str) -> torch.device:
    """``auto`` picks CUDA when present, else the CPU."""
    name = str(name)
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda"):
        if not torch.cuda.is_available():
            raise ConfigError(f"trainer.device={name} but no CUDA GPU is visible; "
                              "use trainer.device=cpu (or auto)")
        return torch.device(name)
    if name == "cpu":
        return torch.device("cpu")
    raise ConfigError(f"unknown trainer.device {name!r}; choose auto, cpu or cuda")


@dataclass(frozen=True)
class Precision:
    """Autocast settings for one device: ``with precision.autocast(): loss = ...``."""

    name: str
    device: torch.device

    @classmethod
    def create(cls, precision: str | int, device: torch.device, kind: str = "video") -> Precision:
        """``auto`` is bf16 for video on a GPU and exact float32 otherwise: the sequence LSTM gains
        nothing from bf16 (its small matrices leave the GPU idle either way) and its recurrent kernels
        lose their fastest paths under autocast."""
        if str(precision).lower() == "auto":
            key = "bf16" if device.type == "cuda" and kind == "video" else "32"
            log.info("trainer.precision=auto: %s for %s data on %s", key, kind, device.type)
        else:
            key = _ALIASES.get(str(precision).lower())
        if key is None:
            raise ConfigError(f"unknown trainer.precision {precision!r}; choose auto, 32, bf16 or 16")
        if key == "16" and device.type != "cuda":
            raise ConfigError("trainer.precision=16 needs a CUDA GPU; on the CPU use "
                              "trainer.precision=bf16 or 32")
        if key == "bf16" and device.type == "cuda" and not torch.cuda.is_bf16_supported():
            # Older GPUs (before Ampere): the same speed-up from float16, made safe by the scaler.
            log.warning("this GPU has no bfloat16 support: using float16 autocast with gradient scaling")
            key = "16"
        return cls(key, device)

    @property
    def dtype(self) -> torch.dtype | None:
        return {"32": None, "bf16": torch.bfloat16, "16": torch.float16}[self.name]

    def autocast(self) -> contextlib.AbstractContextManager[None]:
        if self.dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(device_type=self.device.type, dtype=self.dtype)

    def grad_scaler(self) -> torch.amp.GradScaler:
        """Scaling is only needed for float16; for the others the scaler is a pass-through."""
        return torch.amp.GradScaler(self.device.type, enabled=self.name == "16")
