"""Filtered link-prediction evaluation: for every evaluated triple rank the true head among all
entities and the true tail among all entities, other known true triples removed.

Conventions (stated once, here):
- Filtered: candidates forming a known triple (train, valid or test) other than the evaluated one are
  removed before ranking (Bordes et al., 2013).
- Ties: the "realistic" rank, the mean of the optimistic rank (1 + candidates scoring strictly better)
  and the pessimistic rank (candidates scoring better or equal, the true one included), as PyKEEN's
  `realistic` rank type. TorchKGE's evaluator ranks pessimistically; PyKEEN reports all three.
- Sides: head, tail, and both (every head rank and every tail rank pooled, which equals the mean of
  the head and tail figures since both sides have one rank per triple).
- Metrics on realistic ranks: MR (mean rank), MRR (mean of 1 / rank), Hits@k (share of ranks <= k).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

import torch

from harness.evaluate.filtering import KnownTriples
from harness.models import ModelSpec
from harness.models.pairwise import MAX_ELEMENTS

__all__ = ["HITS_AT", "RankingResult", "SIDES", "Ranks", "rank_triples"]

HITS_AT: tuple[int, ...] = (1, 3, 10)
SIDES: tuple[str, ...] = ("head", "tail", "both")


@dataclass(frozen=True)
class Ranks:
    """Filtered optimistic and pessimistic ranks of the true entity, one per evaluated triple: shape (n,)."""

    optimistic: torch.Tensor
    pessimistic: torch.Tensor

    @property
    def realistic(self) -> torch.Tensor:
        return (self.optimistic + self.pessimistic) / 2

    def of(self, rank_type: str) -> torch.Tensor:
        """The ranks of one type: optimistic, pessimistic or realistic (float64)."""
        return {"optimistic": self.optimistic.double(), "pessimistic": self.pessimistic.double(),
                "realistic": self.realistic}[rank_type]


@dataclass(frozen=True)
class RankingResult:
    """Head and tail ranks of the evaluated triples and the metrics derived from them."""

    head: Ranks
    tail: Ranks

    def ranks(self, side: str, rank_type: str = "realistic") -> torch.Tensor:
        if side == "both":
            return torch.cat((self.head.of(rank_type), self.tail.of(rank_type)))
        return getattr(self, side).of(rank_type)

    def metrics(self, rank_type: str = "realistic") -> dict[str, float]:
        """`{side}_{metric}` for side in head/tail/both and metric in mr, mrr, hits_at_{k}; plus `n_triples`."""
        out: dict[str, float] = {"n_triples": float(self.head.optimistic.shape[0])}
        for side in SIDES:
            r = self.ranks(side, rank_type)
            if r.numel() == 0:
                continue
            out[f"{side}_mr"] = float(r.mean())
            out[f"{side}_mrr"] = float(r.reciprocal().mean())
            for k in HITS_AT:
                out[f"{side}_hits_at_{k}"] = float((r <= k).double().mean())
        return out


def _ranks_of(scores: torch.Tensor, true_ids: torch.Tensor, known: torch.Tensor) -> Ranks:
    """Filtered ranks from scores (b, n) (higher is better), the true column per row, and known answers."""
    rows = torch.arange(scores.shape[0])
    true_scores = scores[rows, true_ids].unsqueeze(1)
    known[rows, true_ids] = False  # the evaluated triple itself stays a candidate
    scores = scores.masked_fill(known, float("-inf"))
    better = (scores > true_scores).sum(1)
    equal = (scores == true_scores).sum(1)  # >= 1: the true entity itself
    return Ranks(better + 1, better + equal)


def _concat(parts: list[Ranks], order: torch.Tensor) -> Ranks:
    """Ranks collected in a permuted order, put back in the evaluated triples' order."""
    inverse = torch.empty_like(order)
    inverse[order] = torch.arange(order.shape[0])
    opt = torch.cat([p.optimistic for p in parts]) if parts else torch.zeros(0, dtype=torch.long)
    pes = torch.cat([p.pessimistic for p in parts]) if parts else torch.zeros(0, dtype=torch.long)
    return Ranks(opt[inverse], pes[inverse])


@torch.no_grad()
def rank_triples(spec: ModelSpec, params: Mapping[str, torch.Tensor], dissimilarity: str | None,
                 triples: torch.Tensor, known: KnownTriples, batch_size: int = 256,
                 max_elements: int = MAX_ELEMENTS) -> RankingResult:
    """Filtered head and tail ranks of every triple in `triples` (n, 3) against all entities.

    The model's spec scores the candidates (`ModelSpec.candidate_scores`), group by group as it groups
    the triples (e.g. TransR and TransH one relation at a time, all entities projected once per relation).
    """
    params = {k: v.detach().cpu() for k, v in params.items()}
    triples = triples.long().cpu()
    heads: list[Ranks] = []
    tails: list[Ranks] = []
    order: list[torch.Tensor] = []
    for group in spec.candidate_groups(params, triples):
        order.append(group.index)
        for start in range(0, group.index.shape[0], batch_size):
            batch = triples[group.index[start : start + batch_size]]
            h, r, t = batch[:, 0], batch[:, 1], batch[:, 2]
            tail_scores = spec.candidate_scores(params, dissimilarity, group, h, r, True, max_elements)
            tails.append(_ranks_of(tail_scores, t, known.true_tails(h, r)))
            head_scores = spec.candidate_scores(params, dissimilarity, group, t, r, False, max_elements)
            heads.append(_ranks_of(head_scores, h, known.true_heads(r, t)))
    visited = torch.cat(order) if order else torch.zeros(0, dtype=torch.long)
    return RankingResult(_concat(heads, visited), _concat(tails, visited))
