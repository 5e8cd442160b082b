"""Negative sampling by corrupting the head or the tail of each positive, seeded.

Unlike TorchKGE and the paper's code (randint(1, n_ent)), every entity, id 0 included, can be drawn.
Negatives are laid out as k blocks of B rows: row j*B + i corrupts positive i, as TorchKGE does.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import ClassVar

import torch

from harness.errors import SptxError

__all__ = ["NegativeSampler", "UniformSampler", "BernoulliSampler", "SharedSampler", "SAMPLERS", "make_sampler", "bernoulli_head_probabilities"]


class NegativeSampler(ABC):
    """Draws k corruptions of each positive; which side is corrupted is the only thing samplers differ in."""

    name: ClassVar[str]

    def __init__(self, train: torch.Tensor, n_entities: int, n_relations: int) -> None:
        self.n_entities = n_entities
        self.n_relations = n_relations

    @abstractmethod
    def head_probability(self, relations: torch.Tensor) -> torch.Tensor:
        """Probability of corrupting the head (else the tail) for each relation id. shape (n,) -> (n,)."""

    def corrupt(self, positives: torch.Tensor, num_negatives: int, generator: torch.Generator) -> torch.Tensor:
        """positives: (B, 3) columns (h, r, t) -> negatives (k*B, 3) with a uniformly drawn entity on one side."""
        negatives = positives.repeat(num_negatives, 1)
        n = negatives.shape[0]
        corrupt_head = torch.rand(n, generator=generator) < self.head_probability(negatives[:, 1])
        replacement = torch.randint(0, self.n_entities, (n,), generator=generator)
        negatives[:, 0] = torch.where(corrupt_head, replacement, negatives[:, 0])
        negatives[:, 2] = torch.where(corrupt_head, negatives[:, 2], replacement)
        return negatives


class UniformSampler(NegativeSampler):
    """Head or tail with probability 1/2 each."""

    name = "uniform"

    def head_probability(self, relations: torch.Tensor) -> torch.Tensor:
        return torch.full(relations.shape, 0.5)


def bernoulli_head_probabilities(train: torch.Tensor, n_relations: int) -> torch.Tensor:
    """Per relation, tph / (tph + hpt) (Wang et al., 2014): one-to-many relations corrupt heads more.

    tph is the mean number of tails per distinct (head, relation), hpt the mean heads per (relation, tail).
    A relation absent from train gets 1/2. shape: (n_relations,).
    """
    h, r, t = train[:, 0], train[:, 1], train[:, 2]
    n_triples = torch.bincount(r, minlength=n_relations).double()
    # distinct (relation, head) and (relation, tail) pairs, as one int64 key each (1-D unique is fast)
    head_pairs = torch.unique(r * (int(h.max()) + 1) + h) // (int(h.max()) + 1)
    tail_pairs = torch.unique(r * (int(t.max()) + 1) + t) // (int(t.max()) + 1)
    n_head_groups = torch.bincount(head_pairs, minlength=n_relations).double()
    n_tail_groups = torch.bincount(tail_pairs, minlength=n_relations).double()
    tph = n_triples / n_head_groups.clamp(min=1)
    hpt = n_triples / n_tail_groups.clamp(min=1)
    probs = tph / (tph + hpt)
    return torch.where(n_triples > 0, probs, torch.full_like(probs, 0.5)).float()


class BernoulliSampler(NegativeSampler):
    """Head or tail with the relation's Bernoulli probability."""

    name = "bernoulli"

    def __init__(self, train: torch.Tensor, n_entities: int, n_relations: int) -> None:
        super().__init__(train, n_entities, n_relations)
        self.probabilities = bernoulli_head_probabilities(train, n_relations)

    def head_probability(self, relations: torch.Tensor) -> torch.Tensor:
        return self.probabilities[relations]


class SharedSampler(NegativeSampler):
    """Shared (chunked) negatives, as DGL-KE's and PyTorch-BigGraph's: the positives in order form chunks of
    CHUNK, and every positive of a chunk gets the same k negative entities on the same side (head or tail, 1/2
    each, per chunk), so a framework that knows it scores a chunk's k x CHUNK negatives as one GEMM and
    gathers each negative row once per chunk. The layout is the usual one (row j*B + i corrupts positive i), so
    every framework can train on them as ordinary negatives."""

    name = "shared"
    CHUNK = 64  # positives per chunk (DGL-KE's neg_chunk_size defaults to the number of negatives)

    def head_probability(self, relations: torch.Tensor) -> torch.Tensor:
        return torch.full(relations.shape, 0.5)

    def corrupt(self, positives: torch.Tensor, num_negatives: int, generator: torch.Generator) -> torch.Tensor:
        b = positives.shape[0]
        chunks = (b + self.CHUNK - 1) // self.CHUNK
        corrupt_head = (torch.rand(chunks, generator=generator) < 0.5).repeat_interleave(self.CHUNK)[:b]
        shared = torch.randint(0, self.n_entities, (num_negatives, chunks), generator=generator)
        replacement = shared.repeat_interleave(self.CHUNK, dim=1)[:, :b].reshape(-1)  # row j*B + i: chunk of i, j
        negatives = positives.repeat(num_negatives, 1)
        heads = corrupt_head.repeat(num_negatives)
        negatives[:, 0] = torch.where(heads, replacement, negatives[:, 0])
        negatives[:, 2] = torch.where(heads, negatives[:, 2], replacement)
        return negatives


# The registry of samplers: every list of sampler names (run settings, --sampler choices, grids) is derived from it.
SAMPLERS: dict[str, type[NegativeSampler]] = {cls.name: cls for cls in (BernoulliSampler, UniformSampler,
                                                                       SharedSampler)}


def make_sampler(name: str, train: torch.Tensor, n_entities: int, n_relations: int) -> NegativeSampler:
    """The named sampler fitted on the training triples."""
    if name not in SAMPLERS:
        raise SptxError(f"unknown negative sampler {name!r}; choose one of {', '.join(SAMPLERS)}")
    return SAMPLERS[name](train, n_entities, n_relations)
