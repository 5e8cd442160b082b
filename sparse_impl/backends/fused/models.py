"""The fused backend's models: for each, which canonical parameters its kernels read (in order) and how
a forward and a backward pass call them. Adding a model is one FusedModel here plus its kernels."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from sparse_impl.backends.fused import kernels

__all__ = ["FUSED_MODELS", "FusedBatch", "FusedModel"]


@dataclass(frozen=True)
class FusedBatch:
    """The rows of a batch as numpy index arrays, with the batch's distinct entities (`entity_ids`) and
    every head and tail as an index into them (where each thread's gradient rows are accumulated)."""

    heads: np.ndarray
    relations: np.ndarray
    tails: np.ndarray
    entity_ids: np.ndarray
    local_heads: np.ndarray
    local_tails: np.ndarray
    order: np.ndarray  # rows grouped by relation (the visiting order of per-relation projections)


Tables = tuple[np.ndarray, ...]
ForwardPass = Callable[[FusedBatch, Tables, int, int, np.ndarray], None]
BackwardPass = Callable[[FusedBatch, Tables, int, np.ndarray, int, Tables], None]


@dataclass(frozen=True)
class FusedModel:
    """`forward(batch, tables, code, n_chunks, scores)` writes every row's score; `backward(batch, tables,
    code, grad_scores, n_chunks, grads)` writes d loss / d table into `grads` (zero-filled, table-shaped)."""

    parameters: tuple[str, ...]
    forward: ForwardPass
    backward: BackwardPass
    visit_by_relation: bool = False  # rows visited grouped by relation (keeps a relation's matrix in cache)


def _buffer(n_chunks: int, rows: int, cols: int) -> np.ndarray:
    return np.empty((n_chunks, rows, cols), np.float32)


def _entity_gradient(batch: FusedBatch, entity: np.ndarray, partial: np.ndarray, normalized: bool,
                     out: np.ndarray) -> None:
    kernels.reduce_rows(batch.entity_ids, entity, partial, normalized, out)


def _translation(torus: bool) -> FusedModel:
    """TransE (unit-normalised entities) or TorusE (frac of every term, straight-through gradient)."""

    def forward(batch: FusedBatch, tables: Tables, code: int, n_chunks: int, scores: np.ndarray) -> None:
        entity, relation = tables
        kernels.translation_forward(batch.heads, batch.relations, batch.tails, entity, relation, torus, code,
                                    n_chunks, scores)

    def backward(batch: FusedBatch, tables: Tables, code: int, grad_scores: np.ndarray, n_chunks: int,
                 grads: Tables) -> None:
        entity, relation = tables
        g_ent = _buffer(n_chunks, batch.entity_ids.shape[0], entity.shape[1])
        g_rel = _buffer(n_chunks, relation.shape[0], relation.shape[1])
        kernels.translation_backward(batch.heads, batch.relations, batch.tails, batch.local_heads,
                                     batch.local_tails, entity, relation, torus, code, grad_scores, g_ent, g_rel)
        _entity_gradient(batch, entity, g_ent, not torus, grads[0])
        g_rel.sum(axis=0, out=grads[1])

    return FusedModel(("entity", "relation"), forward, backward)


def _transh_forward(batch: FusedBatch, tables: Tables, code: int, n_chunks: int, scores: np.ndarray) -> None:
    entity, relation, normal = tables
    kernels.transh_forward(batch.heads, batch.relations, batch.tails, entity, relation, normal, code, n_chunks,
                           scores)


def _transh_backward(batch: FusedBatch, tables: Tables, code: int, grad_scores: np.ndarray, n_chunks: int,
                     grads: Tables) -> None:
    entity, relation, normal = tables
    g_ent = _buffer(n_chunks, batch.entity_ids.shape[0], entity.shape[1])
    g_rel = _buffer(n_chunks, relation.shape[0], relation.shape[1])
    g_w = _buffer(n_chunks, normal.shape[0], normal.shape[1])
    kernels.transh_backward(batch.heads, batch.relations, batch.tails, batch.local_heads, batch.local_tails,
                            entity, relation, normal, code, grad_scores, g_ent, g_rel, g_w)
    _entity_gradient(batch, entity, g_ent, True, grads[0])
    g_rel.sum(axis=0, out=grads[1])
    kernels.reduce_rows(np.arange(normal.shape[0]), normal, g_w, True, grads[2])


def _transr_forward(batch: FusedBatch, tables: Tables, code: int, n_chunks: int, scores: np.ndarray) -> None:
    entity, relation, projection = tables
    kernels.transr_forward(batch.heads, batch.relations, batch.tails, batch.order, entity, relation, projection,
                           code, n_chunks, scores)


def _transr_backward(batch: FusedBatch, tables: Tables, code: int, grad_scores: np.ndarray, n_chunks: int,
                     grads: Tables) -> None:
    entity, relation, projection = tables
    g_ent = _buffer(n_chunks, batch.entity_ids.shape[0], entity.shape[1])
    g_rel = _buffer(n_chunks, relation.shape[0], relation.shape[1])
    g_proj = np.empty((n_chunks, *projection.shape), np.float32)
    kernels.transr_backward(batch.heads, batch.relations, batch.tails, batch.order, batch.local_heads,
                            batch.local_tails, entity, relation, projection, code, grad_scores, g_ent, g_rel, g_proj)
    _entity_gradient(batch, entity, g_ent, True, grads[0])
    g_rel.sum(axis=0, out=grads[1])
    g_proj.sum(axis=0, out=grads[2])


FUSED_MODELS: dict[str, FusedModel] = {
    "transe": _translation(torus=False),
    "toruse": _translation(torus=True),
    "transh": FusedModel(("entity", "relation", "normal"), _transh_forward, _transh_backward),
    "transr": FusedModel(("entity", "relation", "projection"), _transr_forward, _transr_backward,
                         visit_by_relation=True),
}
