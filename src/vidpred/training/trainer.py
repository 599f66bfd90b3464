"""The training loop: plain PyTorch, read top to bottom.

One :class:`Trainer` owns the model, the optimizer and the data loaders of a run. ``fit`` trains
with validation every epoch, checkpoints, and resumes exactly; ``evaluate`` scores a split.
Callbacks (loggers, tests) observe it through three hooks: ``on_train_batch_end``,
``on_validation_end`` and ``on_fit_end``.
"""

from __future__ import annotations

import logging
import math
import shutil
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from vidpred.data.base import DataSplits
from vidpred.errors import DivergedError, require
from vidpred.io import atomic_path, write_csv
from vidpred.metrics import make_accumulator
from vidpred.models.base import Forecaster
from vidpred.training import checkpoint
from vidpred.training.accel import COMPILE_MODES, accelerate
from vidpred.training.precision import Precision
from vidpred.training.progress import Progress

log = logging.getLogger("vidpred")

HISTORY_COLUMNS = ("step", "epoch", "train_loss", "val_mse", "lr", "time")


@dataclass
class TrainerConfig:
    max_epochs: int = 20
    max_steps: int = -1
    limit_train_batches: float = 1.0
    limit_val_batches: float = 1.0
    limit_test_batches: float = 1.0
    gradient_clip_val: float | None = None
    log_every_n_steps: int = 50
    checkpoint_every_n_steps: int = 0
    progress: str = "auto"
    compile: bool | str = False  # false, true or a torch.compile mode (e.g. reduce-overhead)
    channels_last: bool = True

    def __post_init__(self) -> None:
        require(self.max_epochs >= 1, f"trainer.max_epochs must be at least 1, got {self.max_epochs}")
        require(self.max_steps == -1 or self.max_steps >= 1,
                f"trainer.max_steps must be -1 (no limit) or at least 1, got {self.max_steps}")
        for key in ("limit_train_batches", "limit_val_batches", "limit_test_batches"):
            value = getattr(self, key)
            require(value > 0, f"trainer.{key} must be a fraction in (0, 1] or a batch count >= 1, got {value}")
            require(not (isinstance(value, float) and value > 1.0 and not value.is_integer()),
                    f"trainer.{key}={value}: give a fraction in (0, 1] or a whole number of batches")
        require(self.gradient_clip_val is None or self.gradient_clip_val > 0,
                f"trainer.gradient_clip_val must be positive or null, got {self.gradient_clip_val}")
        require(self.log_every_n_steps >= 1,
                f"trainer.log_every_n_steps must be at least 1, got {self.log_every_n_steps}")
        require(self.checkpoint_every_n_steps >= 0,
                f"trainer.checkpoint_every_n_steps must be 0 (epoch ends only) or positive, "
                f"got {self.checkpoint_every_n_steps}")
        require(isinstance(self.channels_last, bool),
                f"trainer.channels_last must be true or false, got {self.channels_last!r}")
        require(isinstance(self.compile, bool) or self.compile in COMPILE_MODES,
                f"trainer.compile must be true, false or a mode ({', '.join(COMPILE_MODES)}), "
                f"got {self.compile!r}")


@dataclass
class OptimConfig:
    name: str = "adam"
    lr: float = 1e-3
    weight_decay: float = 0.0
    scheduler: str | None = None

    def __post_init__(self) -> None:
        require(self.name in ("adam", "adamw"), f"unknown optim.name {self.name!r}; choose adam or adamw")
        require(self.lr > 0, f"optim.lr must be positive, got {self.lr}")
        require(self.weight_decay >= 0, f"optim.weight_decay must be non-negative, got {self.weight_decay}")
        require(self.scheduler in (None, "none", "cosine"),
                f"unknown optim.scheduler {self.scheduler!r}; choose none or cosine")


@dataclass
class LoaderConfig:
    batch_size: int = 64
    num_workers: int = 0

    def __post_init__(self) -> None:
        require(self.batch_size >= 1, f"data.batch_size must be at least 1, got {self.batch_size}")
        require(self.num_workers >= 0, f"data.num_workers must be non-negative, got {self.num_workers}")


@dataclass
class TrainSummary:
    epochs: int = 0
    steps: int = 0
    seconds: float = 0.0
    samples: int = 0
    final_loss: float | None = None
    best_val_mse: float | None = None
    best_epoch: int | None = None
    resumed_from_step: int | None = None
    history: list[dict[str, Any]] = field(default_factory=list)

    @property
    def samples_per_second(self) -> float:
        return self.samples / self.seconds if self.seconds > 0 else 0.0

    def state(self) -> dict[str, Any]:
        """Plain data for a checkpoint (history included)."""
        return asdict(self)

    def as_dict(self) -> dict[str, Any]:
        return {"epochs": self.epochs, "steps": self.steps, "seconds": self.seconds,
                "samples": self.samples, "samples_per_second": self.samples_per_second,
                "final_loss": self.final_loss, "best_val_mse": self.best_val_mse,
                "best_epoch": self.best_epoch, "resumed_from_step": self.resumed_from_step}


class EpochSampler(Sampler[int]):
    """A shuffle that is a pure function of (seed, epoch), started ``skip`` items in.

    Resuming mid-epoch regenerates the same permutation and skips what was already trained on.
    """

    def __init__(self, size: int, seed: int, epoch: int = 0, skip: int = 0) -> None:
        self.size, self.seed, self.epoch, self.skip = size, seed, epoch, skip

    def __iter__(self) -> Iterator[int]:
        generator = torch.Generator().manual_seed(self.seed * 1_000_003 + self.epoch)
        return iter(torch.randperm(self.size, generator=generator)[self.skip:].tolist())

    def __len__(self) -> int:
        return max(0, self.size - self.skip)


def batch_limit(total: int, limit: float) -> int:
    """Lightning's convention: a float in (0, 1] is a fraction of the batches, else a count."""
    if isinstance(limit, float) and limit <= 1.0:
        return max(1, int(total * limit)) if total else 0
    return min(total, int(limit))


class Trainer:
    def __init__(self, model: Forecaster, data: DataSplits, run_dir: Path, config: TrainerConfig,
                 optim: OptimConfig, loader: LoaderConfig, precision: Precision, seed: int,
                 callbacks: Sequence[Any] = (), settings: dict[str, Any] | None = None) -> None:
        self.device = precision.device
        self.model = accelerate(model.to(self.device), self.device, video=data.kind == "video",
                                channels_last=config.channels_last, compile_model=config.compile)
        self.data = data
        self.run_dir = Path(run_dir)
        self.checkpoint_dir = self.run_dir / "checkpoints"
        self.config = config
        self.loader = loader
        self.precision = precision
        self.seed = seed
        self.callbacks = list(callbacks)
        self.settings = dict(settings or {})  # what shapes the result, kept in last.pt for resume checks
        self.summary = TrainSummary()
        self.optimizer = self._make_optimizer(optim) if model.trainable else None
        self.scaler = precision.grad_scaler()
        self.scheduler = None
        self._optim = optim
        self.progress = Progress(config.progress, config.log_every_n_steps)
        self._window: list[float] = []  # train losses since the last history row
        self._position: tuple[int, int] | None = None  # (epoch, batches done) after the last whole step

    # ---------------------------------------------------------------- data
    def _loader(self, dataset: Dataset, sampler: Sampler[int] | None = None) -> DataLoader:
        return DataLoader(dataset, batch_size=self.loader.batch_size, sampler=sampler, shuffle=False,
                          num_workers=self.loader.num_workers,
                          pin_memory=self.device.type == "cuda",
                          # A private generator: creating a loader must not draw from the global
                          # RNG, or a mid-epoch resume would shift every later random number.
                          generator=torch.Generator().manual_seed(self.seed))

    def train_batches_per_epoch(self) -> int:
        total = math.ceil(len(self.data.train) / self.loader.batch_size)
        return batch_limit(total, self.config.limit_train_batches)

    def _split(self, batch: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        batch = batch.to(self.device, non_blocking=True)
        return batch[:, :self.data.context], batch[:, self.data.context:]

    # ---------------------------------------------------------------- optimisation
    def _make_optimizer(self, optim: OptimConfig) -> torch.optim.Optimizer:
        kind = torch.optim.AdamW if optim.name == "adamw" else torch.optim.Adam
        return kind(self.model.parameters(), lr=optim.lr, weight_decay=optim.weight_decay)

    def _make_scheduler(self, total_steps: int) -> torch.optim.lr_scheduler.LRScheduler | None:
        if self._optim.scheduler in (None, "none") or self.optimizer is None:
            return None
        return torch.optim.lr_scheduler.CosineAnnealingLR(self.optimizer, T_max=max(1, total_steps))

    def train_step(self, batch: torch.Tensor) -> float:
        assert self.optimizer is not None
        self.model.train()
        context, target = self._split(batch)
        with self.precision.autocast():
            prediction = self.model(context, self.data.horizon, target=target)
            loss = torch.nn.functional.mse_loss(prediction.float(), target.float())
        self.optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        if self.config.gradient_clip_val is not None:
            self.scaler.unscale_(self.optimizer)
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.config.gradient_clip_val)
        self.scaler.step(self.optimizer)
        self.scaler.update()
        if self.scheduler is not None:
            self.scheduler.step()
        value = loss.item()  # the step's one host sync
        if not math.isfinite(value):
            raise DivergedError(f"training loss became {value} at step {self.summary.steps + 1}; "
                                "lower optim.lr or set trainer.gradient_clip_val")
        return value

    # ---------------------------------------------------------------- checkpoints
    def _state(self, epoch: int, batches_done: int) -> dict[str, Any]:
        return {
            "kind": "last", "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict() if self.optimizer else None,
            "scaler": self.scaler.state_dict(),
            "scheduler": self.scheduler.state_dict() if self.scheduler else None,
            "epoch": epoch, "batches_done": batches_done, "loss_window": list(self._window),
            "summary": self.summary.state(), "rng": checkpoint.rng_state(), "settings": self.settings,
        }

    def save_last(self, epoch: int, batches_done: int) -> None:
        """Write ``last.pt`` and, with it, ``history.csv`` up to the same step."""
        checkpoint.save(self.checkpoint_dir / checkpoint.LAST, self._state(epoch, batches_done))
        write_csv(self.run_dir / "history.csv", self.summary.history, HISTORY_COLUMNS)

    def _restore(self, path: Path, state: dict[str, Any]) -> tuple[int, int]:
        checkpoint.load_weights(self.model, state["model"], path)
        if self.optimizer is not None and state["optimizer"] is not None:
            self.optimizer.load_state_dict(state["optimizer"])
        self.scaler.load_state_dict(state["scaler"])
        if self.scheduler is not None and state["scheduler"] is not None:
            self.scheduler.load_state_dict(state["scheduler"])
        self.summary = TrainSummary(**state["summary"])
        self._window = list(state["loss_window"])
        self.summary.resumed_from_step = self.summary.steps
        checkpoint.set_rng_state(state["rng"])
        own_best = self.checkpoint_dir / checkpoint.BEST
        their_best = path.parent / checkpoint.BEST
        if their_best.is_file() and not own_best.is_file():
            # resume=PATH into a new folder: the best weights so far belong to this run's history
            with atomic_path(own_best) as tmp:
                shutil.copyfile(their_best, tmp)
        log.info("resumed from %s at epoch %d, step %d", path, state["epoch"], self.summary.steps)
        return state["epoch"], state["batches_done"]

    def load_best(self) -> Path:
        """Load the best-by-validation weights (falls back to the current ones when none exist)."""
        path = self.checkpoint_dir / checkpoint.BEST
        if path.exists():
            checkpoint.load_weights(self.model, checkpoint.load(path)["model"], path)
        return path

    # ---------------------------------------------------------------- loop
    def _notify(self, hook: str, *args: Any) -> None:
        for callback in self.callbacks:
            method = getattr(callback, hook, None)
            if method is not None:
                method(self, *args)

    def _validate(self, epoch: int) -> dict[str, Any]:
        metrics = self.evaluate("val", self.config.limit_val_batches)
        val = metrics["mse"]
        if self.summary.best_val_mse is None or val < self.summary.best_val_mse:
            self.summary.best_val_mse, self.summary.best_epoch = val, epoch + 1
            checkpoint.save(self.checkpoint_dir / checkpoint.BEST,
                            {"kind": "best", "model": self.model.state_dict(), "epoch": epoch + 1, "val_mse": val})
        self.summary.history.append({"step": self.summary.steps, "epoch": epoch + 1, "val_mse": val,
                                     "lr": self._lr(), "time": round(self.summary.seconds, 3)})
        self._notify("on_validation_end", epoch + 1, metrics)
        return metrics

    def _lr(self) -> float | None:
        return self.optimizer.param_groups[0]["lr"] if self.optimizer else None

    def fit(self, resume_from: tuple[Path, dict[str, Any]] | None = None) -> TrainSummary:
        """Train (or fit a baseline), validating each epoch; resume from a loaded ``last.pt``
        (its path and content) if given."""
        if not self.model.trainable:
            self.model.fit((batch for batch in self._loader(self.data.train)), self.data.context)
            self._validate(0)
            self.save_last(0, 0)
            self._notify("on_fit_end")
            return self.summary

        per_epoch = self.train_batches_per_epoch()
        total_steps = per_epoch * self.config.max_epochs
        if self.config.max_steps > 0:
            total_steps = min(total_steps, self.config.max_steps)
        self.scheduler = self._make_scheduler(total_steps)
        start_epoch, skip_batches = self._restore(*resume_from) if resume_from else (0, 0)

        try:
            self._train_epochs(start_epoch, skip_batches, per_epoch)
        except KeyboardInterrupt:
            if self._position is not None:  # only between steps is the state consistent
                self.save_last(*self._position)
                log.info("interrupted: saved %s; run again in the same folder to resume",
                         self.checkpoint_dir / checkpoint.LAST)
            raise
        self._notify("on_fit_end")
        return self.summary

    def _train_epochs(self, start_epoch: int, skip_batches: int, per_epoch: int) -> None:
        stopped = self.config.max_steps > 0 and self.summary.steps >= self.config.max_steps
        for epoch in range(start_epoch, self.config.max_epochs):
            if stopped:
                break
            sampler = EpochSampler(len(self.data.train), self.seed, epoch,
                                   skip=skip_batches * self.loader.batch_size)
            batch_index, skip_batches = skip_batches, 0
            tick = time.perf_counter()
            epoch_samples, epoch_seconds = 0, 0.0  # the bar shows the epoch's average rate
            for batch in self._loader(self.data.train, sampler):
                if batch_index >= per_epoch:
                    break
                self._position = None
                loss = self.train_step(batch)
                batch_index += 1
                now = time.perf_counter()
                self._record_step(epoch, batch_index / per_epoch, loss, len(batch), now - tick)
                self._position = (epoch, batch_index)
                epoch_samples += len(batch)
                epoch_seconds += now - tick
                self.progress.update(epoch, self.config.max_epochs, batch_index, per_epoch,
                                     self.summary.steps, loss, epoch_samples / max(epoch_seconds, 1e-9))
                stopped = self.config.max_steps > 0 and self.summary.steps >= self.config.max_steps
                every = self.config.checkpoint_every_n_steps
                if every and self.summary.steps % every == 0 and not stopped and batch_index < per_epoch:
                    self.save_last(epoch, batch_index)
                self._notify("on_train_batch_end", self.summary.steps, loss)
                if stopped:
                    break
                tick = time.perf_counter()
            finished = batch_index >= per_epoch
            self.summary.epochs = epoch + 1 if finished else epoch
            metrics = self._validate(epoch)
            self.progress.end_epoch(f"epoch {epoch + 1}: train loss {self.summary.final_loss:.4g}, "
                                    f"val mse {metrics['mse']:.4g}")
            self._position = (epoch + 1, 0) if finished else (epoch, batch_index)
            self.save_last(*self._position)

    def _record_step(self, epoch: int, epoch_fraction: float, loss: float, samples: int,
                     seconds: float) -> None:
        summary = self.summary
        summary.seconds += seconds
        summary.samples += samples
        summary.steps += 1
        summary.final_loss = loss
        self._window.append(loss)
        if summary.steps % self.config.log_every_n_steps == 0:
            summary.history.append({"step": summary.steps, "epoch": round(epoch + epoch_fraction, 4),
                                    "train_loss": sum(self._window) / len(self._window),
                                    "lr": self._lr(), "time": round(summary.seconds, 3)})
            self._window = []

    # ---------------------------------------------------------------- evaluation
    @torch.no_grad()
    def evaluate(self, split: str, limit: float = 1.0) -> dict[str, Any]:
        """Metrics of the current weights on ``split`` (``train``, ``val`` or ``test``)."""
        dataset = self.data.split(split)
        loader = self._loader(dataset)
        batches = batch_limit(len(loader), limit)
        accumulator = make_accumulator(self.data.kind)
        self.model.eval()
        for index, batch in enumerate(loader):
            if index >= batches:
                break
            context, target = self._split(batch)
            with self.precision.autocast():
                prediction = self.model(context, self.data.horizon)
            accumulator.update(prediction.float(), target)
        return accumulator.compute()

    @torch.no_grad()
    def predict(self, split: str, indices: Sequence[int]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Context, truth and prediction (on the CPU, float32) for the items ``indices``."""
        dataset = self.data.split(split)
        batch = torch.stack([dataset[i] for i in indices])
        context, target = self._split(batch)
        self.model.eval()
        with self.precision.autocast():
            prediction = self.model(context, self.data.horizon)
        return context.float().cpu(), target.float().cpu(), prediction.float().cpu()
