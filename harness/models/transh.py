"""TransH (Wang et al., 2014): -D(h_perp + d_r - t_perp), projections onto the hyperplane of normal w_r."""

from __future__ import annotations

import torch
from torch.nn.functional import normalize

from harness.models.base import TableSpec, Tables
from harness.models.translation import TranslationModel, normalise_rows_flops

__all__ = ["TransH"]


class TransH(TranslationModel):
    """TransH; `normal[r]` is w_r (normalised inside the score), `relation[r]` the translation d_r."""

    name = "transh"
    title = "TransH"
    dissimilarities = ("L2sq",)
    relation_specific_projection = True

    def tables(self, n_entities: int, n_relations: int, dim: int, rel_dim: int | None) -> dict[str, TableSpec]:
        normal = TableSpec((n_relations, dim), "relation")
        return {**super().tables(n_entities, n_relations, dim, rel_dim), "normal": normal}

    def constrain_relations(self, params: Tables) -> dict[str, torch.Tensor]:
        """Unit normals, and d_r moved onto its hyperplane."""
        normal = normalize(params["normal"], p=2, dim=1)
        return {"normal": normal, "relation": self.onto_hyperplane(params["relation"], normal)}

    @staticmethod
    def onto_hyperplane(relation: torch.Tensor, unit_normal: torch.Tensor) -> torch.Tensor:
        """d_r - (d_r . w_r) w_r for unit normals w_r: the translation's part of TorchKGE's constraint."""
        return relation - (relation * unit_normal).sum(dim=1, keepdim=True) * unit_normal

    def project(self, params: Tables, x: torch.Tensor, relations: torch.Tensor) -> torch.Tensor:
        w = normalize(params["normal"].index_select(0, relations), p=2, dim=1)
        return x - (x * w).sum(dim=1, keepdim=True) * w

    def project_one(self, params: Tables, x: torch.Tensor, relation: int) -> torch.Tensor:
        w = normalize(params["normal"][relation], p=2, dim=0)
        return x - (x @ w).unsqueeze(1) * w

    def transform_flops(self, dim: int, rel_dim: int) -> tuple[int, int]:
        # h - t: d; normalising w_r: 3d + 1; x - (x.w) w: 2d + 2d; + d_r: d
        return normalise_rows_flops(dim) + dim + (3 * dim + 1) + 4 * dim + dim, dim

    def describe(self) -> str:
        return "TransH (Wang et al., 2014): -D(h_perp + d_r - t_perp)"
