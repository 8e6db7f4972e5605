"""Real batches of a fit, one per step, each drawn from ``(seed, step)`` alone so that a resumed run
draws what an uninterrupted one would have."""

from __future__ import annotations

import torch
from torch.utils.data import Sampler

__all__ = ["StepBatchSampler"]


def _step_seed(seed: int, step: int) -> int:
    return (seed * 1_000_003 + step * 7_919 + 17) % (2**63)


class StepBatchSampler(Sampler):
    """Index batches for steps ``start..stop-1``; the batch of a step depends only on (seed, step).

    ``balanced``: each item draws a class uniformly, then one of that class's items uniformly.
    ``rank``/``world``: the global batch (``batch_size`` items, ``chunks`` consecutive chunks of
    equal size, one per discriminator update) is drawn alike on every rank, and each rank takes its
    ``1/world`` slice of every chunk; the ranks' slices together are the 1-process batch.
    """

    def __init__(self, targets, batch_size: int, balanced: bool, seed: int, start: int, stop: int,
                 rank: int = 0, world: int = 1, chunks: int = 1):
        self.batch_size, self.balanced, self.seed, self.start, self.stop = batch_size, balanced, seed, start, stop
        self.rank, self.world, self.chunks = rank, world, chunks
        if batch_size % (chunks * world):
            raise ValueError(f"batch of {batch_size} does not split into {chunks} chunks × {world} ranks")
        t = torch.as_tensor(list(targets), dtype=torch.int64)
        self.order = torch.argsort(t, stable=True)  # item indices grouped by class
        self.counts = torch.bincount(t)
        self.offsets = torch.cumsum(self.counts, 0) - self.counts
        self.n = len(t)

    def __len__(self) -> int:
        return max(0, self.stop - self.start)

    def __iter__(self):
        for step in range(self.start, self.stop):
            g = torch.Generator().manual_seed(_step_seed(self.seed, step) ^ 0x5EED)
            if self.balanced:
                present = torch.nonzero(self.counts).squeeze(1)
                cls = present[torch.randint(len(present), (self.batch_size,), generator=g)]
                pos = self.offsets[cls] + (torch.rand(self.batch_size, generator=g) * self.counts[cls]).long()
                batch = self.order[pos]
            else:
                batch = torch.randint(self.n, (self.batch_size,), generator=g)
            yield self._shard(batch).tolist()

    def _shard(self, batch: torch.Tensor) -> torch.Tensor:
        if self.world == 1:
            return batch
        per = self.batch_size // (self.chunks * self.world)
        return batch.view(self.chunks, self.world, per)[:, self.rank].reshape(-1)
