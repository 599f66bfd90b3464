"""Hydra callbacks for sweeps: per-job CPU threads for parallel launchers (``conf/hydra/launcher/``).

Several jobs on one machine each start PyTorch with one thread per core, so two jobs on two cores
run four busy threads and both slow down. :class:`ThreadsPerJob` fixes each job's thread count
when the job starts, inside the worker process that runs it.
"""

from __future__ import annotations

import logging
import os
from typing import Any

import torch
from hydra.experimental.callback import Callback

log = logging.getLogger("vidpred")

THREAD_ENV_VARS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")


class ThreadsPerJob(Callback):
    """Set the CPU threads of every job (``threads <= 0`` leaves PyTorch's default)."""

    def __init__(self, threads: int = 1) -> None:
        self.threads = int(threads)

    def on_job_start(self, config: Any, **kwargs: Any) -> None:
        if self.threads <= 0:
            return
        torch.set_num_threads(self.threads)
        # Child processes (data loader workers) inherit the environment, not torch's setting.
        for name in THREAD_ENV_VARS:
            os.environ[name] = str(self.threads)
        log.info("this job uses %d CPU thread(s)", self.threads)

