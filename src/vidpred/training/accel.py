"""Speed settings of the GPU path: cuDNN autotuning, channels-last weights, ``torch.compile``.

None of them changes what is computed (up to kernel choice), and on the CPU only ``compile`` does
anything, so the CPU path stays exact float32 by default. ``compile=auto`` (the GPU trainer's
default) compiles video models on CUDA with CUDA graphs (``reduce-overhead``): a ConvLSTM step at a
small batch is hundreds of small kernels, which the graphs replay in one launch. When compiling
fails, :func:`fall_back_to_eager` turns it off, says so in the log, and the run goes on.
"""

from __future__ import annotations

import logging

import torch
from torch import nn

_LAST_FORMATS = {4: torch.channels_last, 5: torch.channels_last_3d}
#: torch.compile modes ``trainer.compile`` accepts besides true / false. ``reduce-overhead``
#: replays CUDA graphs: it pays off where a step is many small kernels (a ConvLSTM at batch 4).
COMPILE_MODES = ("auto", "default", "reduce-overhead", "max-autotune", "max-autotune-no-cudagraphs")
AUTO_MODE = "reduce-overhead"

log = logging.getLogger("vidpred")


def to_channels_last(model: nn.Module) -> nn.Module:
    """Store 2-D / 3-D convolution weights channels-last (NHWC / NDHWC), in place.

    cuDNN runs a convolution channels-last when its input *or* its weight is, and its output stays
    so, so converting the weights once carries the layout through a recurrent model whose state
    tensors are created inside ``forward``. Tensor cores read NHWC without transposes.
    """
    for param in model.parameters():
        layout = _LAST_FORMATS.get(param.dim())
        if layout is not None:
            # .data keeps the Parameter object, so an optimizer built before or after still holds it
            param.data = param.data.contiguous(memory_format=layout)
    return model


def accelerate(model: nn.Module, device: torch.device, video: bool, channels_last: bool,
               compile_model: bool | str) -> nn.Module:
    """Apply the speed settings for ``device`` to ``model`` (in place) and return it."""
    if device.type == "cuda":
        # Shapes are fixed within a run, so autotuning the convolution algorithms once pays off.
        torch.backends.cudnn.benchmark = True
        if video and channels_last:
            to_channels_last(model)
    if compile_model == "auto":
        compile_model = AUTO_MODE if device.type == "cuda" and video else False
        log.info("trainer.compile=auto: %s", f"torch.compile mode {compile_model}" if compile_model else "eager")
    if compile_model:
        compile_forward(model, mode=None if compile_model is True else compile_model)
    return model


def compile_forward(model: nn.Module, **options: object) -> None:
    """Run ``model`` through ``torch.compile`` (``options``: its keyword arguments): its ``forward``
    becomes the compiled one, the module and its state_dict keys stay as they are, so checkpoints
    load without torch.compile; :func:`fall_back_to_eager` undoes it."""
    model.forward = torch.compile(model.forward, **options)


def is_compiled(model: nn.Module) -> bool:
    return "forward" in vars(model)  # the compiled forward shadows the class's own


def fall_back_to_eager(model: nn.Module, exc: BaseException) -> bool:
    """Undo :func:`compile_forward` after a compilation failure; False when the model was not compiled
    (the failure is then the model's own and must be raised)."""
    if not is_compiled(model) or not _is_compile_error(exc):
        return False
    del model.forward  # the class's eager forward again
    log.warning("torch.compile failed (%s); the run goes on without it (eager)", " ".join(str(exc).split())[:300])
    return True


def _is_compile_error(exc: BaseException) -> bool:
    """Errors raised by Dynamo or Inductor, not by the model's own computation."""
    module = type(exc).__module__
    return module.startswith(("torch._dynamo", "torch._inductor")) or "BackendCompilerFailed" in type(exc).__name__
