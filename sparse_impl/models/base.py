"""What every SpMM model shares: parameters as leaf tensors, one incidence per batch (positives and
negatives stacked), one SpMM, then a model-specific translation and the dissimilarity."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import ClassVar, Mapping

import torch
from torch import nn

from sparse_impl.backends.base import Backend, PreparedBatch
from sparse_impl.dissimilarity import dissimilarity

__all__ = ["PreparedBatch", "SparseKGEModel", "unit_rows_"]


def unit_rows_(table: torch.Tensor) -> None:
    """Divide every row by its L2 norm (at least 1e-12) in place: F.normalize's numbers without a copy."""
    table.div_(table.norm(p=2, dim=1, keepdim=True).clamp_min_(1e-12))


class SparseKGEModel(nn.Module, ABC):
    """A translation model whose gathers and scatter-adds are one SpMM over an incidence matrix.

    Scores are higher-is-better: -dissimilarity. Entity rows are L2-normalised inside the score
    (differentiably, over the whole table), exactly as TorchKGE normalises its gathered rows.
    """

    name: ClassVar[str]
    uses_relation_columns: ClassVar[bool]  # True: A spans [entities; relations] (h + r - t)

    def __init__(self, params: Mapping[str, torch.Tensor], n_entities: int, n_relations: int,
                 dissimilarity_name: str, backend: Backend) -> None:
        super().__init__()
        self.n_entities = n_entities
        self.n_relations = n_relations
        self.dissimilarity_name = dissimilarity_name
        self.dissimilarity = dissimilarity(dissimilarity_name)
        self.backend = backend
        for key, value in params.items():
            self.register_parameter(key, nn.Parameter(value.detach().clone()))

    def prepare(self, positives: torch.Tensor, negatives: torch.Tensor) -> PreparedBatch:
        """The backend's prepared batch. positives: (B, 3); negatives: (k*B, 3); columns (h, r, t)."""
        return self.backend.prepare(self, torch.cat((positives, negatives), dim=0), positives.shape[0])

    def entity_rows(self, batch: PreparedBatch) -> torch.Tensor:
        """The entity rows the batch's matrix refers to: the whole table, or the rows it touches."""
        return self.entity if batch.entity_ids is None else self.entity.index_select(0, batch.entity_ids)

    def normalized_entities(self, batch: PreparedBatch) -> torch.Tensor:
        """Unit-norm entity rows the batch refers to, differentiable: shape (n_entities or U, d)."""
        return nn.functional.normalize(self.entity_rows(batch), p=2, dim=1)

    @abstractmethod
    def differences(self, batch: PreparedBatch) -> torch.Tensor:
        """The translated difference per row, e.g. h + r - t: shape (B + k*B, d)."""

    def forward(self, batch: PreparedBatch) -> tuple[torch.Tensor, torch.Tensor]:
        """Scores of positives (B,) and negatives (k*B,)."""
        scores = self.backend.scores(self, batch)
        return scores[: batch.n_positive], scores[batch.n_positive :]

    def loss(self, batch: PreparedBatch, margin: float) -> torch.Tensor:
        """The batch's summed margin ranking loss (the backend may fuse it with the scores)."""
        return self.backend.loss(self, batch, margin)

    @torch.no_grad()
    @abstractmethod
    def normalize_parameters(self) -> None:
        """TorchKGE's `normalize_parameters`, applied in place after each optimizer step."""

    def canonical_parameters(self) -> dict[str, torch.Tensor]:
        """Parameters under their canonical names (see harness.spec.parameter_shapes)."""
        return dict(self.named_parameters())
