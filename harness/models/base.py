"""What a model is, once (PyKEEN-style: representations plus an interaction): its parameter tables
(shape, which triple ids pick their rows), initial values, constraints, the score of a triple, the
scores of every candidate entity for the evaluator, and the FLOPs of scoring a triple. Every framework
adapter, the SpMM model, `sptx verify`, the evaluator, the FLOP count and the distributed row layout
read a `ModelSpec`; none restates its math.

`interaction` names the family of the score: "translation" (-D(P_r h + t_r - P_r t), harness.models.
translation, the paper's models, which an incidence SpMM expresses), "bilinear" (sum of h * r * t),
"complex" (Re<h, r, conj t>) or "rotation" (|h * r - t| in C). A backend or framework says which it runs.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, Callable, ClassVar, Literal, Mapping

import torch
from torch.nn.functional import normalize

__all__ = ["ROW_COLUMNS", "ROW_CONSTRAINTS", "ROW_CONSTRAINTS_INPLACE", "CandidateGroup", "ModelSpec", "TableSpec",
           "Tables", "constrain_touched_rows_", "xavier_uniform"]

Tables = Mapping[str, torch.Tensor]
RowIndex = Literal["entity", "relation"]

# Row-wise constraints a table's rows can be kept to (a spec names its entity table's; a row-sparse optimizer
# applies it to the rows it moves, harness.optim): name -> the constraint on a (rows, d) tensor, new tensor.
ROW_CONSTRAINTS: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "none": lambda rows: rows,
    "unit": lambda rows: normalize(rows, p=2, dim=1),
    "frac": lambda rows: rows.frac(),
}


def _unit_rows_(rows: torch.Tensor) -> None:
    rows.div_(rows.norm(p=2, dim=1, keepdim=True).clamp_min_(1e-12))  # F.normalize's numbers, no copy


# The same constraints in place (what a framework applies after its step, without a second table).
ROW_CONSTRAINTS_INPLACE: dict[str, Callable[[torch.Tensor], Any]] = {
    "none": lambda rows: None,
    "unit": _unit_rows_,
    "frac": lambda rows: rows.frac_(),
}

# Which triple columns (head 0, relation 1, tail 2) pick the rows of a table indexed by entities or relations.
ROW_COLUMNS: dict[RowIndex, tuple[int, ...]] = {"entity": (0, 2), "relation": (1,)}


@dataclass(frozen=True)
class TableSpec:
    """One parameter table: its shape, and whether entity ids or relation ids pick its rows."""

    shape: tuple[int, ...]
    indexed_by: RowIndex

    @property
    def row_columns(self) -> tuple[int, ...]:
        """The triple columns whose ids are rows of this table."""
        return ROW_COLUMNS[self.indexed_by]


@dataclass(frozen=True)
class CandidateGroup:
    """Evaluated triples that share what is precomputed over all candidate entities (`context`)."""

    index: torch.Tensor  # positions in the evaluated triples
    context: Any


def xavier_uniform(shape: tuple[int, ...], generator: torch.Generator) -> torch.Tensor:
    """Xavier-uniform over the 2-D view (rows, row length), as torch.nn.init does for an Embedding table."""
    rows = shape[0]
    cols = math.prod(shape[1:])
    bound = (6.0 / (rows + cols)) ** 0.5
    return torch.rand((rows, cols), generator=generator).mul_(2).sub_(1).mul_(bound).reshape(shape)  # in place: one table


class ModelSpec(ABC):
    """One model: canonical parameter tables, their constraints, and its score.

    Canonical names: `entity` (n_ent, dim) and `relation` (n_rel, ...), plus model-specific tables
    (`projection`, `normal`). Constraints are TorchKGE's `normalize_parameters`. The defaults here are
    the common case (Xavier-uniform tables, unit-norm entity rows); a model overrides what differs.
    """

    name: ClassVar[str]
    title: ClassVar[str]  # as written in papers and charts, e.g. "TransE"
    interaction: ClassVar[str]  # translation, bilinear, complex or rotation (module docstring)
    dissimilarities: ClassVar[tuple[str, ...]] = ()  # the first is the default; empty: the score has none
    has_relation_space: ClassVar[bool] = False  # True: relations live in their own rel_dim space (TransR)
    entity_constraint: ClassVar[str] = "unit"  # what `constrain` keeps every entity row to (ROW_CONSTRAINTS)

    @property
    def default_dissimilarity(self) -> str | None:
        return self.dissimilarities[0] if self.dissimilarities else None

    def relation_dim(self, dim: int, rel_dim: int | None) -> int | None:
        """The relation-space dimension this model uses (None for models without one)."""
        if not self.has_relation_space:
            return None
        return dim if rel_dim is None else rel_dim

    def tables(self, n_entities: int, n_relations: int, dim: int, rel_dim: int | None) -> dict[str, TableSpec]:
        """Canonical parameter tables: an entity row and a relation row of width `dim`."""
        return {"entity": TableSpec((n_entities, dim), "entity"), "relation": TableSpec((n_relations, dim), "relation")}

    def shapes(self, n_entities: int, n_relations: int, dim: int, rel_dim: int | None) -> dict[str, tuple[int, ...]]:
        """Canonical parameter names and shapes."""
        return {name: table.shape for name, table in self.tables(n_entities, n_relations, dim, rel_dim).items()}

    def initial(self, shapes: Mapping[str, tuple[int, ...]], generator: torch.Generator) -> dict[str, torch.Tensor]:
        """Seeded initial values before the constraints: Xavier-uniform, as TorchKGE's constructors draw."""
        return {name: xavier_uniform(shape, generator) for name, shape in shapes.items()}

    def constrain(self, params: Tables) -> dict[str, torch.Tensor]:
        """TorchKGE's `normalize_parameters` on canonical tensors (returns new tensors): entity rows kept to
        `entity_constraint` (unit norm by default), then the model's relation-side constraints."""
        out = dict(params)
        out["entity"] = ROW_CONSTRAINTS[self.entity_constraint](params["entity"])
        out.update(self.constrain_relations(params))
        return out

    def constrain_relations(self, params: Tables) -> dict[str, torch.Tensor]:
        """The relation-side tables' constraints: new tensors for the tables they change (none by default)."""
        return {}

    @torch.no_grad()
    def constrain_(self, params: Tables) -> None:
        """`constrain` in place (what a framework does after its step): the entity table without a copy."""
        ROW_CONSTRAINTS_INPLACE[self.entity_constraint](params["entity"])
        for name, value in self.constrain_relations(params).items():
            params[name].copy_(value)

    def table_index(self, params: Tables) -> dict[str, RowIndex]:
        """Which ids pick the rows of each of these parameter tables (entity or relation ids)."""
        entity, relation = params["entity"], params["relation"]
        rel_dim = relation.shape[1] if self.has_relation_space else None
        tables = self.tables(entity.shape[0], relation.shape[0], entity.shape[1], rel_dim)
        return {name: tables[name].indexed_by for name in params}

    @torch.no_grad()
    def constrain_rows_(self, params: Tables, rows: Mapping[RowIndex, torch.Tensor]) -> None:
        """`constrain` in place on the given entity and relation rows only: what it does to the whole table when
        only those rows moved since the last constraint (constraints are row-wise within each kind of id)."""
        index = self.table_index(params)
        sub = {name: table.index_select(0, rows[index[name]]) for name, table in params.items()}
        for name, value in self.constrain(sub).items():
            if value is not sub[name]:
                params[name].index_copy_(0, rows[index[name]], value)

    def entity_view(self, entity: torch.Tensor) -> torch.Tensor:
        """Entity rows as the score sees them (differentiable, row-wise): unit-norm rows. (n, dim) -> (n, dim)."""
        return normalize(entity, p=2, dim=1)

    @abstractmethod
    def score(self, params: Tables, dissimilarity: str | None, heads: torch.Tensor, relations: torch.Tensor,
              tails: torch.Tensor, view_rows: bool = False) -> torch.Tensor:
        """Scores (higher is better) of triples given as id tensors of shape (n,), by gathers, differentiable.

        view_rows: apply `entity_view` to every gathered row (TorchKGE's way) rather than to the table
        once and then gather; the values are the same, the work differs.
        """

    @abstractmethod
    def forward_flops(self, dissimilarity: str | None, dim: int, rel_dim: int | None) -> int:
        """Forward FLOPs of scoring one triple (harness.measure.model_flops states the conventions)."""

    def gathered_entities(self, entity: torch.Tensor, heads: torch.Tensor, tails: torch.Tensor,
                          view_rows: bool) -> tuple[torch.Tensor, torch.Tensor]:
        """The viewed head and tail rows of triples: (n, dim) each."""
        if view_rows:
            return (self.entity_view(entity.index_select(0, heads)),
                    self.entity_view(entity.index_select(0, tails)))
        viewed = self.entity_view(entity)
        return viewed.index_select(0, heads), viewed.index_select(0, tails)

    # --- ranking every entity as the head or tail of a query (the evaluator) ---

    def candidate_groups(self, params: Tables, triples: torch.Tensor) -> list[CandidateGroup]:
        """How evaluated triples are grouped for ranking; by default one group with no precomputation."""
        return [CandidateGroup(torch.arange(triples.shape[0]), None)]

    def candidate_scores(self, params: Tables, dissimilarity: str | None, group: CandidateGroup,
                         anchors: torch.Tensor, relations: torch.Tensor, tail_side: bool,
                         max_elements: int) -> torch.Tensor:
        """Scores (float64, higher is better) of every entity as the tail of (anchor, r, ?) (tail_side) or the
        head of (?, r, anchor): (b,), (b,) -> (b, n_entities). By default the score of every (query,
        candidate) triple, in blocks of at most `max_elements` gathered elements; models override it with a
        cheaper form (a GEMM, a projection shared by a relation's queries)."""
        n = params["entity"].shape[0]
        width = math.prod(params["entity"].shape[1:]) * 3
        rows = max(1, max_elements // max(1, n * width))
        candidates = torch.arange(n)
        blocks = []
        for start in range(0, anchors.shape[0], rows):
            a, r = anchors[start : start + rows], relations[start : start + rows]
            fixed, rel = a.repeat_interleave(n), r.repeat_interleave(n)
            other = candidates.repeat(a.shape[0])
            h, t = (fixed, other) if tail_side else (other, fixed)
            blocks.append(self.score(params, dissimilarity, h, rel, t).double().reshape(a.shape[0], n))
        return torch.cat(blocks) if blocks else torch.zeros((0, n), dtype=torch.float64)

    @abstractmethod
    def describe(self) -> str:
        """One line: the model and its reference."""


@torch.no_grad()
def constrain_touched_rows_(spec: ModelSpec, params: Mapping[str, torch.Tensor], entities_done: bool = False) -> None:
    """The spec's constraints on the rows whose gradient is a sparse row gradient (what a row-sparse optimizer
    moved); a table without one is constrained whole. `entities_done`: the optimizer already kept the entity
    rows it moved to `entity_constraint`, so only the relation-side rows are constrained here."""
    index = spec.table_index(params)
    rows: dict[RowIndex, torch.Tensor] = {}
    for name, table in params.items():
        if entities_done and index[name] == "entity":  # its gradient may never be a tensor (fused update)
            rows["entity"] = torch.zeros(0, dtype=torch.long, device=table.device)
            continue
        grad = table.grad
        if grad is None or not grad.is_sparse:
            spec.constrain_(params)
            return
        rows.setdefault(index[name], (grad if grad.is_coalesced() else grad.coalesce()).indices()[0])
    spec.constrain_rows_(params, rows)
