"""What a translation model is, once: parameter shapes, initial values, constraints and the score
function on canonical parameters (PyKEEN-style: a model is representations plus an interaction).
Adapters, `sptx verify` and the link-prediction evaluator all read a `ModelSpec`.

Every model here scores a triple as -D(P_r(h) + t_r - P_r(t)): `entity_view` is the in-score view of
the entity table (unit rows, or frac() for TorusE), `project` the relation's linear map P_r (identity,
M_r, or the hyperplane projection), `translation` the relation's vector t_r, D the dissimilarity.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import ClassVar, Mapping

import torch
from torch.nn.functional import normalize

__all__ = ["ModelSpec", "Tables", "xavier_uniform"]

Tables = Mapping[str, torch.Tensor]


def xavier_uniform(shape: tuple[int, ...], generator: torch.Generator) -> torch.Tensor:
    """Xavier-uniform over the 2-D view (rows, row length), as torch.nn.init does for an Embedding table."""
    rows = shape[0]
    cols = 1
    for s in shape[1:]:
        cols *= s
    bound = (6.0 / (rows + cols)) ** 0.5
    return (torch.rand((rows, cols), generator=generator) * 2 - 1).mul_(bound).reshape(shape)


class ModelSpec(ABC):
    """One translation model: its canonical parameters, their constraints and its score function.

    Canonical names: `entity` (n_ent, dim), `relation` (n_rel, rel_dim or dim), plus model-specific
    tables (`projection`, `normal`). Constraints are TorchKGE's `normalize_parameters`.
    """

    name: ClassVar[str]
    title: ClassVar[str]  # as written in papers and charts, e.g. "TransE"
    dissimilarities: ClassVar[tuple[str, ...]]  # the first is the default
    has_relation_space: ClassVar[bool] = False  # True: relations live in their own rel_dim space (TransR)
    relation_specific_projection: ClassVar[bool] = False  # True: P_r differs per relation

    @property
    def default_dissimilarity(self) -> str:
        return self.dissimilarities[0]

    def relation_dim(self, dim: int, rel_dim: int | None) -> int | None:
        """The relation-space dimension this model uses (None for models without one)."""
        if not self.has_relation_space:
            return None
        return dim if rel_dim is None else rel_dim

    def shapes(self, n_entities: int, n_relations: int, dim: int, rel_dim: int | None) -> dict[str, tuple[int, ...]]:
        """Canonical parameter names and shapes."""
        return {"entity": (n_entities, dim), "relation": (n_relations, dim)}

    def initial(self, shapes: Mapping[str, tuple[int, ...]], generator: torch.Generator) -> dict[str, torch.Tensor]:
        """Seeded initial values before the constraints: Xavier-uniform, as TorchKGE's constructors draw."""
        return {name: xavier_uniform(shape, generator) for name, shape in shapes.items()}

    def constrain(self, params: Tables) -> dict[str, torch.Tensor]:
        """TorchKGE's `normalize_parameters` on canonical tensors (returns new tensors): unit entity rows."""
        out = dict(params)
        out["entity"] = normalize(params["entity"], p=2, dim=1)
        return out

    def entity_view(self, entity: torch.Tensor) -> torch.Tensor:
        """Entity rows as the score sees them (differentiable): unit-norm rows. shape (n, dim) -> (n, dim)."""
        return normalize(entity, p=2, dim=1)

    def translation(self, params: Tables, relations: torch.Tensor) -> torch.Tensor:
        """The translation vector t_r of each relation id: shape (n,) -> (n, k)."""
        return params["relation"].index_select(0, relations)

    def project(self, params: Tables, x: torch.Tensor, relations: torch.Tensor) -> torch.Tensor:
        """P_r applied to row i of x with relation relations[i] (P_r is linear): (n, dim) -> (n, k)."""
        return x

    def project_one(self, params: Tables, x: torch.Tensor, relation: int) -> torch.Tensor:
        """P_r of one relation applied to every row of x, never materialising per-row matrices: (n, dim) -> (n, k)."""
        return self.project(params, x, torch.full((x.shape[0],), relation, dtype=torch.long, device=x.device))

    def differences(self, params: Tables, heads: torch.Tensor, relations: torch.Tensor,
                    tails: torch.Tensor) -> torch.Tensor:
        """P_r(h) + t_r - P_r(t) per triple, by gathers (P_r is linear, so it is applied once to h - t)."""
        ent = self.entity_view(params["entity"])
        x = ent.index_select(0, heads) - ent.index_select(0, tails)
        return self.project(params, x, relations) + self.translation(params, relations)

    def score(self, params: Tables, dissimilarity: str, heads: torch.Tensor, relations: torch.Tensor,
              tails: torch.Tensor) -> torch.Tensor:
        """Scores (higher is better) of triples given as id tensors of shape (n,)."""
        from sparse_impl.dissimilarity import dissimilarity as lookup

        return -lookup(dissimilarity)(self.differences(params, heads, relations, tails))

    @abstractmethod
    def describe(self) -> str:
        """One line: the model and its reference."""
