"""Translation models (the paper's): a triple scores -D(P_r(h) + t_r - P_r(t)), where `entity_view`
is the in-score view of the entity table (unit rows, or frac() for TorusE), `project` the relation's
linear map P_r (the identity unless `relation_specific_projection`), `translation` the relation's
vector t_r and D a dissimilarity (sparse_impl.dissimilarity).

Because P_r is linear, P_r(h) - P_r(t) = P_r(h - t): the SpMM model computes h - t (or h + r - t when
P_r is the identity) as one sparse-dense product over the batch's incidence matrix.
"""

from __future__ import annotations

from typing import ClassVar

import torch

from harness.models.pairwise import pairwise_scores
from harness.models.base import CandidateGroup, ModelSpec, Tables
from sparse_impl.dissimilarity import dissimilarity as lookup
from sparse_impl.dissimilarity import dissimilarity_flops

__all__ = ["TranslationModel", "normalise_rows_flops"]


def normalise_rows_flops(dim: int) -> int:
    """Normalising a head and a tail row: (2d squares and sum + 1 sqrt + d divides) x 2."""
    return 2 * (3 * dim + 1)


class TranslationModel(ModelSpec):
    """-D(P_r(h) + t_r - P_r(t)); a model sets its projection, translation view and constraints."""

    interaction = "translation"
    relation_specific_projection: ClassVar[bool] = False  # False: P_r is the identity for every relation

    def translation_view(self, relation: torch.Tensor) -> torch.Tensor:
        """Translation rows as the score sees them (row-wise, differentiable); the identity by default."""
        return relation

    def translation(self, params: Tables, relations: torch.Tensor) -> torch.Tensor:
        """The translation vector t_r of each relation id: shape (n,) -> (n, k)."""
        return self.translation_view(params["relation"].index_select(0, relations))

    def project(self, params: Tables, x: torch.Tensor, relations: torch.Tensor) -> torch.Tensor:
        """P_r applied to row i of x with relation relations[i] (P_r is linear): (n, dim) -> (n, k)."""
        return x

    def project_one(self, params: Tables, x: torch.Tensor, relation: int) -> torch.Tensor:
        """P_r of one relation applied to every row of x, never materialising per-row matrices: (n, dim) -> (n, k)."""
        return self.project(params, x, torch.full((x.shape[0],), relation, dtype=torch.long, device=x.device))

    def differences(self, params: Tables, heads: torch.Tensor, relations: torch.Tensor, tails: torch.Tensor,
                    view_rows: bool = False) -> torch.Tensor:
        """P_r(h) + t_r - P_r(t) per triple, by gathers (P_r is applied once, to h - t)."""
        h, t = self.gathered_entities(params["entity"], heads, tails, view_rows)
        return self.project(params, h - t, relations) + self.translation(params, relations)

    def score(self, params: Tables, dissimilarity: str | None, heads: torch.Tensor, relations: torch.Tensor,
              tails: torch.Tensor, view_rows: bool = False) -> torch.Tensor:
        assert dissimilarity is not None, "a translation model scores through a dissimilarity"
        return -lookup(dissimilarity)(self.differences(params, heads, relations, tails, view_rows))

    def transform_flops(self, dim: int, rel_dim: int) -> tuple[int, int]:
        """Forward FLOPs of P_r(h) + t_r - P_r(t) from the table rows, and the width of the result.
        Default: normalising h and t, then h + r - t (2d)."""
        return normalise_rows_flops(dim) + 2 * dim, dim

    def forward_flops(self, dissimilarity: str | None, dim: int, rel_dim: int | None) -> int:
        assert dissimilarity is not None
        flops, width = self.transform_flops(dim, rel_dim or dim)
        return flops + dissimilarity_flops(dissimilarity, width)

    def candidate_groups(self, params: Tables, triples: torch.Tensor) -> list[CandidateGroup]:
        """One group per relation when P_r depends on it (all entities projected once per relation, (n, k)
        memory, never per triple), else one group; each group's context is P_r of every viewed entity."""
        entities = self.entity_view(params["entity"])
        if not self.relation_specific_projection:
            return [CandidateGroup(torch.arange(triples.shape[0]), self.project_one(params, entities, 0))]
        order = torch.argsort(triples[:, 1], stable=True)
        relations, counts = torch.unique_consecutive(triples[order, 1], return_counts=True)
        return [CandidateGroup(index, self.project_one(params, entities, int(relation)))
                for index, relation in zip(torch.split(order, counts.tolist()), relations.tolist())]

    def candidate_scores(self, params: Tables, dissimilarity: str | None, group: CandidateGroup,
                         anchors: torch.Tensor, relations: torch.Tensor, tail_side: bool,
                         max_elements: int) -> torch.Tensor:
        """Tail query (h, r, ?): q = P_r(h) + t_r, candidate e scores -D(q - P_r(e)); head query (?, r, t):
        q = P_r(t) - t_r, candidate e scores -D(P_r(e) - q)."""
        assert dissimilarity is not None
        candidates = group.context
        shift = self.translation(params, relations)
        queries = candidates.index_select(0, anchors) + (shift if tail_side else -shift)
        return pairwise_scores(dissimilarity, queries, candidates, tail_side, max_elements)
