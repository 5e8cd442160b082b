"""TorusE (Ebisu and Ichise, 2018): TransE on the torus, -D(frac(h) + frac(r) - frac(t)) with a torus D."""

from __future__ import annotations

import torch

from harness.models.base import ModelSpec, Tables

__all__ = ["TorusE", "straight_through_frac"]


def straight_through_frac(x: torch.Tensor) -> torch.Tensor:
    """frac(x) in value, identity in gradient: what TorchKGE's in-place `.data.frac_()` amounts to."""
    return x + (torch.frac(x) - x).detach()


class TorusE(ModelSpec):
    """TorusE; no L2 normalisation, entities and relations are kept on the torus by frac()."""

    name = "toruse"
    title = "TorusE"
    dissimilarities = ("torus_L2", "torus_L1", "torus_eL2")

    def constrain(self, params: Tables) -> dict[str, torch.Tensor]:
        out = dict(params)
        out["entity"] = params["entity"].frac()
        out["relation"] = params["relation"].frac()
        return out

    def entity_view(self, entity: torch.Tensor) -> torch.Tensor:
        return straight_through_frac(entity)

    def translation(self, params: Tables, relations: torch.Tensor) -> torch.Tensor:
        return straight_through_frac(params["relation"].index_select(0, relations))

    def describe(self) -> str:
        return "TorusE (Ebisu and Ichise, 2018): torus D(frac(h) + frac(r) - frac(t))"
