"""TransE: score = -d(h + r - t), with h + r - t from one SpMM over [normalised entities; relations]."""

from __future__ import annotations

import torch

from sparse_impl.models.base import PreparedBatch, SparseKGEModel, unit_rows_

__all__ = ["SparseTransE"]


class SparseTransE(SparseKGEModel):
    """TransE (Bordes et al., 2013) in SpMM form."""

    name = "transe"
    uses_relation_columns = True

    def differences(self, batch: PreparedBatch) -> torch.Tensor:
        table = torch.cat((self.normalized_entities(batch), self.relation), dim=0)
        return self.backend.spmm(batch.matrix, table)

    @torch.no_grad()
    def normalize_parameters(self) -> None:
        unit_rows_(self.entity)
