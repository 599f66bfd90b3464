"""The settings of a training run, one dataclass per config group (``trainer``, ``optim``, ``metrics``,
and the loader keys of ``data``), each checking its values when it is made: an impossible value is a
one-line :class:`~vidpred.errors.ConfigError` before any data is read."""

from __future__ import annotations

from dataclasses import dataclass

from vidpred.errors import require
from vidpred.training.accel import COMPILE_MODES


@dataclass
class TrainerConfig:
    max_epochs: int = 20
    max_steps: int = -1
    limit_train_batches: float = 1.0
    limit_val_batches: float = 1.0
    limit_test_batches: float = 1.0
    gradient_clip_val: float | None = None
    log_every_n_steps: int | str = "auto"  # or a number of steps
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
        require(self.log_every_n_steps == "auto" or (isinstance(self.log_every_n_steps, int)
                                                     and not isinstance(self.log_every_n_steps, bool)
                                                     and self.log_every_n_steps >= 1),
                f"trainer.log_every_n_steps must be auto or a whole number >= 1, got {self.log_every_n_steps!r}")
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
class MetricsConfig:
    lpips: bool = False
    lpips_weights: str | None = None


@dataclass
class LoaderConfig:
    batch_size: int = 64
    num_workers: int = 0

    def __post_init__(self) -> None:
        require(self.batch_size >= 1, f"data.batch_size must be at least 1, got {self.batch_size}")
        require(self.num_workers >= 0, f"data.num_workers must be non-negative, got {self.num_workers}")
