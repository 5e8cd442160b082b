"""Seeded epochs of real, distinct batches with their negatives, identical for every framework."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator

import torch

from harness.sampling.negatives import NegativeSampler

__all__ = ["Batch", "BatchStream", "iter_batches"]


@dataclass(frozen=True)
class Batch:
    """Positives (B, 3) and negatives (k*B, 3), columns (head, relation, tail), int64 on the CPU."""

    positives: torch.Tensor
    negatives: torch.Tensor

    @property
    def size(self) -> int:
        return int(self.positives.shape[0])


def iter_batches(train: torch.Tensor, batch_size: int, generator: torch.Generator) -> Iterator[torch.Tensor]:
    """One epoch: a seeded shuffle of the training triples cut into batches (the last may be smaller)."""
    order = torch.randperm(train.shape[0], generator=generator)
    for start in range(0, train.shape[0], batch_size):
        yield train[order[start : start + batch_size]]


@dataclass
class BatchStream:
    """Endless stream of batches with negatives, epoch after epoch, from one seed.

    Two streams built with the same arguments yield the same batches in the same order, which is
    how every framework in a comparison gets identical work.
    """

    train: torch.Tensor
    batch_size: int
    sampler: NegativeSampler
    num_negatives: int = 1
    seed: int = 0

    def batches_per_epoch(self) -> int:
        return -(-self.train.shape[0] // self.batch_size)

    def __iter__(self) -> Iterator[Batch]:
        generator = torch.Generator().manual_seed(self.seed)
        while True:
            for positives in iter_batches(self.train, self.batch_size, generator):
                yield Batch(positives, self.sampler.corrupt(positives, self.num_negatives, generator))
