"""Training throughput of a configuration: samples per second of the real training step.

    python -m vidpred.bench model=convlstm data=mnist layers=2 --precision 32,bf16
    python -m vidpred.bench model=convlstm data=mnist --synthetic --batch-size 4,32 --compile off,on

Overrides compose the same config as ``python -m vidpred.run``. Every combination of
``--precision``, ``--compile`` and ``--batch-size`` builds a fresh model and :class:`Trainer` (so
channels-last, cuDNN autotuning and ``torch.compile`` are the trainer's own), runs ``--warmup``
steps, then ``--windows`` timed windows of ``--steps`` steps in total, and reports the median
samples/s over the windows (with the slowest and fastest). ``--synthetic`` (or data that is not on
this machine) trains on generated moving squares of the data set's geometry instead: throughput
depends on shapes, not on pixel values.
"""

from __future__ import annotations

import argparse
import logging
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader

from vidpred import config
from vidpred.data import build_data, family
from vidpred.data.base import ArrayDataset, DataSplits
from vidpred.errors import ConfigError, DataError, exit_on_user_error, require
from vidpred.io import write_json
from vidpred.models import build_model
from vidpred.registry import call_with_config
from vidpred.seeding import seed_everything
from vidpred.training.accel import COMPILE_MODES
from vidpred.training.precision import Precision, resolve_device
from vidpred.training.trainer import LoaderConfig, OptimConfig, Trainer, TrainerConfig

log = logging.getLogger("vidpred")


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


# ---------------------------------------------------------------- timing
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

    def line(self) -> str:
        memory = f"{self.peak_memory_mib:8.0f} MiB" if self.peak_memory_mib is not None else "       -    "
        mode = self.compile if isinstance(self.compile, str) else ("on" if self.compile else "off")
        return (f"{self.device:5s} {self.precision:>5s} compile={mode:15s} "
                f"batch {self.batch_size:4d} | {self.samples_per_second:10.1f} samples/s "
                f"[{self.slowest:.1f} .. {self.fastest:.1f}] | {self.samples_per_second / self.batch_size:8.2f} "
                f"steps/s | warm-up {self.warmup_seconds:6.1f} s | peak {memory}")


def endless(loader: DataLoader) -> Iterator[torch.Tensor]:
    while True:
        yield from loader


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_training(trainer: Trainer, batch_size: int, warmup: int, steps: int, windows: int) -> tuple[list[float], float]:
    """Samples/s of each timed window, and the warm-up's seconds."""
    device = trainer.device
    loader = DataLoader(trainer.data.train, batch_size=batch_size, shuffle=True, drop_last=True,
                        num_workers=trainer.loader.num_workers, pin_memory=device.type == "cuda")
    batches = endless(loader)
    tick = time.perf_counter()
    for _ in range(warmup):
        trainer.train_step(next(batches))
    synchronize(device)
    warmup_seconds = time.perf_counter() - tick
    per_window = max(1, steps // windows)
    rates = []
    for _ in range(windows):
        synchronize(device)
        tick = time.perf_counter()
        for _ in range(per_window):
            trainer.train_step(next(batches))
        synchronize(device)
        rates.append(per_window * batch_size / (time.perf_counter() - tick))
    return rates, warmup_seconds


def bench_one(model_name: str, model_params: dict[str, Any], data: DataSplits, device: torch.device,
              precision: str, compile_model: bool | str, batch_size: int, optim: OptimConfig,
              warmup: int, steps: int, windows: int, num_workers: int = 0, seed: int = 0) -> BenchResult:
    """Throughput of one combination, with a fresh model and trainer."""
    require(len(data.train) >= batch_size,
            f"batch size {batch_size} is larger than the {len(data.train)} training items")
    seed_everything(seed)
    model = build_model(model_name, data.kind, data.frame_shape, model_params)
    require(model.trainable, f"model={model_name} has nothing to train: benchmark a trainable model")
    config = TrainerConfig(compile=compile_model, progress="off")
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    with tempfile.TemporaryDirectory(prefix="vidpred-bench-") as run_dir:
        trainer = Trainer(model, data, Path(run_dir), config, optim,
                          LoaderConfig(batch_size=batch_size, num_workers=num_workers),
                          Precision.create(precision, device), seed)
        rates, warmup_seconds = time_training(trainer, batch_size, warmup, steps, windows)
    peak = torch.cuda.max_memory_allocated(device) / 2**20 if device.type == "cuda" else None
    return BenchResult(device=device.type, precision=trainer.precision.name, compile=compile_model,
                       batch_size=batch_size, samples_per_second=statistics.median(rates),
                       slowest=min(rates), fastest=max(rates), warmup_seconds=warmup_seconds,
                       peak_memory_mib=peak, steps=len(rates) * max(1, steps // windows))


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
    parser = argparse.ArgumentParser(prog="python -m vidpred.bench", description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("overrides", nargs="*", help="config overrides, as for python -m vidpred.run")
    parser.add_argument("--device", default="auto", help="auto | cpu | cuda (default: auto)")
    parser.add_argument("--precision", default="32,bf16", help="comma-separated: 32, bf16, 16 (default: 32,bf16)")
    parser.add_argument("--compile", default="off",
                        help="comma-separated on, off or a torch.compile mode, e.g. reduce-overhead (default: off)")
    parser.add_argument("--batch-size", default=None, help="comma-separated (default: the config's data.batch_size)")
    parser.add_argument("--warmup", type=int, default=10, help="untimed steps first (default: 10)")
    parser.add_argument("--steps", type=int, default=100, help="timed steps in total (default: 100)")
    parser.add_argument("--windows", type=int, default=5, help="timed windows; the median is reported (default: 5)")
    parser.add_argument("--synthetic", action="store_true",
                        help="train on generated moving squares of the data's geometry")
    parser.add_argument("--frame-shape", default="1,64,64",
                        help="C,H,W of synthetic video when the real data cannot be built (default: 1,64,64)")
    parser.add_argument("--out", type=Path, default=None, help="also write the results as JSON here")
    return parser.parse_args(argv)


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
    cfg = config.compose(args.overrides)
    device = resolve_device(args.device)
    frame_shape = tuple(_choices(args.frame_shape, int))
    require(len(frame_shape) == 3, f"--frame-shape takes C,H,W, got {args.frame_shape!r}")
    data = load_data(cfg, args.synthetic, frame_shape)
    model_params = {k: v for k, v in config.to_plain(cfg.model).items() if k != "name"}
    optim = call_with_config(OptimConfig, config.to_plain(cfg.optim), prefix="optim")
    batch_sizes = _choices(args.batch_size, int) if args.batch_size else [int(cfg.data.batch_size)]
    num_workers = 0 if data.name == "synthetic" else int(cfg.data.num_workers)
    print(f"bench: model={cfg.model.name} layers={cfg.layers} data={data.name} items {(data.length, *data.frame_shape)} "
          f"on {torch.cuda.get_device_name(device) if device.type == 'cuda' else 'cpu'}, torch {torch.__version__}")
    results = []
    for batch_size in batch_sizes:
        for precision in _choices(args.precision):
            for compile_model in (_compile_choice(c) for c in _choices(args.compile)):
                result = bench_one(cfg.model.name, model_params, data, device, precision, compile_model,
                                   batch_size, optim, args.warmup, args.steps, args.windows, num_workers,
                                   seed=int(cfg.seed))
                print(result.line(), flush=True)
                results.append(result)
    if args.out is not None:
        write_json(args.out, {"model": cfg.model.name, "layers": cfg.layers, "data": data.name,
                              "item_shape": [data.length, *data.frame_shape], "torch": torch.__version__,
                              "results": [asdict(r) for r in results]})
    return results


if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    with exit_on_user_error():
        main()
