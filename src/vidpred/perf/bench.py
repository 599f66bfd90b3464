"""Training throughput of a configuration: samples per second of the real training step, its
FLOP rate and how close that is to the machine's peak.

    python -m vidpred.perf.bench model=convlstm data=mnist layers=2 --precision 32,bf16
    python -m vidpred.perf.bench model=convlstm data=mnist --synthetic --batch-size 4,32 --compile off,on
    python -m vidpred.perf.bench model=lstm data=sins layers=3 --synthetic --precision 32 --reference

Overrides compose the same config as ``python -m vidpred.run``. Every combination of
``--precision``, ``--compile`` and ``--batch-size`` builds a fresh model and :class:`Trainer` (so
channels-last, cuDNN autotuning and ``torch.compile`` are the trainer's own), runs ``--warmup``
steps, then ``--windows`` timed windows of ``--steps`` steps in total, and reports the median
samples/s over the windows (with the slowest and fastest). ``--synthetic`` (or data that is not on
this machine) trains on generated moving squares of the data set's geometry instead: throughput
depends on shapes, not on pixel values.

FLOPs are counted, not estimated: :class:`torch.utils.flop_counter.FlopCounterMode` over one real
``Trainer.train_step`` (forward, MSE loss, backward) on the CPU in fp32. It counts matrix products
and convolutions only, so the gate nonlinearities, the loss and the optimizer's elementwise update
are not in the count; a grouped convolution's weight gradient is counted per group
(:func:`grouped_conv_backward_flop`: torch's own formula counts SimVP's depth-wise ones many times over). Achieved FLOP/s is FLOPs per sample times samples/s; the peak is a GEMM
measured in the same process on the CPU, and the datasheet's dense figure on known GPUs.

``--reference`` also times the textbook model of the same family (:mod:`vidpred.perf.reference`) with
the same trainer, windows interleaved (vidpred, textbook, vidpred, ...) so that a change of load
hits both, and prints the ratio. For the ConvLSTM the cell's gate convolution alone is timed in the
same rounds: "conv efficiency" is the model step's FLOP/s over that convolution's. On a shared
CPU, ``--threads 1`` gives steadier numbers than torch's default of one thread per core.
"""

from __future__ import annotations

import argparse
import itertools
import contextlib
import functools
import logging
import math
import re
import statistics
import sys
import tempfile
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.flop_counter import FlopCounterMode, conv_backward_flop

from vidpred import config
from vidpred.data import build_data, family
from vidpred.data.base import ArrayDataset, DataSplits
from vidpred.errors import ConfigError, DataError, exit_on_user_error, require
from vidpred.io import write_json
from vidpred.models import build_model
from vidpred.models.base import Forecaster
from vidpred.perf.reference import TEXTBOOK, build_textbook
from vidpred.registry import call_with_config
from vidpred.training.seeding import seed_everything
from vidpred.training.accel import COMPILE_MODES, to_channels_last
from vidpred.training.precision import Precision, resolve_device
from vidpred.training.settings import LoaderConfig, OptimConfig, TrainerConfig
from vidpred.training.trainer import Trainer

log = logging.getLogger("vidpred")

FLOPS_NOTE = ("FLOPs: FlopCounterMode over one Trainer.train_step (forward, MSE loss, backward) on the CPU "
              "in fp32 at batch 1 and 2, per sample at the timed batch; matrix products and convolutions only, "
              "grouped ones per group "
              "(gate nonlinearities, the loss and Adam's elementwise update are not counted)")


# ---------------------------------------------------------------- synthetic data
def moving_squares(count: int, length: int, frame_shape: tuple[int, int, int], seed: int) -> np.ndarray:
    """``count`` videos ``(length, C, H, W)`` in [0, 1] of one bright square bouncing in each.

    Learnable (constant velocity, reflection at the edges) and cheap: a stand-in for video data
    in benchmarks and tests.
    """
    channels, height, width = frame_shape
    side = max(1, min(height, width) // 4)
    out = np.zeros((count, length, channels, height, width), dtype=np.float32)
    rng = np.random.default_rng(seed)
    for item in range(count):
        y, x = rng.integers(0, height - side + 1), rng.integers(0, width - side + 1)
        dy, dx = rng.integers(-3, 4, size=2)
        colour = rng.uniform(0.5, 1.0, size=(channels, 1, 1)).astype(np.float32)
        for t in range(length):
            out[item, t, :, y:y + side, x:x + side] = colour
            if not 0 <= y + dy <= height - side:
                dy = -dy
            if not 0 <= x + dx <= width - side:
                dx = -dx
            y, x = y + dy, x + dx
    return out


def synthetic_splits(kind: str, frame_shape: tuple[int, ...], context: int, horizon: int,
                     sizes: tuple[int, int, int] = (256, 32, 32), seed: int = 0) -> DataSplits:
    """Generated splits of a given geometry: moving squares for video, uniform noise for sequences."""
    length = context + horizon
    arrays = []
    for k, size in enumerate(sizes):
        if kind == "video":
            arrays.append(moving_squares(size, length, tuple(frame_shape), seed + k))
        else:
            rng = np.random.default_rng(seed + k)
            arrays.append(rng.uniform(0, 1, (size, length, *frame_shape)).astype(np.float32))
    return DataSplits(name="synthetic", kind=kind, context=context, horizon=horizon,
                      frame_shape=tuple(frame_shape), train=ArrayDataset(arrays[0]),
                      val=ArrayDataset(arrays[1]), test=ArrayDataset(arrays[2]))


# ---------------------------------------------------------------- FLOPs
@contextlib.contextmanager
def countable_kernels(model: nn.Module) -> Iterator[None]:
    """Let FlopCounterMode see every product of ``model`` on the CPU.

    oneDNN runs ``nn.LSTM`` as one fused ``mkldnn_rnn_layer`` op, which the counter has no formula
    for; without oneDNN, PyTorch's native LSTM evaluates the same equations with ``addmm``/``mm``,
    so the count is that of the same mathematics. Convolutions are counted either way, and keep
    oneDNN (the native CPU convolution is much slower).
    """
    if not any(isinstance(module, nn.RNNBase) for module in model.modules()):
        yield
        return
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the flags context warns about oneDNN TF32 on CPU-only builds
        with torch.backends.mkldnn.flags(enabled=False):
            yield


def grouped_conv_backward_flop(grad_out_shape: list[int], x_shape: list[int], w_shape: list[int], bias: Any,
                               stride: Any, padding: Any, dilation: Any, transposed: bool, output_padding: Any,
                               groups: int, output_mask: list[bool], out_shape: Any, **kwargs: Any) -> int:
    """torch's FLOP count of a convolution's backward pass, with the weight gradient of a grouped
    convolution counted per group: torch's formula counts it as if every input channel met every
    output channel, ``groups`` times too much (a depth-wise convolution's by its channel count)."""
    per_group = not transposed and groups > 1 and output_mask[1]
    flops = conv_backward_flop(grad_out_shape, x_shape, w_shape, bias, stride, padding, dilation, transposed,
                               output_padding, groups, [output_mask[0], output_mask[1] and not per_group, False],
                               out_val=out_shape)  # torch's formula as registered: it takes the output as out_val
    if per_group:  # one multiply-add per weight, output position and item, as the forward pass
        flops += 2 * x_shape[0] * math.prod(grad_out_shape[2:]) * math.prod(w_shape)
    return flops


def flop_counter() -> FlopCounterMode:
    """torch's FLOP counter with grouped convolutions' backward counted right."""
    return FlopCounterMode(display=False, custom_mapping={torch.ops.aten.convolution_backward: grouped_conv_backward_flop})


def train_step_flops(model: Forecaster, data: DataSplits, batch_size: int = 2,
                     optim: OptimConfig | None = None, seed: int = 0) -> int:
    """FLOPs of one real :meth:`Trainer.train_step` of ``model`` on ``batch_size`` training items,
    on the CPU in fp32 (the model is trained one step: pass a throwaway copy).

    The count is affine in the batch size: products with the batch as a dimension, plus the few that
    work on weights alone (the one-layer LSTM folds its head into its recurrent weights once per
    step), so two small batches give the count of any batch, on any device (:func:`count_flops`).
    """
    require(len(data.train) >= batch_size, f"cannot count FLOPs on {batch_size} items: the training "
            f"split has {len(data.train)}")
    require(model.trainable, f"model={model.name} has nothing to train: benchmark a trainable model")
    batch = torch.stack([data.train[i] for i in range(batch_size)])
    cpu = torch.device("cpu")
    with tempfile.TemporaryDirectory(prefix="vidpred-flops-") as run_dir:
        trainer = Trainer(model.to(cpu), data, Path(run_dir), TrainerConfig(progress="off"), optim or OptimConfig(),
                          LoaderConfig(batch_size=batch_size), Precision.create("32", cpu), seed)
        with countable_kernels(model), flop_counter() as counter:
            trainer.train_step(batch)
    return counter.get_total_flops()


def si(value: float, unit: str) -> str:
    """``2190 FLOP`` -> ``2.19 kFLOP``."""
    for scale, prefix in ((1e15, "P"), (1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= scale:
            return f"{value / scale:.3g} {prefix}{unit}"
    return f"{value:.3g} {unit}"


# ---------------------------------------------------------------- peaks
@dataclass(frozen=True)
class Peak:
    """A peak FLOP rate and where it comes from (printed next to the percentages)."""

    flops_per_second: float | None  # None: unknown
    source: str


#: Dense datasheet peaks in TFLOP/s (no 2:4 sparsity; NVIDIA prints most tensor figures with it,
#: here halved): fp32 on CUDA cores, tf32 / bf16 / fp16 on tensor cores with fp32 accumulation.
#: Keyed by a pattern of torch.cuda.get_device_name (first match wins, so variants come first);
#: a missing precision means the GPU has no such unit. Sources: the H100, H200, A100, L40S, L4,
#: A10 and V100 datasheets, the Ada (RTX 4090) and GA102 (RTX 3090) architecture whitepapers.
GPU_PEAKS: tuple[tuple[str, str, dict[str, float]], ...] = (
    (r"H100.*NVL", "H100 NVL", {"fp32": 60.0, "tf32": 417.5, "bf16": 835.5, "fp16": 835.5}),
    (r"H100.*PCIe", "H100 PCIe", {"fp32": 51.0, "tf32": 378.0, "bf16": 756.0, "fp16": 756.0}),
    (r"\bH100\b", "H100 SXM", {"fp32": 67.0, "tf32": 494.5, "bf16": 989.5, "fp16": 989.5}),
    (r"\bH200 NVL", "H200 NVL", {"fp32": 60.0, "tf32": 417.5, "bf16": 835.5, "fp16": 835.5}),
    (r"\bH200\b", "H200 SXM", {"fp32": 67.0, "tf32": 494.5, "bf16": 989.5, "fp16": 989.5}),
    (r"\bA100\b", "A100", {"fp32": 19.5, "tf32": 156.0, "bf16": 312.0, "fp16": 312.0}),
    (r"\bL40S\b", "L40S", {"fp32": 91.6, "tf32": 183.0, "bf16": 362.05, "fp16": 362.05}),
    (r"\bL4\b", "L4", {"fp32": 30.3, "tf32": 60.0, "bf16": 121.0, "fp16": 121.0}),
    (r"\bA10\b", "A10", {"fp32": 31.2, "tf32": 62.5, "bf16": 125.0, "fp16": 125.0}),
    (r"\bV100S\b", "V100S PCIe", {"fp32": 16.4, "fp16": 130.0}),
    (r"\bV100.*PCIE", "V100 PCIe", {"fp32": 14.0, "fp16": 112.0}),
    (r"\bV100\b", "V100 SXM2", {"fp32": 15.7, "fp16": 125.0}),
    (r"RTX 4090(?! D)", "GeForce RTX 4090", {"fp32": 82.6, "tf32": 82.6, "bf16": 165.2, "fp16": 165.2}),
    (r"RTX 3090(?! Ti)", "GeForce RTX 3090", {"fp32": 35.6, "tf32": 35.6, "bf16": 71.0, "fp16": 71.0}),
)


def gpu_peak(device_name: str, math: str) -> Peak:
    """The datasheet dense peak of a GPU for ``math`` (fp32, tf32, bf16 or fp16), or "peak unknown"."""
    for pattern, label, peaks in GPU_PEAKS:
        if re.search(pattern, device_name, flags=re.IGNORECASE):
            if math == "tf32" and "tf32" not in peaks:
                math = "fp32"  # no TF32 units (V100): "allowed" TF32 runs as fp32
            if math not in peaks:
                return Peak(None, f"peak unknown: the {label} has no {math} units")
            unit = "CUDA cores" if math == "fp32" else "tensor cores, dense"
            return Peak(peaks[math] * 1e12, f"datasheet peak {peaks[math]:g} TFLOP/s ({label}, {math} on {unit})")
    return Peak(None, f"peak unknown (no datasheet entry for {device_name!r})")


class GemmSampler:
    """Timed ``size`` x ``size`` ``torch.mm`` on the CPU, at the current torch thread count.

    The measured GEMM peak is the median over every product timed so far: a second's worth when
    the sampler is made, then a few more in each round of windows, so that one burst of load from
    other work cannot set the peak of a whole run.
    """

    def __init__(self, dtype: torch.dtype = torch.float32, size: int = 2048) -> None:
        self.dtype, self.size = dtype, size
        self.a, self.b = torch.randn(size, size).to(dtype), torch.randn(size, size).to(dtype)
        torch.mm(self.a, self.b)  # warm-up: the thread pool and the packing buffers
        self.times: list[float] = []
        self.sample(1)
        self.sample(min(8, max(2, int(1.0 / max(self.times[0], 1e-4)))))

    def sample(self, count: int = 3) -> float:
        """Time ``count`` more products; their FLOP/s."""
        times = []
        for _ in range(count):
            tick = time.perf_counter()
            torch.mm(self.a, self.b)
            times.append(time.perf_counter() - tick)
        self.times.extend(times)
        return 2 * self.size ** 3 * count / sum(times)

    def peak(self) -> Peak:
        name = str(self.dtype).removeprefix("torch.").replace("float32", "fp32").replace("bfloat16", "bf16")
        rate = 2 * self.size ** 3 / statistics.median(self.times)
        return Peak(rate, f"measured GEMM peak {rate / 1e9:.1f} GFLOP/s ({name} torch.mm {self.size}x{self.size}, "
                          f"threads={torch.get_num_threads()}, median of {len(self.times)})")


_SAMPLERS: dict[tuple[torch.dtype, int], GemmSampler] = {}


def gemm_sampler(dtype: torch.dtype = torch.float32) -> GemmSampler:
    """The process's sampler for ``dtype`` at the current thread count (made on first use)."""
    key = (dtype, torch.get_num_threads())
    if key not in _SAMPLERS:
        _SAMPLERS[key] = GemmSampler(dtype)
    return _SAMPLERS[key]


def measured_gemm_peak(dtype: torch.dtype = torch.float32) -> Peak:
    """The CPU's fp32 (or bf16) GEMM rate measured in this process so far."""
    return gemm_sampler(dtype).peak()


def _tf32_allowed(model: nn.Module) -> bool:
    """Whether an fp32 step of ``model`` on CUDA may use TF32 tensor cores (PyTorch's flags)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the allow_tf32 flags are being renamed
        matmul = torch.backends.cuda.matmul.allow_tf32
        cudnn = torch.backends.cudnn.allow_tf32
    # convolutions and cuDNN's RNNs follow the cuDNN flag (on by default), matmuls the other (off)
    uses_cudnn = any(isinstance(m, (nn.modules.conv._ConvNd, nn.RNNBase)) for m in model.modules())
    return matmul or (cudnn and uses_cudnn)


def _cpu_dtype(precision: Precision) -> torch.dtype:
    return torch.bfloat16 if precision.name == "bf16" else torch.float32


def peak_for(device: torch.device, precision: Precision, model: nn.Module) -> Peak:
    """The peak a step of ``model`` at ``precision`` is measured against."""
    if device.type == "cuda":
        math = {"bf16": "bf16", "16": "fp16"}.get(precision.name) or ("tf32" if _tf32_allowed(model) else "fp32")
        return gpu_peak(torch.cuda.get_device_name(device), math)
    if device.type == "cpu":
        return measured_gemm_peak(_cpu_dtype(precision))
    return Peak(None, f"peak unknown on {device.type}")


# ---------------------------------------------------------------- timing
def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


class TrainingWindows:
    """A trainer fed epoch after epoch by its own batches (as a run feeds it), timed a window of
    steps at a time."""

    def __init__(self, trainer: Trainer, batch_size: int) -> None:
        self.trainer, self.batch_size = trainer, batch_size
        self.batches = (batch for epoch in itertools.count() for batch in trainer.train_batches(epoch))
        self.peak_memory_mib: float | None = None
        self.samples = 0

    def seconds(self, steps: int) -> float:
        """Wall time of ``steps`` real training steps; tracks the peak GPU memory of this model's steps."""
        device = self.trainer.device
        if device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(device)
        synchronize(device)
        tick = time.perf_counter()
        self.samples = 0
        for _ in range(steps):
            batch, count, stand_in = next(self.batches)
            self.trainer.train_step(batch, count, stand_in)
            self.samples += count
        synchronize(device)
        elapsed = time.perf_counter() - tick
        if device.type == "cuda":
            self.peak_memory_mib = max(self.peak_memory_mib or 0.0, torch.cuda.max_memory_allocated(device) / 2**20)
        return elapsed

    def window(self, steps: int) -> float:
        """Samples/s of one timed window."""
        seconds = self.seconds(steps)
        return self.samples / seconds


class GateConvolution:
    """The ConvLSTM cell's gate convolution alone, forward and backward, at the model's shapes.

    One repetition is one time step of the stack: per layer a convolution over ``[input, h]``
    (``C p^2 + hidden`` channels in the first layer, ``2 hidden`` above) to the ``4 hidden`` gate
    channels, on the ``H/p x W/p`` grid, gradients of the input and the weights: the bulk of a
    ConvLSTM step's arithmetic in the fewest and largest kernels, without the recurrence around it.
    """

    def __init__(self, frame_shape: tuple[int, ...], layers: int, hidden: int, kernel_size: int,
                 patch_size: int, batch_size: int, precision: Precision, channels_last: bool = True) -> None:
        channels, height, width = frame_shape
        device = precision.device
        folded = channels * patch_size * patch_size
        grid = (height // patch_size, width // patch_size)
        self.precision = precision
        self.convs = nn.ModuleList(
            nn.Conv2d((folded if k == 0 else hidden) + hidden, 4 * hidden, kernel_size, padding=kernel_size // 2)
            for k in range(layers)).to(device)
        if device.type == "cuda" and channels_last:
            to_channels_last(self.convs)  # as the trainer stores the model's
        self.inputs = [torch.randn(batch_size, conv.in_channels, *grid, device=device, requires_grad=True)
                       for conv in self.convs]
        shapes = dict.fromkeys((batch_size, conv.in_channels, *grid) for conv in self.convs)  # layer order
        self.description = (f"gate conv2d alone, fwd+bwd: {' + '.join('x'.join(map(str, s)) for s in shapes)} "
                            f"-> {4 * hidden} ch, k{kernel_size}")
        with flop_counter() as counter:
            self.run(1)  # also the warm-up (cuDNN autotuning on a GPU)
        self.flops = counter.get_total_flops()

    def run(self, repeats: int) -> None:
        for _ in range(repeats):
            for conv, x in zip(self.convs, self.inputs):
                # functional, not conv(x): the counter's module hooks do not mix with autograd.grad
                with self.precision.autocast():
                    y = F.conv2d(x, conv.weight, conv.bias, padding=conv.padding)
                torch.autograd.grad(y, (x, conv.weight, conv.bias), torch.ones_like(y))

    def window(self, repeats: int) -> float:
        """FLOP/s of ``repeats`` repetitions."""
        device = self.precision.device
        synchronize(device)
        tick = time.perf_counter()
        self.run(repeats)
        synchronize(device)
        return repeats * self.flops / (time.perf_counter() - tick)


def interleave(windows: int, timers: Sequence[Callable[[], float]]) -> list[list[float]]:
    """``windows`` rounds of each timer in turn (A, B, A, B, ...): one list of rates per timer."""
    rates: list[list[float]] = [[] for _ in timers]
    for _ in range(windows):
        for k, timer in enumerate(timers):
            rates[k].append(timer())
    return rates


def paired_median(a: Sequence[float], b: Sequence[float]) -> tuple[float, float, float]:
    """Median, lowest and highest of the per-round ratios ``a / b``: rounds share the load."""
    ratios = [x / y for x, y in zip(a, b)]
    return statistics.median(ratios), min(ratios), max(ratios)


# ---------------------------------------------------------------- results
@dataclass
class BenchResult:
    device: str
    precision: str
    compile: bool | str
    batch_size: int
    samples_per_second: float  # median over the windows
    slowest: float
    fastest: float
    warmup_seconds: float      # includes compilation when compile is on
    peak_memory_mib: float | None
    steps: int
    model: str = "vidpred"     # or "textbook": the reference twin (--reference)
    flops_per_sample: float | None = None  # one training step, counted (see FLOPS_NOTE)
    gflops_per_second: float | None = None  # achieved: flops_per_sample x samples/s
    peak_gflops_per_second: float | None = None
    peak_source: str = ""
    percent_of_peak: float | None = None
    conv_gflops_per_second: float | None = None  # ConvLSTM: the gate convolution alone, same rounds
    conv_efficiency: float | None = None  # percent: this step's FLOP/s over the convolution's
    window_rates: list[float] = field(default_factory=list)

    def line(self) -> str:
        memory = f"{self.peak_memory_mib:8.0f} MiB" if self.peak_memory_mib is not None else "       -    "
        mode = self.compile if isinstance(self.compile, str) else ("on" if self.compile else "off")
        flops = f"{si(self.flops_per_sample, 'FLOP'):>11s}/sample" if self.flops_per_sample is not None else "FLOPs -"
        achieved = f"{self.gflops_per_second:9.3g} GFLOP/s" if self.gflops_per_second is not None else "GFLOP/s -"
        share = (f"{self.percent_of_peak:6.2f}% of peak" if self.percent_of_peak is not None else "peak unknown")
        return (f"{self.model:8s} {self.device:5s} {self.precision:>5s} compile={mode:15s} "
                f"batch {self.batch_size:4d} | {self.samples_per_second:10.1f} samples/s "
                f"[{self.slowest:.1f} .. {self.fastest:.1f}] | {self.samples_per_second / self.batch_size:8.2f} "
                f"steps/s | warm-up {self.warmup_seconds:6.1f} s | {flops} | {achieved} | {share} | "
                f"GPU mem {memory}")


@dataclass
class Comparison:
    """vidpred against its textbook twin, measured in the same rounds."""

    batch_size: int
    precision: str
    compile: bool | str
    ratio: float   # vidpred / textbook samples/s, median over the rounds
    lowest: float
    highest: float
    rounds: int

    def line(self) -> str:
        return (f"ratio vidpred / textbook: {self.ratio:.2f}x samples/s [{self.lowest:.2f} .. {self.highest:.2f}] "
                f"over {self.rounds} interleaved window pairs")


@dataclass
class ConvResult:
    """The gate convolution alone, timed in the same rounds as the models."""

    device: str
    batch_size: int
    precision: str
    description: str
    gflops_per_second: float   # median over the rounds
    slowest: float
    fastest: float
    percent_of_peak: float | None
    window_rates: list[float] = field(default_factory=list)  # GFLOP/s

    def line(self) -> str:
        share = f"{self.percent_of_peak:.2f}% of peak" if self.percent_of_peak is not None else "peak unknown"
        return (f"conv2d   {self.device:5s} {self.precision:>5s} {self.description} | "
                f"{self.gflops_per_second:.3g} GFLOP/s [{self.slowest:.3g} .. {self.fastest:.3g}] | {share}")


# ---------------------------------------------------------------- benchmark
@dataclass
class Contender:
    """One model to time: how it is labelled and built (fresh, on the CPU)."""

    label: str
    build: Callable[[], Forecaster]
    flops_per_item: float | None = None  # counted FLOPs of a training step per item of its batch
    flops_fixed: float = 0.0             # and once per step, whatever the batch (products of weights alone)

    def flops_per_sample(self, batch_size: int) -> float | None:
        if self.flops_per_item is None:
            return None
        return self.flops_per_item + self.flops_fixed / batch_size


def contenders_for(model_name: str, model_params: dict[str, Any], data: DataSplits,
                   reference: bool) -> list[Contender]:
    """vidpred's model and, with ``reference``, its textbook twin from the same config."""
    out = [Contender("vidpred", lambda: build_model(model_name, data.kind, data.frame_shape, model_params))]
    if reference:
        build_textbook(model_name, data.frame_shape, model_params)  # a config error before any timing
        out.append(Contender("textbook", lambda: build_textbook(model_name, data.frame_shape, model_params)))
    return out


def count_flops(contenders: Sequence[Contender], data: DataSplits, optim: OptimConfig, seed: int = 0) -> None:
    """Fill in each contender's FLOPs per item and per step (once: they depend on the model, not the
    run), from counted steps at batch 1 and 2."""
    for contender in contenders:
        if contender.flops_per_item is None:
            counts = []
            for batch in range(1, min(2, len(data.train)) + 1):
                seed_everything(seed)
                counts.append(train_step_flops(contender.build(), data, batch, optim, seed))
            per_item = counts[-1] - counts[0] if len(counts) == 2 else counts[0]
            contender.flops_per_item, contender.flops_fixed = per_item, counts[0] - per_item


def bench_models(contenders: Sequence[Contender], data: DataSplits, device: torch.device, precision: str,
                 compile_model: bool | str, batch_size: int, optim: OptimConfig, warmup: int, steps: int,
                 windows: int, num_workers: int = 0, seed: int = 0,
                 gate_conv: dict[str, int] | None = None) -> tuple[list[BenchResult], ConvResult | None]:
    """Throughput of each contender with a fresh model and trainer, windows interleaved; with
    ``gate_conv`` (layers, hidden, kernel_size, patch_size) the gate convolution alone joins the rounds."""
    require(len(data.train) >= batch_size,
            f"batch size {batch_size} is larger than the {len(data.train)} training items")
    config = TrainerConfig(compile=compile_model, progress="off")
    per_window = max(1, steps // windows)
    with contextlib.ExitStack() as stack:
        timers, warmups, models = [], [], []
        for contender in contenders:
            seed_everything(seed)
            model = contender.build()
            require(model.trainable, f"model={model.name} has nothing to train: benchmark a trainable model")
            run_dir = stack.enter_context(tempfile.TemporaryDirectory(prefix="vidpred-bench-"))
            trainer = Trainer(model, data, Path(run_dir), config, optim,
                              LoaderConfig(batch_size=batch_size, num_workers=num_workers),
                              Precision.create(precision, device, data.kind), seed)
            timer = TrainingWindows(trainer, batch_size)
            warmups.append(timer.seconds(warmup))
            timers.append(timer)
            models.append(model)
        rounds: list[Callable[[], float]] = [functools.partial(t.window, per_window) for t in timers]
        conv = None
        if gate_conv is not None:
            conv = GateConvolution(data.frame_shape, batch_size=batch_size, precision=timers[0].trainer.precision,
                                   channels_last=config.channels_last, **gate_conv)
            # the gate convolutions of a model window (a stack step per frame per training step):
            # windows of equal length meet the same bursts of load, so their ratio per round is fair
            rounds.append(functools.partial(conv.window, data.length * per_window))
        if device.type == "cpu":
            rounds.append(gemm_sampler(_cpu_dtype(timers[0].trainer.precision)).sample)  # the peak, each round
        rates = interleave(windows, rounds)
        peaks = [peak_for(device, timer.trainer.precision, model) for timer, model in zip(timers, models)]

    results = []
    conv_rates = rates[len(timers)] if conv is not None else None
    for contender, timer, warm, peak, own in zip(contenders, timers, warmups, peaks, rates):
        result = BenchResult(device=device.type, precision=timer.trainer.precision.name, compile=compile_model,
                             batch_size=batch_size, samples_per_second=statistics.median(own),
                             slowest=min(own), fastest=max(own), warmup_seconds=warm,
                             peak_memory_mib=timer.peak_memory_mib, steps=len(own) * per_window,
                             model=contender.label, peak_source=peak.source, window_rates=list(own))
        per_sample = contender.flops_per_sample(batch_size)
        if per_sample is not None:
            achieved = per_sample * result.samples_per_second
            result.flops_per_sample = per_sample
            result.gflops_per_second = achieved / 1e9
            if peak.flops_per_second is not None:
                result.peak_gflops_per_second = peak.flops_per_second / 1e9
                result.percent_of_peak = 100 * achieved / peak.flops_per_second
            if conv_rates is not None:
                result.conv_gflops_per_second = statistics.median(conv_rates) / 1e9
                efficiency = paired_median([per_sample * r for r in own], conv_rates)[0]
                result.conv_efficiency = 100 * efficiency
        results.append(result)
    conv_result = None
    if conv is not None and conv_rates is not None:
        conv_peak = peak_for(device, conv.precision, conv.convs)
        median = statistics.median(conv_rates)
        conv_result = ConvResult(device=device.type, batch_size=batch_size, precision=conv.precision.name,
                                 description=conv.description, gflops_per_second=median / 1e9,
                                 slowest=min(conv_rates) / 1e9, fastest=max(conv_rates) / 1e9,
                                 percent_of_peak=(100 * median / conv_peak.flops_per_second
                                                  if conv_peak.flops_per_second else None),
                                 window_rates=[r / 1e9 for r in conv_rates])
    return results, conv_result


def gate_conv_shape(model_name: str, model_params: dict[str, Any]) -> dict[str, int] | None:
    """The ConvLSTM's cell geometry for :class:`GateConvolution`; None for other models."""
    if model_name != "convlstm":
        return None
    keys = {"layers": 1, "hidden": 64, "kernel_size": 3, "patch_size": 1}
    return {key: int(model_params.get(key, default)) for key, default in keys.items()}


# ---------------------------------------------------------------- CLI
def _choices(text: str, parse: type = str) -> list[Any]:
    return [parse(part) for part in text.split(",") if part]


def _compile_choice(text: str) -> bool | str:
    if text.lower() in ("on", "true", "1", "yes"):
        return True
    if text.lower() in ("off", "false", "0", "no"):
        return False
    if text in COMPILE_MODES:
        return text
    raise ConfigError(f"--compile takes on, off or a mode ({', '.join(COMPILE_MODES)}), got {text!r}")


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m vidpred.perf.bench", description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("overrides", nargs="*", help="config overrides, as for python -m vidpred.run")
    parser.add_argument("--device", default="auto", help="auto | cpu | cuda (default: auto)")
    parser.add_argument("--precision", default="32,bf16", help="comma-separated: 32, bf16, 16 or auto (as trainer=gpu chooses) (default: 32,bf16)")
    parser.add_argument("--compile", default="off",
                        help="comma-separated on, off, auto (as trainer=gpu chooses) or a torch.compile mode, e.g. reduce-overhead (default: off)")
    parser.add_argument("--batch-size", default=None, help="comma-separated (default: the config's data.batch_size)")
    parser.add_argument("--warmup", type=int, default=10, help="untimed steps first (default: 10)")
    parser.add_argument("--steps", type=int, default=100, help="timed steps in total (default: 100)")
    parser.add_argument("--windows", type=int, default=5, help="timed windows; the median is reported (default: 5)")
    parser.add_argument("--synthetic", action="store_true",
                        help="train on generated moving squares of the data's geometry")
    parser.add_argument("--frame-shape", default="1,64,64",
                        help="C,H,W of synthetic video when the real data cannot be built (default: 1,64,64)")
    parser.add_argument("--reference", action="store_true",
                        help=f"also time the textbook model of the same family ({', '.join(TEXTBOOK)}), "
                             "windows interleaved, and print the ratio")
    parser.add_argument("--threads", type=int, default=None,
                        help="torch CPU threads (default: torch's own). On a shared machine 1 is steadier: "
                             "a parallel region waits for its slowest thread, and a busy core holds it up")
    parser.add_argument("--out", type=Path, default=None, help="also write the results as JSON here")
    # intermixed: overrides may also follow the options (... --windows 3 model.hidden=64)
    return parser.parse_intermixed_args(argv)


def load_data(cfg: Any, synthetic: bool, frame_shape: tuple[int, ...]) -> DataSplits:
    """The configured data set, or synthetic data of its geometry."""
    plain = {k: v for k, v in config.to_plain(cfg.data).items() if k not in ("name", "batch_size", "num_workers")}
    if not synthetic:
        try:
            return build_data(cfg.data.name, plain, cfg.paths.data_dir)
        except DataError as exc:
            print(f"note: data={cfg.data.name} is not available here ({exc}); using synthetic data",
                  file=sys.stderr)
    context, horizon = int(cfg.data.get("context", 10)), int(cfg.data.get("horizon", 10))
    kind = family(cfg.data.name).kind
    return synthetic_splits(kind, (1,) if kind == "sequence" else frame_shape, context, horizon)


def main(argv: Sequence[str] | None = None) -> list[BenchResult]:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    require(args.warmup >= 0 and args.steps >= 1 and args.windows >= 1,
            "--warmup must be >= 0, --steps and --windows >= 1")
    require(args.threads is None or args.threads >= 1, f"--threads must be at least 1, got {args.threads}")
    threads = torch.get_num_threads()
    try:
        if args.threads is not None:
            torch.set_num_threads(args.threads)
        return run(args)
    finally:
        torch.set_num_threads(threads)  # in-process callers (tests) keep their own setting


def run(args: argparse.Namespace) -> list[BenchResult]:
    """The benchmark of parsed command-line ``args``."""
    cfg = config.compose(args.overrides)
    device = resolve_device(args.device)
    frame_shape = tuple(_choices(args.frame_shape, int))
    require(len(frame_shape) == 3, f"--frame-shape takes C,H,W, got {args.frame_shape!r}")
    precisions = _choices(args.precision)
    compiles = [_compile_choice(c) for c in _choices(args.compile)]
    data = load_data(cfg, args.synthetic, frame_shape)
    model_params = {k: v for k, v in config.to_plain(cfg.model).items() if k != "name"}
    optim = call_with_config(OptimConfig, config.to_plain(cfg.optim), prefix="optim")
    batch_sizes = _choices(args.batch_size, int) if args.batch_size else [int(cfg.data.batch_size)]
    num_workers = 0 if data.name == "synthetic" else int(cfg.data.num_workers)
    contenders = contenders_for(cfg.model.name, model_params, data, args.reference)
    gate_conv = gate_conv_shape(cfg.model.name, model_params)
    where = torch.cuda.get_device_name(device) if device.type == "cuda" else f"cpu (threads={torch.get_num_threads()})"
    print(f"bench: model={cfg.model.name} layers={cfg.layers} data={data.name} items {(data.length, *data.frame_shape)} "
          f"on {where}, torch {torch.__version__}", flush=True)
    for batch_size in batch_sizes:
        require(len(data.train) >= batch_size,
                f"batch size {batch_size} is larger than the {len(data.train)} training items")
    count_flops(contenders, data, optim, seed=int(cfg.seed))
    print(FLOPS_NOTE + ": " + ", ".join(f"{c.label} {si(c.flops_per_sample(min(batch_sizes)) or 0, 'FLOP')}/sample"
                                        for c in contenders), flush=True)
    results, comparisons, convs, sources = [], [], [], []
    for batch_size in batch_sizes:
        for precision in precisions:
            for compile_model in compiles:
                found, conv = bench_models(contenders, data, device, precision, compile_model, batch_size, optim,
                                           args.warmup, args.steps, args.windows, num_workers,
                                           seed=int(cfg.seed), gate_conv=gate_conv)
                for result in found:
                    if result.peak_source not in sources:  # each peak's origin once, before its first use
                        sources.append(result.peak_source)
                        print(f"peak ({result.precision}): {result.peak_source}")
                    print(result.line(), flush=True)
                if any((r.percent_of_peak or 0) > 100 for r in found):
                    print("note: above the measured peak: other work slowed the GEMM samples more than the steps; "
                          "rerun, or use --threads 1")
                results.extend(found)
                if conv is not None:
                    convs.append(conv)
                    print(conv.line())
                    print("conv efficiency (step FLOP/s / gate conv2d FLOP/s): " + ", ".join(
                        f"{r.model} {r.conv_efficiency:.1f}%" for r in found if r.conv_efficiency is not None))
                if len(found) == 2:
                    comparison = Comparison(batch_size, found[0].precision, compile_model,
                                            *paired_median(found[0].window_rates, found[1].window_rates),
                                            rounds=len(found[0].window_rates))
                    comparisons.append(comparison)
                    print(comparison.line(), flush=True)
    if args.out is not None:
        write_json(args.out, {"model": cfg.model.name, "layers": cfg.layers, "data": data.name,
                              "item_shape": [data.length, *data.frame_shape], "torch": torch.__version__,
                              "device_name": where, "flops_note": FLOPS_NOTE,
                              "results": [asdict(r) for r in results],
                              "comparisons": [asdict(c) for c in comparisons],
                              "conv": [asdict(c) for c in convs]})
    return results


if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    with exit_on_user_error():
        main()
