"""TransH: h - t by SpMM over normalised entities, then the hyperplane projection x - (w_r . x) w_r + d_r."""

from __future__ import annotations

import torch
from torch.nn.functional import normalize

from sparse_impl.models.base import PreparedBatch, SparseKGEModel, unit_rows_

__all__ = ["SparseTransH"]


class SparseTransH(SparseKGEModel):
    """TransH (Wang et al., 2014). Projection is linear, so proj(h) + d_r - proj(t) = proj(h - t) + d_r."""

    name = "transh"
    uses_relation_columns = False

    def differences(self, batch: PreparedBatch) -> torch.Tensor:
        x = self.backend.spmm(batch.matrix, self.normalized_entities(batch))
        w = normalize(self.normal.index_select(0, batch.relations), p=2, dim=1)
        d_r = self.relation.index_select(0, batch.relations)
        return x - (x * w).sum(dim=1, keepdim=True) * w + d_r

    @torch.no_grad()
    def normalize_parameters(self) -> None:
        unit_rows_(self.entity)
        unit_rows_(self.normal)
        w = self.normal
        self.relation.sub_((self.relation * w).sum(dim=1, keepdim=True) * w)
