"""TransR: h - t by SpMM over normalised entities, then M_r (h - t) + r in the relation space."""

from __future__ import annotations

import torch

from sparse_impl.models.base import PreparedBatch, SparseKGEModel, unit_rows_

__all__ = ["SparseTransR"]


class SparseTransR(SparseKGEModel):
    """TransR (Lin et al., 2015). M_r h + r - M_r t = M_r (h - t) + r; `projection` has shape (n_rel, d_r, d_e)."""

    name = "transr"
    uses_relation_columns = False

    def differences(self, batch: PreparedBatch) -> torch.Tensor:
        x = self.backend.spmm(batch.matrix, self.normalized_entities(batch))
        m_r = self.projection.index_select(0, batch.relations)
        r = self.relation.index_select(0, batch.relations)
        return torch.bmm(m_r, x.unsqueeze(2)).squeeze(2) + r

    @torch.no_grad()
    def normalize_parameters(self) -> None:
        unit_rows_(self.entity)
        unit_rows_(self.relation)
