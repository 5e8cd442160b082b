"""The SpMM model: a translation model (harness.models.translation) whose gathers and scatter-adds are
one sparse-dense product over the batch's incidence matrix (positives and negatives stacked). Everything
model-specific (views, projection, translation, constraints) is read from the model's spec."""

from __future__ import annotations

from typing import Mapping

import torch
from torch import nn

from harness.models import ModelSpec, constrain_touched_rows_
from harness.spec import OwnedParameters
from sparse_impl.backends.base import Backend, PreparedBatch
from sparse_impl.dissimilarity import dissimilarity

__all__ = ["PreparedBatch", "SparseKGEModel"]


class SparseKGEModel(nn.Module):
    """A model on one of our backends: a translation model in SpMM form, or any model on the fused kernels. Scores
    are higher-is-better (translation models: -dissimilarity).

    When P_r is the identity (TransE, TorusE) the incidence spans [entities; relations] and the SpMM gives
    h + r - t; otherwise it spans the entities, gives h - t, and P_r(h - t) + t_r follows by gathers.
    """

    def __init__(self, spec: ModelSpec, params: Mapping[str, torch.Tensor], n_entities: int,
                 n_relations: int, dissimilarity_name: str | None, backend: Backend, row_gradients: bool = False) -> None:
        super().__init__()
        if row_gradients and not backend.row_gradients:
            raise ValueError(f"backend {backend.name} cannot hand out row gradients")
        self.spec = spec
        self.row_gradients = row_gradients
        self.name = spec.name
        # translation models without P_r put the relation table beside the entities in the incidence
        self.uses_relation_columns = not getattr(spec, "relation_specific_projection", True)
        self.n_entities = n_entities
        self.n_relations = n_relations
        self.dissimilarity_name = dissimilarity_name
        self.dissimilarity = None if dissimilarity_name is None else dissimilarity(dissimilarity_name)
        self.backend = backend
        adopt = isinstance(params, OwnedParameters)  # else the caller's tensors stay as they are
        for key, value in params.items():
            self.register_parameter(key, nn.Parameter(value.detach() if adopt else value.detach().clone()))

    def prepare(self, positives: torch.Tensor, negatives: torch.Tensor) -> PreparedBatch:
        """The backend's prepared batch. positives: (B, 3); negatives: (k*B, 3); columns (h, r, t)."""
        return self.backend.prepare(self, torch.cat((positives, negatives), dim=0), positives.shape[0])

    def viewed_entities(self, batch: PreparedBatch) -> torch.Tensor:
        """The spec's view of the entity rows the batch's matrix refers to (the whole table, or the rows it
        touches), differentiable: shape (n_entities or U, d)."""
        rows = self.entity if batch.entity_ids is None else self.entity.index_select(0, batch.entity_ids)
        return self.spec.entity_view(rows)

    def differences(self, batch: PreparedBatch) -> torch.Tensor:
        """The translated difference P_r(h) + t_r - P_r(t) per row: shape (B + k*B, k)."""
        params = dict(self.named_parameters())
        if self.uses_relation_columns:
            table = torch.cat((self.viewed_entities(batch), self.spec.translation_view(self.relation)), dim=0)
            return self.backend.spmm(batch.matrix, table)
        x = self.backend.spmm(batch.matrix, self.viewed_entities(batch))
        return self.spec.project(params, x, batch.relations) + self.spec.translation(params, batch.relations)

    def forward(self, batch: PreparedBatch) -> tuple[torch.Tensor, torch.Tensor]:
        """Scores of positives (B,) and negatives (k*B,)."""
        scores = self.backend.scores(self, batch)
        return scores[: batch.n_positive], scores[batch.n_positive :]

    def loss(self, batch: PreparedBatch, loss: str, margin: float, temperature: float = 1.0) -> torch.Tensor:
        """The batch's summed loss (sparse_impl.loss; the backend may fuse it with the scores)."""
        return self.backend.loss(self, batch, loss, margin, temperature)

    @torch.no_grad()
    def normalize_parameters(self) -> None:
        """The spec's constraints (TorchKGE's `normalize_parameters`), applied in place after each optimizer step:
        to the rows the last step touched when the gradients are row gradients (only those rows moved)."""
        params = dict(self.named_parameters())
        if self.row_gradients:  # the row-sparse optimizer kept the entity rows it moved to their constraint
            constrain_touched_rows_(self.spec, params, entities_done=True)
        else:
            self.spec.constrain_(params)

    def canonical_parameters(self) -> dict[str, torch.Tensor]:
        """Parameters under their canonical names (see harness.models)."""
        return dict(self.named_parameters())

    def take_pending_rows(self) -> list[tuple[nn.Parameter, object]]:
        """(table, gradient) pairs a fused backward left for the optimizer's fused update instead of in `.grad`
        (the entity table's, in row-gradient mode), valid until the next loss pass."""
        pending = self.backend.take_pending_rows()
        return [] if pending is None else [(self.entity, pending)]

    def pending_gradients(self) -> dict[str, torch.Tensor]:
        """Those gradients as dense tables under their canonical names, left for the optimizer (to verify them)."""
        pending = self.backend.peek_pending_rows()
        if pending is None:
            return {}
        dense = torch.zeros_like(self.entity)
        dense[torch.from_numpy(pending.ids)] = torch.from_numpy(pending.gradient())
        return {"entity": dense}

