"""How the Triton backend runs a batch: the prepared batch (index tensors on the batch's device), and per pass the
kernels of backends/triton/kernels.py with their block sizes, for the tables in the order the model's spec
declares them (entity, relation, then TransH's normal or TransR's projection)."""

from __future__ import annotations

from dataclasses import dataclass

import torch

import triton

from sparse_impl.backends.triton import kernels as K
from sparse_impl.loss import batch_loss

__all__ = ["TRITON_MODELS", "TritonBatch", "loss_and_gradients", "prepare_batch", "scores"]

TRITON_MODELS: frozenset[str] = frozenset({"transe", "toruse", "transh", "transr"})


@dataclass(frozen=True)
class Segments:
    """Rows of contributions grouped by the table row they belong to: `perm` lists the contributions in row order
    (a stable sort), segment s is perm[starts[s]:starts[s + 1]] and belongs to table row `ids[s]` (sorted)."""

    perm: torch.Tensor
    starts: torch.Tensor
    ids: torch.Tensor


def _segments(keys: torch.Tensor) -> Segments:
    ids, counts = torch.unique(keys, sorted=True, return_counts=True)
    perm = torch.argsort(keys, stable=True)
    starts = torch.zeros(ids.numel() + 1, dtype=torch.int64, device=keys.device)
    torch.cumsum(counts, 0, out=starts[1:])
    return Segments(perm, starts, ids)


@dataclass(frozen=True)
class TritonBatch:
    """A batch ([positives; k blocks of negatives], row n_pos * j + i corrupting positive i) as int64 index
    tensors on its device, and where each row's entity gradient goes: `grad_heads` / `grad_tails` are the heads
    and tails (a whole-table gradient) or, in row-gradient mode, their index into `entity_ids` (the batch's
    distinct entities, sorted). With `sorted_reduction`, the segments of the deterministic reduction:
    `entity_segments` over [heads; tails], `relation_segments` over the relations."""

    heads: torch.Tensor
    relations: torch.Tensor
    tails: torch.Tensor
    n_positive: int
    grad_heads: torch.Tensor
    grad_tails: torch.Tensor
    entity_ids: torch.Tensor | None  # row-gradient mode: the rows the entity gradient holds
    relation_ids: torch.Tensor | None  # row-gradient mode: the relation rows the batch touches
    entity_segments: Segments | None
    relation_segments: Segments | None

    @property
    def n_rows(self) -> int:
        return self.heads.shape[0]

    @property
    def k(self) -> int:
        return (self.n_rows - self.n_positive) // self.n_positive


def prepare_batch(triples: torch.Tensor, n_positive: int, row_gradients: bool, sorted_reduction: bool) -> TritonBatch:
    """The index work of a batch, done once in the preparation phase (no parameter is read)."""
    n = triples.shape[0]
    if n_positive < 1 or (n - n_positive) % n_positive:
        raise ValueError(f"the Triton kernels take B positives and k * B negatives; got {n_positive} and "
                         f"{n - n_positive}")
    columns = triples.t().to(torch.int64).contiguous()
    heads, relations, tails = columns[0], columns[1], columns[2]
    entity_ids = relation_ids = None
    grad_heads, grad_tails = heads, tails
    if row_gradients:
        entity_ids, inverse = torch.unique(columns[0::2].reshape(-1), sorted=True, return_inverse=True)
        grad_heads, grad_tails = inverse[:n], inverse[n:]
        relation_ids = torch.unique(relations, sorted=True)
    entity_segments = relation_segments = None
    if sorted_reduction:
        entity_segments = _segments(columns[0::2].reshape(-1))
        relation_segments = _segments(relations)
    return TritonBatch(heads, relations, tails, n_positive, grad_heads, grad_tails, entity_ids, relation_ids,
                       entity_segments, relation_segments)


def _pow2(n: int) -> int:
    return triton.next_power_of_2(max(1, n))


def _rows_per_block(rows: int, block_d: int) -> int:
    """Rows of a (rows x BLOCK_D) tile: about 1024 elements per program on a GPU (several tiles live at once);
    under the interpreter as many as 256 rows (its cost is per program, not per element)."""
    if K.INTERPRETED:
        return min(256, _pow2(rows))
    return max(1, min(128, 1024 // block_d, _pow2(rows)))


def _warps(elements: int) -> int:
    """Warps of a program holding tiles of `elements`. Not tuned on a GPU (none has run these kernels yet): chosen
    from the register counts ptxas reports for sm_90 (a 1024-element tile: 60-180 registers a thread at 8 warps, no
    spills; TransR's 128 x 128 matrix tiles at 16 warps: 128 registers and some spilling)."""
    return 4 if elements <= 512 else (8 if elements <= 4096 else 16)


def _dissimilarity_code(name: str | None) -> int:
    return K.DISSIMILARITY_CODES[name]


def scores(model: str, dissimilarity: str | None, batch: TritonBatch, tables: tuple[torch.Tensor, ...]) -> torch.Tensor:
    """-d(x) of every row of the batch, (n_rows,), in the tables' dtype."""
    entity = tables[0]
    out = torch.empty(batch.n_rows, dtype=entity.dtype, device=entity.device)
    code = _dissimilarity_code(dissimilarity)
    if model == "transr":
        _, relation, projection = tables
        d, rd = entity.shape[1], relation.shape[1]
        block_d, block_rd = _pow2(d), _pow2(rd)
        K.transr_score_kernel[(batch.n_rows,)](batch.heads, batch.relations, batch.tails, entity, relation, projection,
                                               out, d, rd, CODE=code, BLOCK_RD=block_rd, BLOCK_D=block_d,
                                               num_warps=_warps(block_rd * block_d))
        return out
    relation, normal = tables[1], (tables[2] if len(tables) > 2 else tables[1])
    d = entity.shape[1]
    block_d = _pow2(d)
    block = _rows_per_block(batch.n_rows, block_d)
    K.score_kernel[(triton.cdiv(batch.n_rows, block),)](batch.heads, batch.relations, batch.tails, entity, relation,
                                                        normal, out, batch.n_rows, d, CODE=code,
                                                        MODEL=K.MODEL_CODES[model], BLOCK=block, BLOCK_D=block_d,
                                                        num_warps=_warps(block * block_d))
    return out


def _segment_sum(contrib: torch.Tensor, segments: Segments, out: torch.Tensor, out_rows: torch.Tensor) -> None:
    """out[out_rows[s]] = the in-order sum of segment s's rows of contrib (2-D views of width D)."""
    if segments.ids.numel() == 0:
        return
    width = contrib.shape[1]
    block_d = min(_pow2(width), 256)
    block_n = 16 if not K.INTERPRETED else 64
    grid = (segments.ids.numel(), triton.cdiv(width, block_d))
    K.segment_sum_kernel[grid](contrib, segments.perm, segments.starts, out_rows, out, width, BLOCK_N=block_n,
                               BLOCK_D=block_d)


def _segment_outer(g: torch.Tensor, x: torch.Tensor, segments: Segments, out: torch.Tensor) -> None:
    if segments.ids.numel() == 0:
        return
    rd, d = g.shape[1], x.shape[1]
    block_a, block_b = min(_pow2(rd), 32), min(_pow2(d), 32)
    block_n = 8 if not K.INTERPRETED else 64
    grid = (segments.ids.numel(), triton.cdiv(rd, block_a), triton.cdiv(d, block_b))
    K.segment_outer_kernel[grid](g, x, segments.perm, segments.starts, segments.ids, out, rd, d, BLOCK_N=block_n,
                                 BLOCK_A=block_a, BLOCK_B=block_b)


def _coefficients(batch: TritonBatch, row_scores: torch.Tensor, loss: str, margin: float,
                  temperature: float) -> tuple[torch.Tensor, torch.Tensor]:
    """The loss of the rows' scores and d loss / d score of every row, by torch (sparse_impl.loss)."""
    with torch.enable_grad():
        leaf = row_scores.detach().requires_grad_(True)
        value = batch_loss(loss, leaf[: batch.n_positive], leaf[batch.n_positive :], margin, temperature)
        (coef,) = torch.autograd.grad(value, leaf)
    return value.detach(), coef.contiguous()


def loss_and_gradients(model: str, dissimilarity: str | None, batch: TritonBatch, tables: tuple[torch.Tensor, ...],
                       loss: str, margin: float, temperature: float) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """The batch's summed loss and d loss / d table for every table: the entity one over the whole table, or in
    row-gradient mode over rows `batch.entity_ids` only ((U, d)); relation-side ones over the whole table.
    Margin: one pass (margin kernels); any other loss: scores, then torch's d loss / d score, then the
    coefficient kernels."""
    entity = tables[0]
    dtype, device = entity.dtype, entity.device
    atomic = batch.entity_segments is None
    n, n_pos, k = batch.n_rows, batch.n_positive, batch.k
    d = entity.shape[1]
    entity_rows = entity.shape[0] if batch.entity_ids is None else batch.entity_ids.numel()
    grad_entity = torch.zeros((entity_rows, d), dtype=dtype, device=device)
    side = [torch.zeros_like(t) for t in tables[1:]]
    code = _dissimilarity_code(dissimilarity)
    coef = None
    if loss != "margin":
        value, coef = _coefficients(batch, scores(model, dissimilarity, batch, tables), loss, margin, temperature)
    if model == "transr":
        _, relation, projection = tables
        rd = relation.shape[1]
        if atomic:
            g_ent, g_rel, g_x0 = grad_entity, side[0], grad_entity  # g_x0 unused
        else:
            g_ent = torch.empty((2 * n, d), dtype=dtype, device=device)
            g_rel = torch.empty((n, rd), dtype=dtype, device=device)
            g_x0 = torch.empty((n, d), dtype=dtype, device=device)
        block_d, block_rd = _pow2(d), _pow2(rd)
        meta = dict(CODE=code, ATOMIC=int(atomic), BLOCK_RD=block_rd, BLOCK_D=block_d,
                    num_warps=_warps(block_rd * block_d))
        if coef is None:
            partial = torch.empty(n_pos, dtype=dtype, device=device)
            K.transr_margin_kernel[(n_pos,)](batch.heads, batch.relations, batch.tails, batch.grad_heads,
                                             batch.grad_tails, entity, relation, projection, g_ent, g_rel, side[1],
                                             g_x0, partial, n_pos, k, float(margin), d, rd, **meta)
            value = partial.sum()
        else:
            K.transr_coef_kernel[(n,)](batch.heads, batch.relations, batch.tails, batch.grad_heads, batch.grad_tails,
                                       coef, entity, relation, projection, g_ent, g_rel, side[1], g_x0, n, d, rd, **meta)
        if not atomic:
            _reduce_entities(batch, g_ent, grad_entity)
            assert batch.relation_segments is not None
            _segment_sum(g_rel, batch.relation_segments, side[0], batch.relation_segments.ids)
            _segment_outer(g_rel, g_x0, batch.relation_segments, side[1])
        return value, [grad_entity, *side]
    relation = tables[1]
    normal = tables[2] if len(tables) > 2 else relation
    transh = len(tables) > 2
    if atomic:
        g_ent, g_rel, g_nrm = grad_entity, side[0], (side[1] if transh else side[0])
    else:
        g_ent = torch.empty((2 * n, d), dtype=dtype, device=device)
        g_rel = torch.empty((n, d), dtype=dtype, device=device)
        g_nrm = torch.empty((n, d), dtype=dtype, device=device) if transh else g_rel
    block_d = _pow2(d)
    if coef is None:
        block = _rows_per_block(n_pos, block_d)
        grid = (triton.cdiv(n_pos, block),)
        partial = torch.empty(grid[0], dtype=dtype, device=device)
        K.margin_kernel[grid](batch.heads, batch.relations, batch.tails, batch.grad_heads, batch.grad_tails, entity,
                              relation, normal, g_ent, g_rel, g_nrm, partial, n_pos, k, float(margin), d, CODE=code,
                              MODEL=K.MODEL_CODES[model], ATOMIC=int(atomic), BLOCK=block, BLOCK_D=block_d,
                              num_warps=_warps(block * block_d))
        value = partial.sum()
    else:
        block = _rows_per_block(n, block_d)
        K.coef_kernel[(triton.cdiv(n, block),)](batch.heads, batch.relations, batch.tails, batch.grad_heads,
                                                batch.grad_tails, coef, entity, relation, normal, g_ent, g_rel, g_nrm,
                                                n, d, CODE=code, MODEL=K.MODEL_CODES[model], ATOMIC=int(atomic),
                                                BLOCK=block, BLOCK_D=block_d, num_warps=_warps(block * block_d))
    if not atomic:
        _reduce_entities(batch, g_ent, grad_entity)
        assert batch.relation_segments is not None
        _segment_sum(g_rel, batch.relation_segments, side[0], batch.relation_segments.ids)
        if transh:
            _segment_sum(g_nrm, batch.relation_segments, side[1], batch.relation_segments.ids)
    return value, [grad_entity, *side]


def _reduce_entities(batch: TritonBatch, contrib: torch.Tensor, out: torch.Tensor) -> None:
    """The entity gradient from the stored [head; tail] contributions: row ids[s] of the whole table, or local
    row s (row-gradient mode: entity_ids are the same sorted distinct ids)."""
    segments = batch.entity_segments
    assert segments is not None
    rows = segments.ids if batch.entity_ids is None else torch.arange(segments.ids.numel(), device=out.device)
    _segment_sum(contrib, segments, out, rows)
