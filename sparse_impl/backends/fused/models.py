"""The fused backend's models: how each model's score pass and loss pass (margin loss + every gradient, in
one pass) call its kernels, which take the canonical tables in the order the model's spec declares them.
Adding a model is one FusedModel here plus its kernels."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from sparse_impl.backends.fused import kernels
from sparse_impl.backends.fused.losses import LossCode
from sparse_impl.loss import LOSSES
from sparse_impl.backends.fused.workspace import PendingRows, RowWorkspace

__all__ = ["FUSED_MODELS", "FusedBatch", "FusedModel"]


@dataclass(frozen=True)
class FusedBatch:
    """The rows of a batch (positives first, then k blocks of negatives) as numpy index arrays, with the
    batch's distinct entities: each head and tail as an index into them (`local_*`, where each thread's
    gradient rows are accumulated) and each entity's index (`slot`, -1 where untouched; None in row-gradient
    mode, where the entity gradient is the batch's rows only, in local order, left in the `workspace`'s
    per-thread rows for the optimizer)."""

    heads: np.ndarray
    relations: np.ndarray
    tails: np.ndarray
    n_positive: int
    entity_ids: np.ndarray  # the distinct entities, in the order of their local index
    local_heads: np.ndarray
    local_tails: np.ndarray
    slot: np.ndarray | None
    order: np.ndarray  # the order in which positives are visited (grouped by relation where it pays)
    workspace: RowWorkspace | None = None  # row-gradient mode's buffers (its backend's)


Tables = tuple[np.ndarray, ...]
ScorePass = Callable[[FusedBatch, Tables, int, int, np.ndarray], None]
LossPass = Callable[[FusedBatch, Tables, int, LossCode, int, Tables], float]


@dataclass(frozen=True)
class FusedModel:
    """`score(batch, tables, code, n_chunks, scores)` writes every row's score; `loss(batch, tables, code,
    margin, n_chunks, grads)` returns the summed margin loss and writes d loss / d table into `grads`. Tables
    come entity table first, then the relation-indexed ones; grads[0] is the whole entity table's gradient, or
    in row-gradient mode (batch.slot is None) None: the entity gradient is left in the workspace's per-thread
    rows (`workspace.staged`, a PendingRows) for the optimizer's fused update."""

    score: ScorePass
    loss: LossPass
    visit_by_relation: bool = False  # positives visited grouped by relation (keeps its matrix in cache)
    losses: frozenset[str] = frozenset({"margin"})  # the losses its loss kernel computes (sparse_impl.loss)


@dataclass(frozen=True)
class _EntityRows:
    """The entity rows the kernels read: the table with heads/tails as its row ids, the rows the batch touches
    (`ids`) and 1/|row| of those (`inv`; ones where the model does not normalise). In row-gradient mode, the
    batch's rows copied once in id order (sorted: one pass the prefetcher follows, instead of every triple's
    random reads of a table far beyond the cache), with local indices."""

    table: np.ndarray
    heads: np.ndarray
    tails: np.ndarray
    ids: np.ndarray
    inv: np.ndarray
    normalized: bool


def _entity_rows(batch: FusedBatch, entity: np.ndarray, normalized: bool, training: bool = False) -> _EntityRows:
    """The rows a pass reads; a training pass in row-gradient mode copies them into the workspace (where the
    optimizer's fused update reads them back)."""
    if batch.slot is None:
        if training and batch.workspace is not None:
            local, inv = batch.workspace.entity_rows(batch.entity_ids, entity, normalized)
        else:
            local = kernels.gather_rows(batch.entity_ids, entity)
            inv = kernels.inverse_norms(np.arange(local.shape[0]), local) if normalized else np.ones(local.shape[0])
        return _EntityRows(local, batch.local_heads, batch.local_tails, np.arange(local.shape[0]), inv, normalized)
    ids = batch.entity_ids
    inv = kernels.inverse_norms(ids, entity) if normalized else np.ones(ids.shape[0])
    return _EntityRows(entity, batch.heads, batch.tails, ids, inv, normalized)


def _entity_partial(batch: FusedBatch, entity: np.ndarray, n_chunks: int) -> tuple[np.ndarray, np.ndarray]:
    """Per-thread gradient rows of the batch's entities and their touched flags (the loss kernel clears the
    flags; a row is written on its first touch): the workspace's in row-gradient mode."""
    n = batch.entity_ids.shape[0]
    if batch.workspace is not None:
        return batch.workspace.partial(n_chunks, n, entity.shape[1:], entity.dtype)
    return _per_thread(entity, n_chunks, n), np.empty((n_chunks, n), np.uint8)


def _reduce_entity(batch: FusedBatch, rows: _EntityRows, partial: np.ndarray, touched: np.ndarray,
                   out: np.ndarray | None) -> None:
    """The entity gradient from the per-thread rows: every table row, or (row-gradient mode, `out` None) left in
    them, staged in the workspace for the optimizer."""
    if batch.slot is None:
        if out is None:
            assert batch.workspace is not None
            batch.workspace.staged = PendingRows(batch.entity_ids, rows.table, partial, touched, rows.inv,
                                                 rows.normalized, 1.0)
        else:
            kernels.reduce_local_rows(rows.ids, rows.table, partial, touched, rows.inv, rows.normalized, out)
    else:
        kernels.reduce_rows(batch.slot, rows.table, partial, touched, rows.inv, rows.normalized, out)


def _per_thread(table: np.ndarray, n_chunks: int, rows: int | None = None) -> np.ndarray:
    """Per-thread gradient rows for `table` (its first `rows` rows' worth: the batch's local entities), in its dtype."""
    return np.empty((n_chunks, table.shape[0] if rows is None else rows, *table.shape[1:]), table.dtype)


def _translation(torus: bool) -> FusedModel:
    """TransE (unit-normalised entities) or TorusE (frac of every term, straight-through gradient)."""

    def score(batch: FusedBatch, tables: Tables, code: int, n_chunks: int, scores: np.ndarray) -> None:
        entity, relation = tables
        e = _entity_rows(batch, entity, not torus)
        kernels.translation_forward(e.heads, batch.relations, e.tails, batch.local_heads, batch.local_tails, e.inv,
                                    e.table, relation, torus, code, n_chunks, scores)

    def loss(batch: FusedBatch, tables: Tables, code: int, loss: LossCode, n_chunks: int, grads: Tables) -> float:
        entity, relation = tables
        e = _entity_rows(batch, entity, not torus, training=True)
        g_ent, touched = _entity_partial(batch, entity, n_chunks)
        g_rel = _per_thread(relation, n_chunks)
        value = kernels.translation_loss(e.heads, batch.relations, e.tails, batch.local_heads,
                                         batch.local_tails, e.inv, e.table, relation, torus, code, batch.n_positive,
                                         loss.margin, g_ent, g_rel, touched)
        _reduce_entity(batch, e, g_ent, touched, grads[0])
        g_rel.sum(axis=0, out=grads[1])
        return value

    return FusedModel(score, loss)


def _transh_score(batch: FusedBatch, tables: Tables, code: int, n_chunks: int, scores: np.ndarray) -> None:
    entity, relation, normal = tables
    e = _entity_rows(batch, entity, True)
    kernels.transh_forward(e.heads, batch.relations, e.tails, batch.local_heads, batch.local_tails, e.inv, e.table,
                           relation, normal, code, n_chunks, scores)


def _transh_loss(batch: FusedBatch, tables: Tables, code: int, loss: LossCode, n_chunks: int,
                 grads: Tables) -> float:
    entity, relation, normal = tables
    e = _entity_rows(batch, entity, True, training=True)
    g_ent, touched = _entity_partial(batch, entity, n_chunks)
    g_rel = _per_thread(relation, n_chunks)
    g_w = _per_thread(normal, n_chunks)
    value = kernels.transh_loss(e.heads, batch.relations, e.tails, batch.local_heads, batch.local_tails, e.inv,
                                e.table, relation, normal, code, batch.n_positive, loss.margin, g_ent, g_rel, g_w,
                                touched)
    _reduce_entity(batch, e, g_ent, touched, grads[0])
    g_rel.sum(axis=0, out=grads[1])
    every_relation = np.arange(normal.shape[0])
    every_chunk = np.ones(g_w.shape[:2], np.uint8)  # g_w is zeroed by the kernel, every row valid
    kernels.reduce_rows(every_relation, normal, g_w, every_chunk, kernels.inverse_norms(every_relation, normal), True,
                        grads[2])
    return value


def _transr_score(batch: FusedBatch, tables: Tables, code: int, n_chunks: int, scores: np.ndarray) -> None:
    entity, relation, projection = tables
    e = _entity_rows(batch, entity, True)
    kernels.transr_forward(e.heads, batch.relations, e.tails, batch.local_heads, batch.local_tails, e.inv, e.table,
                           relation, projection, code, n_chunks, scores)


def _transr_loss(batch: FusedBatch, tables: Tables, code: int, loss: LossCode, n_chunks: int,
                 grads: Tables) -> float:
    entity, relation, projection = tables
    e = _entity_rows(batch, entity, True, training=True)
    g_ent, touched = _entity_partial(batch, entity, n_chunks)
    g_rel = _per_thread(relation, n_chunks)
    g_proj = _per_thread(projection, n_chunks)
    value = kernels.transr_loss(e.heads, batch.relations, e.tails, batch.order, batch.local_heads,
                                batch.local_tails, e.inv, e.table, relation, projection, code, batch.n_positive,
                                loss.margin, g_ent, g_rel, g_proj, touched)
    _reduce_entity(batch, e, g_ent, touched, grads[0])
    g_rel.sum(axis=0, out=grads[1])
    g_proj.sum(axis=0, out=grads[2])
    return value


def _multiplicative(model: str) -> FusedModel:
    """DistMult, ComplEx or RotatE (backends/fused/multiplicative.py): any loss, negatives through the positive's
    shared query. RotatE's model code follows its dissimilarity (the sum of moduli or the vector norm)."""
    from sparse_impl.backends.fused import multiplicative as mk
    from sparse_impl.backends.fused.dissimilarity import DISSIMILARITY_CODES

    normalized = model == "distmult"

    def model_code(code: int) -> int:
        if model == "distmult":
            return mk.DISTMULT
        if model == "complex":
            return mk.COMPLEX
        return mk.ROTATE_L1 if code == DISSIMILARITY_CODES["L1"] else mk.ROTATE_L2

    def score(batch: FusedBatch, tables: Tables, code: int, n_chunks: int, scores: np.ndarray) -> None:
        entity, relation = tables
        e = _entity_rows(batch, entity, normalized)
        mk.multiplicative_forward(model_code(code), e.heads, batch.relations, e.tails, batch.local_heads,
                                  batch.local_tails, e.inv, e.table, relation, n_chunks, scores)

    def loss(batch: FusedBatch, tables: Tables, code: int, loss: LossCode, n_chunks: int, grads: Tables) -> float:
        entity, relation = tables
        e = _entity_rows(batch, entity, normalized, training=True)
        g_ent, touched = _entity_partial(batch, entity, n_chunks)
        g_rel = _per_thread(relation, n_chunks)
        value = mk.multiplicative_loss(model_code(code), e.heads, batch.relations, e.tails, batch.local_heads,
                                       batch.local_tails, e.inv, e.table, relation, batch.n_positive, loss.code,
                                       loss.margin, loss.temperature, g_ent, g_rel, touched)
        _reduce_entity(batch, e, g_ent, touched, grads[0])
        g_rel.sum(axis=0, out=grads[1])
        return value

    return FusedModel(score, loss, losses=frozenset(LOSSES))


FUSED_MODELS: dict[str, FusedModel] = {
    "transe": _translation(torus=False),
    "toruse": _translation(torus=True),
    "transh": FusedModel(_transh_score, _transh_loss),
    "transr": FusedModel(_transr_score, _transr_loss, visit_by_relation=True),
    "distmult": _multiplicative("distmult"),
    "complex": _multiplicative("complex"),
    "rotate": _multiplicative("rotate"),
}
