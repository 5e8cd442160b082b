"""TransR (Lin et al., 2015): -D(M_r h + r - M_r t), relations in their own rel_dim space."""

from __future__ import annotations

import torch
from torch.nn.functional import normalize

from harness.models.base import TableSpec, Tables
from harness.models.translation import TranslationModel, normalise_rows_flops

__all__ = ["TransR"]


class TransR(TranslationModel):
    """TransR; `projection[r]` is the (rel_dim, dim) matrix M_r applied as M_r @ e, as in TorchKGE."""

    name = "transr"
    title = "TransR"
    dissimilarities = ("L2sq",)
    has_relation_space = True
    relation_specific_projection = True

    def tables(self, n_entities: int, n_relations: int, dim: int, rel_dim: int | None) -> dict[str, TableSpec]:
        rel = dim if rel_dim is None else rel_dim
        return {"entity": TableSpec((n_entities, dim), "entity"), "relation": TableSpec((n_relations, rel), "relation"),
                "projection": TableSpec((n_relations, rel, dim), "relation")}

    def constrain_relations(self, params: Tables) -> dict[str, torch.Tensor]:
        return {"relation": normalize(params["relation"], p=2, dim=1)}

    def project(self, params: Tables, x: torch.Tensor, relations: torch.Tensor) -> torch.Tensor:
        m_r = params["projection"].index_select(0, relations)
        return torch.bmm(m_r, x.unsqueeze(2)).squeeze(2)

    def project_one(self, params: Tables, x: torch.Tensor, relation: int) -> torch.Tensor:
        return x @ params["projection"][relation].t()

    def transform_flops(self, dim: int, rel_dim: int) -> tuple[int, int]:
        # h - t: d; M_r (h - t): 2 d_r d; + r: d_r
        return normalise_rows_flops(dim) + dim + 2 * rel_dim * dim + rel_dim, rel_dim

    def describe(self) -> str:
        return "TransR (Lin et al., 2015): -D(M_r h + r - M_r t)"
