"""DistMult (Yang et al., 2015): sum(h * r * t), on unit-norm entities as TorchKGE scores it."""

from __future__ import annotations

import torch

from harness.models.base import CandidateGroup, ModelSpec, Tables
from harness.models.translation import normalise_rows_flops

__all__ = ["DistMult"]


class DistMult(ModelSpec):
    """DistMult: a bilinear score with a diagonal relation matrix. As TorchKGE's DistMultModel: entity rows are
    normalised inside the score and kept to unit norm after each step (PyKEEN's DistMult keeps the unit-norm
    constraint but scores the stored rows: the same values, and the same gradients once they are unit rows)."""

    name = "distmult"
    title = "DistMult"
    interaction = "bilinear"

    def score(self, params: Tables, dissimilarity: str | None, heads: torch.Tensor, relations: torch.Tensor,
              tails: torch.Tensor, view_rows: bool = False) -> torch.Tensor:
        h, t = self.gathered_entities(params["entity"], heads, tails, view_rows)
        return (h * params["relation"].index_select(0, relations) * t).sum(dim=1)

    def forward_flops(self, dissimilarity: str | None, dim: int, rel_dim: int | None) -> int:
        # normalising h and t, then h * r * t summed: 2d multiplies + d adds
        return normalise_rows_flops(dim) + 3 * dim

    def candidate_groups(self, params: Tables, triples: torch.Tensor) -> list[CandidateGroup]:
        """One group; its context is every viewed entity row, in float64 (the GEMM's operand)."""
        return [CandidateGroup(torch.arange(triples.shape[0]), self.entity_view(params["entity"]).double())]

    def candidate_scores(self, params: Tables, dissimilarity: str | None, group: CandidateGroup,
                         anchors: torch.Tensor, relations: torch.Tensor, tail_side: bool,
                         max_elements: int) -> torch.Tensor:
        """The score is symmetric in h and t: (anchor * r) @ every entity, one GEMM."""
        entities = group.context
        query = entities.index_select(0, anchors) * params["relation"].index_select(0, relations).double()
        return query @ entities.t()

    def describe(self) -> str:
        return "DistMult (Yang et al., 2015): sum(h * r * t)"
