"""TransH (Wang et al., 2014): -D(h_perp + d_r - t_perp), projections onto the hyperplane of normal w_r."""

from __future__ import annotations

import torch
from torch.nn.functional import normalize

from harness.models.base import ModelSpec, Tables

__all__ = ["TransH"]


class TransH(ModelSpec):
    """TransH; `normal[r]` is w_r (normalised inside the score), `relation[r]` the translation d_r."""

    name = "transh"
    title = "TransH"
    dissimilarities = ("L2sq",)
    relation_specific_projection = True

    def shapes(self, n_entities: int, n_relations: int, dim: int, rel_dim: int | None) -> dict[str, tuple[int, ...]]:
        return {**super().shapes(n_entities, n_relations, dim, rel_dim), "normal": (n_relations, dim)}

    def constrain(self, params: Tables) -> dict[str, torch.Tensor]:
        out = super().constrain(params)
        w = normalize(params["normal"], p=2, dim=1)
        r = params["relation"]
        out["normal"] = w
        out["relation"] = r - (r * w).sum(dim=1, keepdim=True) * w
        return out

    def project(self, params: Tables, x: torch.Tensor, relations: torch.Tensor) -> torch.Tensor:
        w = normalize(params["normal"].index_select(0, relations), p=2, dim=1)
        return x - (x * w).sum(dim=1, keepdim=True) * w

    def project_one(self, params: Tables, x: torch.Tensor, relation: int) -> torch.Tensor:
        w = normalize(params["normal"][relation], p=2, dim=0)
        return x - (x @ w).unsqueeze(1) * w

    def describe(self) -> str:
        return "TransH (Wang et al., 2014): -D(h_perp + d_r - t_perp)"
