"""TorusE: TransE's SpMM over the fractional parts of the embeddings, then a torus dissimilarity."""

from __future__ import annotations

import torch

from sparse_impl.models.base import PreparedBatch, SparseKGEModel

__all__ = ["SparseTorusE", "straight_through_frac"]


def straight_through_frac(x: torch.Tensor) -> torch.Tensor:
    """frac(x) in value, identity in gradient: what TorchKGE's in-place `.data.frac_()` amounts to."""
    return x + (torch.frac(x) - x).detach()


class SparseTorusE(SparseKGEModel):
    """TorusE (Ebisu and Ichise, 2018) in SpMM form; no L2 normalisation, entities live on the torus."""

    name = "toruse"
    uses_relation_columns = True

    def differences(self, batch: PreparedBatch) -> torch.Tensor:
        table = torch.cat((self.entity_rows(batch), self.relation), dim=0)
        return self.backend.spmm(batch.matrix, straight_through_frac(table))

    @torch.no_grad()
    def normalize_parameters(self) -> None:
        self.entity.frac_()
        self.relation.frac_()
