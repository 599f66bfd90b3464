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
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, NoReturn

import torch
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, Dataset

from vidpred import runfolder
from vidpred.data.base import ArrayDataset, DataSplits
from vidpred.errors import DivergedError, require
from vidpred.io import atomic_path, write_csv
from vidpred.metrics.scores import make_accumulator
from vidpred.models.base import Forecaster
from vidpred.training import checkpoint, stop
from vidpred.training.accel import accelerate, fall_back_to_eager
from vidpred.training.batches import BatchPlan, batch_limit, check_global_batch
from vidpred.training.distributed import SINGLE, World, barrier, failure_of_another_rank, gather, is_peer_loss, sum_
from vidpred.training.guard import StepGuard, peer_failure
from vidpred.training.losses import (Discriminator, LossConfig, differential_divergence, discriminator_loss,
                                     generator_adversarial, reconstruction)
from vidpred.training.precision import Precision
from vidpred.training.progress import Progress
from vidpred.training.settings import LoaderConfig, OptimConfig, TrainerConfig
from vidpred.training.timing import InferenceTimer

log = logging.getLogger("vidpred")

HISTORY_COLUMNS = ("step", "epoch", "train_loss", "val_mse", "lr", "time")
LOG_EVERY = 50         # log_every_n_steps=auto: a history row and a log line every this many steps ...
MIN_HISTORY_ROWS = 50  # ... or, in a shorter run, often enough for this many rows: a curve, not a dot or two


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


class Trainer:
    def __init__(self, model: Forecaster, data: DataSplits, run_dir: Path, config: TrainerConfig,
                 optim: OptimConfig, loader: LoaderConfig, precision: Precision, seed: int,
                 callbacks: Sequence[Any] = (), settings: dict[str, Any] | None = None,
                 world: World = SINGLE, lpips: torch.nn.Module | None = None,
                 loss: LossConfig | None = None, stop_request: stop.StopRequest | None = None) -> None:
        check_global_batch(loader.batch_size, world)
        self.stop = stop_request or stop.StopRequest()  # set by a signal (vidpred.training.stop): end at a step boundary
        self.device = precision.device
        self.model = accelerate(model.to(self.device), self.device, video=data.kind == "video",
                                channels_last=config.channels_last, compile_model=config.compile)
        self.world = world
        # Training goes through DistributedDataParallel when several processes share the run (it
        # averages the gradients); evaluation, checkpoints and predictions use the model itself.
        self.train_model: torch.nn.Module = self.model
        if world.active and model.trainable:
            self.train_model = DistributedDataParallel(
                self.model, device_ids=[self.device.index] if self.device.type == "cuda" else None)
        self.data = data
        self.lpips = lpips  # the LPIPS network when metrics.lpips is on (video)
        self.loss = loss or LossConfig()
        self.discriminator: Discriminator | None = None
        if self.loss.adversarial and model.trainable:
            require(data.kind == "video", f"loss=adversarial judges video frames; data={data.name} holds sequences")
            self.discriminator = accelerate(
                Discriminator(data.frame_shape, self.loss.channels, self.loss.frame_discriminator).to(self.device),
                self.device, video=True, channels_last=config.channels_last, compile_model=False)
            self.train_discriminator: torch.nn.Module = self.discriminator
            if world.active:
                self.train_discriminator = DistributedDataParallel(
                    self.discriminator, device_ids=[self.device.index] if self.device.type == "cuda" else None)
            self.d_optimizer = torch.optim.Adam(self.discriminator.parameters(), lr=self.loss.lr,
                                                betas=(self.loss.beta1, self.loss.beta2), fused=True)
            self.d_scaler = precision.grad_scaler()
        if self.loss.ddr and model.trainable:
            require(data.kind == "video", f"loss=ddr compares frame differences; data={data.name} holds sequences")
            require(data.horizon >= 2, f"loss=ddr compares consecutive predicted frames: data.horizon must be at "
                                       f"least 2, got {data.horizon}")
        self.history_columns = (*HISTORY_COLUMNS, *(("d_loss", "g_adv") if self.discriminator else ()))
        self.step_values: dict[str, float] = {}  # the last step's reported losses (for loggers)
        self.run_dir = Path(run_dir)
        self.checkpoint_dir = runfolder.checkpoints_dir(self.run_dir)
        self.config = config
        self.loader = loader
        self.precision = precision
        self.seed = seed
        self.callbacks = list(callbacks)
        self.settings = dict(settings or {})  # what shapes the result, kept in last.pt for resume checks
        self.summary = TrainSummary()
        # forward passes timed in each split's last evaluation: the inference speed a run reports
        self.inference: dict[str, dict[str, float]] = {}
        self.optimizer = self._make_optimizer(optim) if model.trainable else None
        self.scaler = precision.grad_scaler()
        self.scheduler = None
        self._optim = optim
        explicit = config.log_every_n_steps if config.log_every_n_steps != "auto" else None
        self.progress = Progress(config.progress if world.main else "off", explicit or LOG_EVERY)
        self.history_every = explicit or LOG_EVERY  # steps per history.csv row (auto: fit chooses, by the run's length)
        self._window: list[dict[str, float]] = []  # the steps' reported losses since the last history row
        self.guard = StepGuard(self._buffers, world.active)  # where a stop or a lost process saves from
        self._validation_due = False  # the epoch's training is done, its validation not yet
        self._stop = False  # a stop request seen by every rank in the last step's sync

    # ---------------------------------------------------------------- data
    def _batches(self, dataset: Dataset, index_batches: Iterable[list[int]]) -> Iterator[torch.Tensor]:
        """The items of each index batch, stacked. Items held in one in-memory array are sliced out
        of it in one go; others come through a DataLoader (worker processes, pinned memory)."""
        if isinstance(dataset, ArrayDataset) and self.loader.num_workers == 0:
            for indices in index_batches:
                yield torch.from_numpy(dataset.array[indices])
            return
        workers = self.loader.num_workers
        loader = DataLoader(dataset, batch_sampler=list(index_batches), num_workers=workers,
                            pin_memory=self.device.type == "cuda",
                            worker_init_fn=stop.quiet_worker if workers else None,
                            # A private generator: creating a loader must not draw from the global
                            # RNG, or a mid-epoch resume would shift every later random number.
                            generator=torch.Generator().manual_seed(self.seed))
        with stop.signals_blocked():  # the workers start here; see vidpred.training.stop
            batches = iter(loader)
        try:
            yield from batches
        except RuntimeError as exc:
            if self.stop.requested and workers:  # a worker lost to the group's stop signal after all
                raise self.stop.stopped() from exc
            raise

    def train_batches(self, epoch: int, skip: int = 0) -> Iterator[tuple[torch.Tensor, int, bool]]:
        """The training batches of ``epoch`` from batch ``skip`` on: (this rank's share, the global
        batch size, whether the share is a weight-0 stand-in), as :meth:`train_step` takes them."""
        shares = list(BatchPlan(len(self.data.train), self.loader.batch_size, self.seed, epoch, skip,
                                self.world).shares())
        for batch, (_, count, stand_in) in zip(self._batches(self.data.train, (s[0] for s in shares)), shares):
            yield batch, count, stand_in

    def _in_order(self, size: int, limit: int | None = None) -> list[list[int]]:
        """Batches of items ``0 .. size-1`` in order (``limit``: at most that many items)."""
        count = size if limit is None else min(size, limit)
        step = self.loader.batch_size
        return [list(range(k, min(k + step, count))) for k in range(0, count, step)]

    def train_batches_per_epoch(self) -> int:
        total = math.ceil(len(self.data.train) / self.loader.batch_size)
        return batch_limit(total, self.config.limit_train_batches)

    def _split(self, batch: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        batch = batch.to(self.device, non_blocking=True)
        return batch[:, :self.data.context], batch[:, self.data.context:]

    # ---------------------------------------------------------------- optimisation
    def _make_optimizer(self, optim: OptimConfig) -> torch.optim.Optimizer:
        kind = torch.optim.AdamW if optim.name == "adamw" else torch.optim.Adam
        # fused: one kernel over all parameters, on the CPU as on CUDA, instead of one per tensor
        # (the benchmark shows the difference; GradScaler supports it)
        return kind(self.model.parameters(), lr=optim.lr, weight_decay=optim.weight_decay, fused=True)

    def _make_scheduler(self, total_steps: int) -> torch.optim.lr_scheduler.LRScheduler | None:
        if self._optim.scheduler in (None, "none") or self.optimizer is None:
            return None
        return torch.optim.lr_scheduler.CosineAnnealingLR(self.optimizer, T_max=max(1, total_steps))

    def train_step(self, batch: torch.Tensor, global_count: int | None = None, stand_in: bool = False) -> float:
        """One optimizer step on ``batch`` (this rank's share of a global batch of ``global_count``
        items); returns the global batch's reconstruction error (its mean squared error for the
        study's loss). A compiled model that fails to compile is run eagerly instead."""
        try:
            return self._train_step(batch, global_count, stand_in)
        except Exception as exc:
            if not fall_back_to_eager(self.model, exc):
                raise
            return self._train_step(batch, global_count, stand_in)

    def _train_step(self, batch: torch.Tensor, global_count: int | None, stand_in: bool) -> float:
        assert self.optimizer is not None
        self.train_model.train()
        context, target = self._split(batch)
        items = global_count or len(batch)
        elements = items * target[0].numel()
        weight = 0.0 if stand_in else 1.0
        # Each rank's sums over its share, scaled so that the average data-parallel training takes
        # over ranks is the gradient of the global batch's mean.
        scale = self.world.size
        with self.precision.autocast():
            prediction = self.train_model(context, self.data.horizon, target=target)
            rec_sum = reconstruction(self.loss.rec, prediction, target) * weight
            extra = self._extra_loss(prediction, target)
        sums = [rec_sum.detach(), torch.tensor(float(self.stop.requested), device=self.device)]
        rec_weight = self.loss.rec_weight if self.discriminator is not None else 1.0
        generator_loss = rec_weight * rec_sum / elements
        if extra is not None:
            generator_loss = generator_loss + rec_weight * extra.sum() * weight / items
        adversarial = self.discriminator is not None and self.summary.steps >= self.loss.warmup_steps
        if adversarial:
            generator_loss = generator_loss + self._discriminator_backward(context, target, prediction, items, weight,
                                                                            sums)
        self.optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(generator_loss * scale).backward()
        report = sum_(torch.stack(sums)).tolist()  # the step's one host sync, before any weight changes
        value = report[0] / elements
        if not all(math.isfinite(v) for v in report):
            raise DivergedError(f"training loss became {value} at step {self.summary.steps + 1}"
                                + (f" (discriminator {report[2] / items}, adversarial {report[3] / items})"
                                   if adversarial else "") + "; lower optim.lr or set trainer.gradient_clip_val")
        if self.config.gradient_clip_val is not None:
            self.scaler.unscale_(self.optimizer)
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.config.gradient_clip_val)
        self.scaler.step(self.optimizer)
        self.scaler.update()
        if adversarial:  # both players step on the same state: simultaneous gradient descent
            self.d_scaler.step(self.d_optimizer)
            self.d_scaler.update()
        if self.scheduler is not None:
            self.scheduler.step()
        self._stop = report[1] > 0
        self.step_values = {"train_loss": value}
        if adversarial:
            self.step_values.update(d_loss=report[2] / items, g_adv=report[3] / items)
        return value

    def _extra_loss(self, prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor | None:
        """Per item, what the step minimises besides the reconstruction, in its units: the model's own
        auxiliary loss (PredRNN-v2's decoupling) and ``loss=ddr``'s divergence; None when neither."""
        terms = [term for term in (self.model.auxiliary_loss(),) if term is not None]
        if self.loss.ddr:
            terms.append(self.loss.alpha * differential_divergence(prediction, target, self.loss.temperature))
        return sum(terms[1:], terms[0]) if terms else None

    def _discriminator_backward(self, context: torch.Tensor, target: torch.Tensor, prediction: torch.Tensor,
                                items: int, weight: float, sums: list[torch.Tensor]) -> torch.Tensor:
        """The discriminator's gradients (real future against the detached prediction), and the
        generator's adversarial term through the discriminator with its weights held."""
        assert self.discriminator is not None
        gan, scale = self.loss.gan, self.world.size
        with self.precision.autocast():
            # real and fake in one pass: the data-parallel wrapper takes one forward per backward
            scores = self.train_discriminator(torch.cat([context, context]),
                                              torch.cat([target, prediction.detach()]))
            d_sum = sum(discriminator_loss(gan, *s.float().chunk(2)) for s in scores).sum() * weight
        self.d_optimizer.zero_grad(set_to_none=True)
        self.d_scaler.scale(d_sum * scale / items).backward()
        self.discriminator.requires_grad_(False)
        try:
            with self.precision.autocast():
                fake = self.discriminator(context, prediction)
                g_adv_sum = sum(generator_adversarial(gan, s.float()) for s in fake).sum() * weight
        finally:
            self.discriminator.requires_grad_(True)
        sums += [d_sum.detach(), g_adv_sum.detach()]
        return self.loss.adv_weight * g_adv_sum / items

    # ---------------------------------------------------------------- checkpoints
    def _state(self, epoch: int, batches_done: int, rng: list[dict[str, Any]] | None = None) -> dict[str, Any]:
        return {
            "kind": "last", "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict() if self.optimizer else None,
            "scaler": self.scaler.state_dict(),
            "scheduler": self.scheduler.state_dict() if self.scheduler else None,
            "epoch": epoch, "batches_done": batches_done, "loss_window": list(self._window),
            "validation_due": self._validation_due,
            "discriminator": None if self.discriminator is None else {
                "model": self.discriminator.state_dict(), "optimizer": self.d_optimizer.state_dict(),
                "scaler": self.d_scaler.state_dict()},
            "summary": self.summary.state(), "settings": self.settings, "world_size": self.world.size,
            # every rank's generators (they draw scheduled-sampling coins on their own shares)
            "rng": rng if rng is not None else gather(checkpoint.rng_state()),
        }

    def save_last(self, epoch: int, batches_done: int, rng: list[dict[str, Any]] | None = None) -> None:
        """Write ``last.pt`` and, with it, ``history.csv`` up to the same step (rank 0; every rank
        calls it, to hand over its random state)."""
        state = self._state(epoch, batches_done, rng)
        if self.world.main:
            checkpoint.save(self.checkpoint_dir / checkpoint.LAST, state)
            write_csv(runfolder.history_path(self.run_dir), self.summary.history, self.history_columns)
        self.guard.saved(epoch, batches_done)

    def _restore(self, path: Path, state: dict[str, Any]) -> tuple[int, int]:
        checkpoint.load_weights(self.model, state["model"], path)
        if self.optimizer is not None and state["optimizer"] is not None:
            self.optimizer.load_state_dict(state["optimizer"])
        self.scaler.load_state_dict(state["scaler"])
        if self.scheduler is not None and state["scheduler"] is not None:
            self.scheduler.load_state_dict(state["scheduler"])
        self.summary = TrainSummary(**state["summary"])
        self._window = list(state["loss_window"])
        self._validation_due = bool(state.get("validation_due", False))
        if self.discriminator is not None and state.get("discriminator") is not None:
            self.discriminator.load_state_dict(state["discriminator"]["model"])
            self.d_optimizer.load_state_dict(state["discriminator"]["optimizer"])
            self.d_scaler.load_state_dict(state["discriminator"]["scaler"])
        self.summary.resumed_from_step = self.summary.steps
        saved = state["rng"]
        if len(saved) != self.world.size:
            log.warning("resuming %d process(es) from a checkpoint that holds the random state of %d (saved by "
                        "another number of processes, or after one failed): the batches are the same, every "
                        "process continues rank 0's random numbers (scheduled-sampling draws differ from an "
                        "uninterrupted run; without teacher forcing nothing else draws)", self.world.size, len(saved))
        checkpoint.set_rng_state(saved[self.world.rank] if len(saved) == self.world.size else saved[0])
        own_best = self.checkpoint_dir / checkpoint.BEST
        their_best = path.parent / checkpoint.BEST
        if self.world.main and their_best.is_file() and not own_best.is_file():
            # resume=PATH into a new folder: the best weights so far belong to this run's history
            with atomic_path(own_best) as tmp:
                shutil.copyfile(their_best, tmp)
        log.info("resumed from %s at epoch %d, step %d", path, state["epoch"], self.summary.steps)
        return state["epoch"], state["batches_done"]

    def load_best(self) -> Path:
        """Load the best-by-validation weights (falls back to the current ones when none exist)."""
        barrier()  # rank 0 may have written them just now
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
            if self.world.main:
                checkpoint.save(self.checkpoint_dir / checkpoint.BEST,
                                {"kind": "best", "model": self.model.state_dict(), "epoch": epoch + 1,
                                 "val_mse": val})
        self.summary.history.append({"step": self.summary.steps, "epoch": epoch + 1, "val_mse": val,
                                     "lr": self._lr(), "time": round(self.summary.seconds, 3)})
        return metrics

    def _lr(self) -> float | None:
        return self.optimizer.param_groups[0]["lr"] if self.optimizer else None

    def fit(self, resume_from: tuple[Path, dict[str, Any]] | None = None) -> TrainSummary:
        """Train (or fit a baseline), validating each epoch; resume from a loaded ``last.pt``
        (its path and content) if given."""
        if not self.model.trainable:
            self.model.fit(self._batches(self.data.train, self._in_order(len(self.data.train))), self.data.context)
            metrics = self._validate(0)
            self.save_last(0, 0)
            self._notify("on_validation_end", 1, metrics)
            self._notify("on_fit_end")
            return self.summary

        per_epoch = self.train_batches_per_epoch()
        total_steps = per_epoch * self.config.max_epochs
        if self.config.max_steps > 0:
            total_steps = min(total_steps, self.config.max_steps)
        self.scheduler = self._make_scheduler(total_steps)
        if self.config.log_every_n_steps == "auto":
            self.history_every = min(LOG_EVERY, max(1, total_steps // MIN_HISTORY_ROWS))
        start_epoch, skip_batches = self._restore(*resume_from) if resume_from else (0, 0)
        self.progress.start(total_steps, self.device.type, self.data.kind)
        # Between steps the state is whole: a stop saves last.pt at the last one (or here, before the first).
        self.guard.at(start_epoch, skip_batches)

        try:
            if self._stop_agreed():
                raise self.stop.stopped()
            self._train_epochs(start_epoch, skip_batches, per_epoch)
        except KeyboardInterrupt as exc:
            self._save_on_stop(exc)
        except RuntimeError as exc:
            if self.stop.requested and "DataLoader worker" in str(exc):  # a worker lost to the group's stop signal
                self._save_on_stop(self.stop.stopped(), exc)
            if not self.world.active or (failure_of_another_rank() is None and not is_peer_loss(exc)):
                raise
            self._save_after_peer_loss()
            raise peer_failure() from exc
        self._notify("on_fit_end")
        return self.summary

    def _save_on_stop(self, exc: KeyboardInterrupt, cause: BaseException | None = None) -> NoReturn:
        """Save last.pt where training stands (between two steps) and stop with ``exc``."""
        if self.guard.position is None:  # mid-step: only the last saved last.pt is whole
            raise exc from cause
        if self.guard.position != self.guard.saved_at:
            self.save_last(*self.guard.position)
        saved = self.checkpoint_dir / checkpoint.LAST
        log.info("interrupted: saved %s at step %d; run again in the same folder to resume", saved, self.summary.steps)
        if isinstance(exc, stop.StopRequested):
            raise self.stop.stopped(f"saved {saved} at step {self.summary.steps}") from cause
        raise exc from cause

    def _stop_agreed(self) -> bool:
        """Whether to stop here: this process's request, or in a data-parallel run any rank's (every
        rank must call this at the same point)."""
        if not self.world.active:
            return self.stop.requested
        return bool(sum_(torch.tensor(float(self.stop.requested), device=self.device)).item() > 0)

    def _buffers(self) -> Iterator[tuple[str, torch.Tensor]]:
        """The buffers a step changes before it changes any weight (scheduled-sampling count, the
        discriminator's spectral-norm vectors)."""
        yield from self.model.named_buffers(prefix="model")
        if self.discriminator is not None:
            yield from self.discriminator.named_buffers(prefix="discriminator")

    def _save_after_peer_loss(self) -> None:
        """Another rank is gone mid-step: this rank's weights are still those before the step (the step
        waits for every rank before it changes them), so last.pt is written from the step's start."""
        found = self.guard.after_peer_loss()
        if found is None:
            return
        position, rng = found
        self.save_last(*position, rng=[rng])
        log.info("saved %s after another process failed", self.checkpoint_dir / checkpoint.LAST)

    def _train_epochs(self, start_epoch: int, skip_batches: int, per_epoch: int) -> None:
        stopped = self.config.max_steps > 0 and self.summary.steps >= self.config.max_steps
        due = self._validation_due  # a stop during validation: the resume validates first
        for epoch in range(start_epoch, self.config.max_epochs):
            if stopped and not due:
                break
            due = False
            batch_index, skip_batches = skip_batches, 0
            tick = time.perf_counter()
            epoch_samples, epoch_seconds = 0, 0.0  # the bar shows the epoch's average rate
            for batch, global_count, stand_in in ([] if stopped else self.train_batches(epoch, batch_index)):
                if batch_index >= per_epoch:
                    break
                self.guard.begin_step()
                loss = self.train_step(batch, global_count, stand_in)
                batch_index += 1
                now = time.perf_counter()
                self._record_step(epoch, batch_index / per_epoch, self.step_values, global_count, now - tick)
                self.guard.at(epoch, batch_index)
                epoch_samples += global_count
                epoch_seconds += now - tick
                self.progress.update(epoch, self.config.max_epochs, batch_index, per_epoch,
                                     self.summary.steps, loss, epoch_samples / max(epoch_seconds, 1e-9), now - tick)
                stopped = self.config.max_steps > 0 and self.summary.steps >= self.config.max_steps
                every = self.config.checkpoint_every_n_steps
                if every and self.summary.steps % every == 0 and not stopped and batch_index < per_epoch:
                    self.save_last(epoch, batch_index)
                self._notify("on_train_batch_end", self.summary.steps, loss)
                # every rank saw the same request in the step's sync, so all stop after the same step
                if self._stop or (not self.world.active and self.stop.requested):
                    raise self.stop.stopped()
                if stopped:
                    break
                tick = time.perf_counter()
            finished = batch_index >= per_epoch
            self.summary.epochs = epoch + 1 if finished else epoch
            self._validation_due = True
            metrics = self._validate(epoch)
            self._validation_due = False
            self.progress.end_epoch(f"epoch {epoch + 1}: train loss {self.summary.final_loss:.4g}, "
                                    f"val mse {metrics['mse']:.4g}")
            self.guard.at(*((epoch + 1, 0) if finished else (epoch, batch_index)))
            self.save_last(*self.guard.last)
            # after the checkpoint: a callback that stops the run here (a search's pruner) leaves the
            # epoch it judged saved, and the folder resumes from there
            self._notify("on_validation_end", epoch + 1, metrics)
            if self._stop_agreed():
                raise self.stop.stopped()

    def _record_step(self, epoch: int, epoch_fraction: float, values: dict[str, float], samples: int,
                     seconds: float) -> None:
        summary = self.summary
        summary.seconds += seconds
        summary.samples += samples
        summary.steps += 1
        summary.final_loss = values["train_loss"]
        self._window.append(values)
        if summary.steps % self.history_every == 0:
            keys = dict.fromkeys(key for v in self._window for key in v)  # d_loss only once adversarial
            means = {key: sum(found) / len(found) for key in keys
                     if (found := [v[key] for v in self._window if key in v])}
            summary.history.append({"step": summary.steps, "epoch": round(epoch + epoch_fraction, 4), **means,
                                    "lr": self._lr(), "time": round(summary.seconds, 3)})
            self._window = []

    # ---------------------------------------------------------------- evaluation
    @torch.no_grad()
    def evaluate(self, split: str, limit: float = 1.0) -> dict[str, Any]:
        """Metrics of the current weights on ``split`` (``train``, ``val`` or ``test``): the first
        ``limit`` batches; with several processes each scores a contiguous share and the sums are
        added up, so every item counts once whatever the number of processes."""
        dataset = self.data.split(split)
        batches = batch_limit(math.ceil(len(dataset) / self.loader.batch_size), limit)
        count = min(len(dataset), batches * self.loader.batch_size)
        share = torch.arange(count).tensor_split(self.world.size)[self.world.rank].tolist()
        index_batches = [share[k:k + self.loader.batch_size] for k in range(0, len(share), self.loader.batch_size)]
        accumulator = make_accumulator(self.data.kind, self.lpips)
        timed = InferenceTimer(self.device)
        self.model.eval()
        for batch in self._batches(dataset, index_batches):
            if not self.world.active and self.stop.requested:  # ranks hold unequal shares: no per-batch sync
                raise self.stop.stopped()
            context, target = self._split(batch)
            with timed(len(context)):
                prediction = self._predict(context)
            accumulator.update(prediction.float(), target)
        self.inference[split] = timed.summary()
        if self.world.active:
            accumulator.reduce(sum_, self.data.horizon, self.data.frame_shape, self.device)
            if self._stop_agreed():
                raise self.stop.stopped()
        return accumulator.compute()

    def _predict(self, context: torch.Tensor) -> torch.Tensor:
        """The model's prediction in eval mode (eagerly when compiling fails)."""
        try:
            with self.precision.autocast():
                return self.model(context, self.data.horizon)
        except Exception as exc:
            if not fall_back_to_eager(self.model, exc):
                raise
            with self.precision.autocast():
                return self.model(context, self.data.horizon)

    @torch.no_grad()
    def predict(self, split: str, indices: Sequence[int]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Context, truth and prediction (on the CPU, float32) for the items ``indices``."""
        dataset = self.data.split(split)
        batch = torch.stack([dataset[i] for i in indices])
        context, target = self._split(batch)
        self.model.eval()
        prediction = self._predict(context)
        return context.float().cpu(), target.float().cpu(), prediction.float().cpu()
