"""The known true triples used for the filtered setting: for a query (h, r, ?) every true tail, for a
query (?, r, t) every true head, looked up for a whole batch at once by sorted keys."""

from __future__ import annotations

from dataclasses import dataclass

import torch

__all__ = ["KnownTriples"]


@dataclass(frozen=True)
class _SortedIndex:
    """Answers of queries keyed by an int64 key, sorted by key (answers[i] belongs to keys[i])."""

    keys: torch.Tensor
    answers: torch.Tensor

    @classmethod
    def build(cls, keys: torch.Tensor, answers: torch.Tensor) -> "_SortedIndex":
        order = torch.argsort(keys, stable=True)
        return cls(keys[order], answers[order])

    def mask(self, queries: torch.Tensor, n_entities: int) -> torch.Tensor:
        """Boolean (len(queries), n_entities): True where the entity answers the query in a known triple."""
        start = torch.searchsorted(self.keys, queries, right=False)
        end = torch.searchsorted(self.keys, queries, right=True)
        counts = end - start
        rows = torch.repeat_interleave(torch.arange(queries.shape[0]), counts)
        first = torch.repeat_interleave(start - (torch.cumsum(counts, 0) - counts), counts)
        positions = torch.arange(int(counts.sum())) + first
        mask = torch.zeros((queries.shape[0], n_entities), dtype=torch.bool)
        mask[rows, self.answers[positions]] = True
        return mask


@dataclass(frozen=True)
class KnownTriples:
    """Every true triple of train, valid and test, indexed by (head, relation) and by (relation, tail)."""

    n_entities: int
    n_relations: int
    tails_of: _SortedIndex
    heads_of: _SortedIndex

    @classmethod
    def from_splits(cls, splits: list[torch.Tensor], n_entities: int, n_relations: int) -> "KnownTriples":
        """splits: (n, 3) int64 tensors with columns (head, relation, tail); duplicates are harmless."""
        triples = torch.cat([s.long() for s in splits], dim=0)
        h, r, t = triples[:, 0], triples[:, 1], triples[:, 2]
        return cls(n_entities, n_relations,
                   _SortedIndex.build(h * n_relations + r, t), _SortedIndex.build(t * n_relations + r, h))

    def true_tails(self, heads: torch.Tensor, relations: torch.Tensor) -> torch.Tensor:
        """(b, n_entities) bool: t with (heads[i], relations[i], t) known."""
        return self.tails_of.mask(heads * self.n_relations + relations, self.n_entities)

    def true_heads(self, relations: torch.Tensor, tails: torch.Tensor) -> torch.Tensor:
        """(b, n_entities) bool: h with (h, relations[i], tails[i]) known."""
        return self.heads_of.mask(tails * self.n_relations + relations, self.n_entities)
