"""TransR (Lin et al., 2015): -D(M_r h + r - M_r t), relations in their own rel_dim space."""

from __future__ import annotations

import torch
from torch.nn.functional import normalize

from harness.models.base import ModelSpec, Tables

__all__ = ["TransR"]


class TransR(ModelSpec):
    """TransR; `projection[r]` is the (rel_dim, dim) matrix M_r applied as M_r @ e, as in TorchKGE."""

    name = "transr"
    title = "TransR"
    dissimilarities = ("L2sq",)
    has_relation_space = True
    relation_specific_projection = True

    def shapes(self, n_entities: int, n_relations: int, dim: int, rel_dim: int | None) -> dict[str, tuple[int, ...]]:
        rel = dim if rel_dim is None else rel_dim
        return {"entity": (n_entities, dim), "relation": (n_relations, rel), "projection": (n_relations, rel, dim)}

    def constrain(self, params: Tables) -> dict[str, torch.Tensor]:
        out = super().constrain(params)
        out["relation"] = normalize(params["relation"], p=2, dim=1)
        return out

    def project(self, params: Tables, x: torch.Tensor, relations: torch.Tensor) -> torch.Tensor:
        m_r = params["projection"].index_select(0, relations)
        return torch.bmm(m_r, x.unsqueeze(2)).squeeze(2)

    def project_one(self, params: Tables, x: torch.Tensor, relation: int) -> torch.Tensor:
        return x @ params["projection"][relation].t()

    def describe(self) -> str:
        return "TransR (Lin et al., 2015): -D(M_r h + r - M_r t)"
