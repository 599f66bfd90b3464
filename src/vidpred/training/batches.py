"""Which items each training step takes: a shuffle that is a pure function of (seed, epoch), cut into
global batches that data-parallel processes share out, and the ``limit_*_batches`` convention."""

from __future__ import annotations

from collections.abc import Iterator

import torch

from vidpred.errors import require
from vidpred.training.distributed import SINGLE, World


class BatchPlan:
    """The batches of one epoch: a shuffle that is a pure function of (seed, epoch), cut into global
    batches of ``batch_size``, of which this rank takes its contiguous share, from batch ``skip`` on.

    A resume regenerates the same permutation and skips the batches already trained on; data-parallel
    ranks share out the very batches a single process would train on, so the global batch, and with it
    the result, does not depend on the number of processes. A rank whose share of a short last batch
    is empty trains on a copy of one item with weight 0 (every rank must take part in a step).
    """

    def __init__(self, size: int, batch_size: int, seed: int, epoch: int, skip: int = 0,
                 world: World = SINGLE) -> None:
        generator = torch.Generator().manual_seed(seed * 1_000_003 + epoch)
        order = torch.randperm(size, generator=generator)
        self.batches = [order[k:k + batch_size] for k in range(skip * batch_size, size, batch_size)]
        self.world = world

    def __len__(self) -> int:
        return len(self.batches)

    def shares(self) -> Iterator[tuple[list[int], int, bool]]:
        """(this rank's indices, the global batch size, whether the share is a weight-0 stand-in)."""
        for batch in self.batches:
            share = batch.tensor_split(self.world.size)[self.world.rank].tolist()
            yield (share, len(batch), False) if share else ([int(batch[0])], len(batch), True)


def check_global_batch(batch_size: int, world: World) -> None:
    require(batch_size % world.size == 0, f"data.batch_size={batch_size} must divide by the {world.size} processes "
                                          "(it is the global batch, shared out among them)")


def batch_limit(total: int, limit: float) -> int:
    """Lightning's convention: a float in (0, 1] is a fraction of the batches, else a count."""
    if isinstance(limit, float) and limit <= 1.0:
        return max(1, int(total * limit)) if total else 0
    return min(total, int(limit))
