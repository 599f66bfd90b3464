"""Data parallelism on PyTorch's own engine: one process per device, started by ``torchrun`` (or by a
SLURM job with several tasks), found from the environment those set.

- :func:`from_environment` reads ``RANK`` / ``WORLD_SIZE`` / ``LOCAL_RANK`` (torchrun), or translates
  SLURM's task layout (``SLURM_PROCID``, ``SLURM_NTASKS``, ``SLURM_LOCALID``, the job's first node as
  the rendezvous) into the same variables.
- :func:`start` opens the process group: NCCL on CUDA (one GPU per local rank), Gloo on the CPU.
- Rank 0 alone writes files and logs; the others print nothing but errors (:func:`quiet_other_ranks`).
- Everything the ranks must agree on goes through a collective here: the run folder's name (rank 0's,
  :func:`broadcast`), a stop request (:mod:`vidpred.training.stop`) and sums of metrics (:func:`sum_`),
  and a failing rank's message, left in the rendezvous store (:func:`report_failure`).
"""

from __future__ import annotations

import gc
import json
import logging
import os
import re
import socket
import time
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist

log = logging.getLogger("vidpred")

ERROR_KEY = "vidpred/error"
RANK_KEY = "vidpred/rank"    # per rank: its pid and host
ALIVE_KEY = "vidpred/alive"  # per rank: still there after a peer failed
MAIN_FAILED_KEY = "vidpred/main_failed"  # rank 0 reports a failure itself
DEFAULT_PORT = 29500


@dataclass(frozen=True)
class World:
    """This process's place among the processes of one run."""

    rank: int = 0
    size: int = 1
    local_rank: int = 0
    #: ``host:port`` of the rendezvous where it is not in the environment (a SLURM job's first node)
    address: str | None = None

    @property
    def active(self) -> bool:
        return self.size > 1

    @property
    def main(self) -> bool:
        return self.rank == 0


SINGLE = World()


def first_host(nodelist: str) -> str:
    """The first host of a SLURM node list: ``gpu[03-05,07],cpu1`` -> ``gpu03``."""
    head = re.match(r"([^,\[]+)(\[([^\]]+)\])?", nodelist.strip())
    if head is None:
        raise ValueError(f"cannot read the SLURM node list {nodelist!r}")
    if head.group(3) is None:
        return head.group(1)
    first = head.group(3).split(",")[0].split("-")[0]
    return head.group(1) + first


def slurm_environment(env: dict[str, str]) -> dict[str, str]:
    """torchrun's variables for a SLURM job with several tasks (one per GPU), from SLURM's own."""
    job = env.get("SLURM_JOB_ID", "0")
    return {
        "RANK": env["SLURM_PROCID"],
        "WORLD_SIZE": env["SLURM_NTASKS"],
        "LOCAL_RANK": env.get("SLURM_LOCALID", "0"),
        "LOCAL_WORLD_SIZE": env.get("SLURM_NTASKS_PER_NODE", env["SLURM_NTASKS"]).split("(")[0],
        "MASTER_ADDR": env.get("MASTER_ADDR") or first_host(env.get("SLURM_JOB_NODELIST", "localhost")),
        # a port of its own per job, so two jobs on one node never meet
        "MASTER_PORT": env.get("MASTER_PORT") or str(20000 + int(re.sub(r"\D", "", job) or 0) % 20000),
    }


def from_environment(env: dict[str, str] | None = None) -> World:
    """The world torchrun or SLURM set up for this process (a single process otherwise)."""
    env = dict(os.environ if env is None else env)
    address = None
    if "RANK" not in env and int(env.get("SLURM_NTASKS", "1")) > 1 and "SLURM_PROCID" in env:
        env.update(slurm_environment(env))
        address = f"{env['MASTER_ADDR']}:{env['MASTER_PORT']}"
    if "RANK" not in env or int(env.get("WORLD_SIZE", "1")) <= 1:
        return SINGLE
    return World(rank=int(env["RANK"]), size=int(env["WORLD_SIZE"]), local_rank=int(env.get("LOCAL_RANK", "0")),
                 address=address)


def start(world: World) -> bool:
    """Join the process group of ``world``; True if this call opened it. With CUDA, NCCL carries
    CUDA tensors (one GPU per local rank) and Gloo the CPU ones, so a run on either device works."""
    if not world.active or dist.is_initialized():
        return False
    if torch.cuda.is_available():
        torch.cuda.set_device(world.local_rank)
        backend = "cpu:gloo,cuda:nccl"
    else:
        backend = "gloo"
    # torchrun puts the rendezvous into the environment (env://); a SLURM job's is given explicitly
    dist.init_process_group(backend=backend, rank=world.rank, world_size=world.size,
                            init_method=f"tcp://{world.address}" if world.address else None,
                            timeout=timedelta(minutes=30))
    # who is who, so that a rank that vanishes can be named
    _store().set(f"{RANK_KEY}/{world.rank}", json.dumps({"pid": os.getpid(), "host": socket.gethostname()}))
    return True


def finish(together: bool = False) -> None:
    """Close the process group; ``together``: after a run that ended well, wait for every rank first,
    so that none tears its connections down while another still finishes (rank 0 writes the samples
    and metrics last)."""
    if not dist.is_initialized():
        return
    if together:
        dist.barrier()
    # A finished run's DistributedDataParallel wrapper sits in a reference cycle and holds the group;
    # left to the interpreter's shutdown, the group's C++ side is torn down there, where its threads
    # can end the process with "terminate called without an active exception". Free it now.
    gc.collect()
    dist.destroy_process_group()


def broadcast(value: Any) -> Any:
    """Rank 0's ``value`` on every rank."""
    if not dist.is_initialized():
        return value
    box = [value]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def gather(value: Any) -> list[Any]:
    """Every rank's ``value``, in rank order (on every rank)."""
    if not dist.is_initialized():
        return [value]
    out: list[Any] = [None] * dist.get_world_size()
    dist.all_gather_object(out, value)
    return out


def sum_(tensor: torch.Tensor) -> torch.Tensor:
    """The sum of ``tensor`` over the ranks (in place, also returned)."""
    if dist.is_initialized():
        dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
    return tensor


def barrier() -> None:
    if dist.is_initialized():
        dist.barrier()


def quiet_other_ranks(world: World) -> None:
    """Ranks other than 0 log errors only and write no log file: rank 0 speaks for the run."""
    if world.main:
        return
    root = logging.getLogger()
    for handler in list(root.handlers):
        if isinstance(handler, logging.FileHandler):
            root.removeHandler(handler)
            handler.close()
        else:
            handler.setLevel(logging.ERROR)


_reported: list[str] = []  # this rank's failure, once it is in the store


def report_failure(message: str) -> None:
    """Leave this rank's failure in the rendezvous store, where rank 0 reads it for metrics.json and
    says it (once for the run, not once per rank)."""
    store = _store()
    if store is not None:
        try:
            store.set(ERROR_KEY, f"rank {dist.get_rank()} on {socket.gethostname()}: {message}")
            _reported.append(message)
        except RuntimeError:  # the store went with rank 0: nothing to tell
            pass


def failure_reported() -> bool:
    """Whether this rank's failure is in the store for a living rank 0 to report (then this rank
    keeps quiet)."""
    if not _reported:
        return False
    try:
        if _store().check([MAIN_FAILED_KEY]):  # rank 0 has said (or is saying) what went wrong
            return True
        who = json.loads(_store().get(f"{RANK_KEY}/0"))
    except (RuntimeError, ValueError, AttributeError):
        return False
    return who.get("host") != socket.gethostname() or _process_alive(int(who["pid"]))


def main_rank_failed() -> None:
    """Rank 0 is about to report a failure: the others need not (see :func:`failure_reported`)."""
    store = _store()
    if store is not None:
        try:
            store.set(MAIN_FAILED_KEY, "1")
        except RuntimeError:
            pass


def lost_ranks(wait: float = 2.0) -> list[str]:
    """The other ranks that are gone, as ``rank K (pid P on HOST)``. A rank on this host is gone when
    its process is; one on another host when it does not say it is alive within ``wait`` seconds
    (every rank that sees a peer fail says so here)."""
    store = _store()
    if store is None:
        return []
    me = dist.get_rank()
    try:
        store.set(f"{ALIVE_KEY}/{me}", "1")
        ranks = {k: json.loads(store.get(f"{RANK_KEY}/{k}")) for k in range(dist.get_world_size()) if k != me}
    except (RuntimeError, ValueError):
        return []
    deadline = time.monotonic() + wait
    lost = []
    for rank, who in ranks.items():
        if who.get("host") == socket.gethostname():
            gone = not _process_alive(int(who["pid"]))
        else:
            while not (found := store.check([f"{ALIVE_KEY}/{rank}"])) and time.monotonic() < deadline:
                time.sleep(0.05)
            gone = not found
        if gone:
            lost.append(f"rank {rank} (pid {who.get('pid')} on {who.get('host')})")
    return lost


def _process_alive(pid: int) -> bool:
    try:  # a process killed but not yet reaped by torchrun is a zombie: gone
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True


def failure_of_another_rank() -> str | None:
    """What another rank reported before it failed, if anything."""
    store = _store()
    if store is None:
        return None
    try:
        return store.get(ERROR_KEY).decode() if store.check([ERROR_KEY]) else None
    except RuntimeError:
        return None


def _store() -> Any:
    if not dist.is_initialized():
        return None
    from torch.distributed import distributed_c10d

    return distributed_c10d._get_default_store()


PEER_LOSS = ("connection closed by peer", "connection reset by peer", "broken pipe", "socket timeout",
             "nccl communicator was aborted", "watchdog caught collective operation timeout")


def is_peer_loss(exc: BaseException) -> bool:
    """Whether a collective failed because another process went away."""
    return any(marker in str(exc).lower() for marker in PEER_LOSS)
