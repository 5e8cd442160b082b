"""What every SpMM model shares: parameters as leaf tensors, one incidence per batch (positives and
negatives stacked), one SpMM, then a model-specific translation and the dissimilarity."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, ClassVar, Mapping

import torch
from torch import nn

from sparse_impl.backends.base import SpMMBackend
from sparse_impl.dissimilarity import dissimilarity
from sparse_impl.incidence import IncidencePattern, compact_entities, entity_incidence, translation_incidence

__all__ = ["PreparedBatch", "SparseKGEModel"]


@dataclass(frozen=True)
class PreparedBatch:
    """A batch ready for the forward pass: the backend-native incidence of [positives; negatives],
    their relation ids (for relation-specific projections), and how many rows are positives."""

    matrix: Any
    relations: torch.Tensor
    n_positive: int
    pattern: IncidencePattern
    entity_ids: torch.Tensor | None = None  # the entity rows the matrix's entity columns stand for (None: all)


class SparseKGEModel(nn.Module, ABC):
    """A translation model whose gathers and scatter-adds are one SpMM over an incidence matrix.

    Scores are higher-is-better: -dissimilarity. Entity rows are L2-normalised inside the score
    (differentiably, over the whole table), exactly as TorchKGE normalises its gathered rows.
    """

    name: ClassVar[str]
    uses_relation_columns: ClassVar[bool]  # True: A spans [entities; relations] (h + r - t)

    def __init__(self, params: Mapping[str, torch.Tensor], n_entities: int, n_relations: int,
                 dissimilarity_name: str, backend: SpMMBackend) -> None:
        super().__init__()
        self.n_entities = n_entities
        self.n_relations = n_relations
        self.dissimilarity_name = dissimilarity_name
        self._dissimilarity = dissimilarity(dissimilarity_name)
        self.backend = backend
        for key, value in params.items():
            self.register_parameter(key, nn.Parameter(value.detach().clone()))

    def prepare(self, positives: torch.Tensor, negatives: torch.Tensor) -> PreparedBatch:
        """Build the batch incidence. positives: (B, 3); negatives: (k*B, 3); columns (h, r, t).

        When the batch touches few of the entities, its entity columns are renumbered into the rows it
        touches (compact_entities), so the per-row entity work of the forward and backward passes runs on
        those rows only instead of the whole table; the numbers are the same.
        """
        triples = torch.cat((positives, negatives), dim=0)
        dtype = self.entity.dtype
        compact = compact_entities(triples, self.n_entities)
        local, n_columns = (triples, self.n_entities) if compact is None else (compact.triples, compact.ids.numel())
        if self.uses_relation_columns:
            pattern = translation_incidence(local, n_columns, self.n_relations, dtype)
        else:
            pattern = entity_incidence(local, n_columns, dtype)
        return PreparedBatch(self.backend.build(pattern), triples[:, 1], positives.shape[0], pattern,
                             None if compact is None else compact.ids)

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
        scores = -self._dissimilarity(self.differences(batch))
        return scores[: batch.n_positive], scores[batch.n_positive :]

    @torch.no_grad()
    @abstractmethod
    def normalize_parameters(self) -> None:
        """TorchKGE's `normalize_parameters`, applied in place after each optimizer step."""

    def canonical_parameters(self) -> dict[str, torch.Tensor]:
        """Parameters under their canonical names (see harness.spec.parameter_shapes)."""
        return dict(self.named_parameters())
