"""TorusE (Ebisu and Ichise, 2018): TransE on the torus, -D(frac(h) + frac(r) - frac(t)) with a torus D."""

from __future__ import annotations

import torch

from harness.models.base import Tables
from harness.models.translation import TranslationModel

__all__ = ["TorusE", "straight_through_frac"]


def straight_through_frac(x: torch.Tensor) -> torch.Tensor:
    """frac(x) in value, identity in gradient: what TorchKGE's in-place `.data.frac_()` amounts to."""
    return x + (torch.frac(x) - x).detach()


class TorusE(TranslationModel):
    """TorusE; no L2 normalisation, entities and relations are kept on the torus by frac()."""

    name = "toruse"
    title = "TorusE"
    dissimilarities = ("torus_L2", "torus_L1", "torus_eL2")
    entity_constraint = "frac"

    def constrain_relations(self, params: Tables) -> dict[str, torch.Tensor]:
        return {"relation": params["relation"].frac()}

    def entity_view(self, entity: torch.Tensor) -> torch.Tensor:
        return straight_through_frac(entity)

    def translation_view(self, relation: torch.Tensor) -> torch.Tensor:
        return straight_through_frac(relation)

    def transform_flops(self, dim: int, rel_dim: int) -> tuple[int, int]:
        return 3 * dim + 2 * dim, dim  # frac of h, r and t; h + r - t

    def describe(self) -> str:
        return "TorusE (Ebisu and Ichise, 2018): torus D(frac(h) + frac(r) - frac(t))"
