"""numba kernels of the fused backend: for each model, one forward kernel (gather, normalise, translate,
project, dissimilarity: a score per row) and one backward kernel (recompute the row, differentiate, and
add the row's gradient straight into per-thread gradient rows), plus one reduction that sums the
per-thread rows and applies the normalisation's Jacobian. No (rows x d) intermediate is kept.

Rows are split into one contiguous chunk per thread and every chunk owns its gradient buffer, so the
result is deterministic for a given thread count (no atomics). Accumulation is in float64.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit, prange

from sparse_impl.backends.fused.dissimilarity import FASTMATH, dissimilarity_grad, dissimilarity_value

__all__ = [
    "local_ids",
    "reduce_rows",
    "transh_backward",
    "transh_forward",
    "translation_backward",
    "translation_forward",
    "transr_backward",
    "transr_forward",
]

EPS = 1e-12  # torch.nn.functional.normalize's eps


@njit(cache=True)
def local_ids(heads: np.ndarray, tails: np.ndarray, n_entities: int):
    """The distinct entities of a batch in first-seen order, and every head and tail as an index into them."""
    slot = np.full(n_entities, -1, np.int64)
    ids = np.empty(2 * heads.shape[0], np.int64)
    local_h = np.empty_like(heads)
    local_t = np.empty_like(tails)
    count = 0
    for i in range(heads.shape[0]):
        for ends, local in ((heads, local_h), (tails, local_t)):
            e = ends[i]
            if slot[e] < 0:
                slot[e] = count
                ids[count] = e
                count += 1
            local[i] = slot[e]
    return ids[:count].copy(), local_h, local_t


@njit(fastmath=FASTMATH, inline="always", cache=True)
def _inverse_norm(row: np.ndarray) -> float:
    acc = 0.0
    for k in range(row.shape[0]):
        acc += row[k] * row[k]
    return 1.0 / max(math.sqrt(acc), EPS)


@njit(fastmath=FASTMATH, inline="always", cache=True)
def _frac(v: float) -> float:
    return v - math.trunc(v)


@njit(fastmath=FASTMATH, inline="always", cache=True)
def _translation_row(h: int, r: int, t: int, ent: np.ndarray, rel: np.ndarray, torus: bool, x: np.ndarray) -> None:
    """x = n(e_h) + r - n(e_t), n = unit-normalisation (TransE) or frac on every term (TorusE)."""
    if torus:
        for k in range(x.shape[0]):
            x[k] = _frac(ent[h, k]) + _frac(rel[r, k]) - _frac(ent[t, k])
    else:
        ih, it = _inverse_norm(ent[h]), _inverse_norm(ent[t])
        for k in range(x.shape[0]):
            x[k] = ent[h, k] * ih + rel[r, k] - ent[t, k] * it


@njit(parallel=True, fastmath=FASTMATH, cache=True)
def translation_forward(heads, rels, tails, ent, rel, torus, code, n_chunks, scores):
    """scores[i] = -d(x_i) for TransE (torus=False) and TorusE (torus=True)."""
    n, dim = heads.shape[0], ent.shape[1]
    for c in prange(n_chunks):
        x = np.empty(dim)
        for i in range(c * n // n_chunks, (c + 1) * n // n_chunks):
            _translation_row(heads[i], rels[i], tails[i], ent, rel, torus, x)
            scores[i] = -dissimilarity_value(code, x)


@njit(parallel=True, fastmath=FASTMATH, cache=True)
def translation_backward(heads, rels, tails, local_h, local_t, ent, rel, torus, code, grad_scores, g_ent, g_rel):
    """Per chunk c: g_ent[c, local entity] and g_rel[c, relation] receive d loss / d (normalised or frac) row."""
    n, dim, n_chunks = heads.shape[0], ent.shape[1], g_ent.shape[0]
    for c in prange(n_chunks):
        ge, gr = g_ent[c], g_rel[c]
        ge[:] = 0.0
        gr[:] = 0.0
        x, g = np.empty(dim), np.empty(dim)
        for i in range(c * n // n_chunks, (c + 1) * n // n_chunks):
            _translation_row(heads[i], rels[i], tails[i], ent, rel, torus, x)
            dissimilarity_grad(code, x, -grad_scores[i], g)
            lh, lt, r = local_h[i], local_t[i], rels[i]
            for k in range(dim):
                ge[lh, k] += g[k]
                ge[lt, k] -= g[k]
                gr[r, k] += g[k]


@njit(parallel=True, fastmath=FASTMATH, cache=True)
def reduce_rows(ids, table, partial, normalized, out):
    """out[ids[u]] = sum over chunks of partial[:, u], through the Jacobian of unit-normalisation when asked."""
    n_chunks, dim = partial.shape[0], table.shape[1]
    for u in prange(ids.shape[0]):
        row = ids[u]
        if not normalized:
            for k in range(dim):
                acc = 0.0
                for c in range(n_chunks):
                    acc += partial[c, u, k]
                out[row, k] = acc
            continue
        dot, sq = 0.0, 0.0
        for k in range(dim):
            acc = 0.0
            for c in range(n_chunks):
                acc += partial[c, u, k]
            dot += acc * table[row, k]
            sq += table[row, k] * table[row, k]
        inv = 1.0 / max(math.sqrt(sq), EPS)
        dot *= inv  # (dL/dy . y) with y = row / |row|
        for k in range(dim):
            acc = 0.0
            for c in range(n_chunks):
                acc += partial[c, u, k]
            out[row, k] = (acc - dot * table[row, k] * inv) * inv


@njit(fastmath=FASTMATH, inline="always", cache=True)
def _transh_row(h, r, t, ent, rel, normal, x0, w, x):
    """x0 = n(e_h) - n(e_t), w = n(w_r), x = x0 - (x0.w) w + d_r; returns x0.w."""
    ih, it, iw = _inverse_norm(ent[h]), _inverse_norm(ent[t]), _inverse_norm(normal[r])
    p = 0.0
    for k in range(x.shape[0]):
        x0[k] = ent[h, k] * ih - ent[t, k] * it
        w[k] = normal[r, k] * iw
        p += x0[k] * w[k]
    for k in range(x.shape[0]):
        x[k] = x0[k] - p * w[k] + rel[r, k]
    return p


@njit(parallel=True, fastmath=FASTMATH, cache=True)
def transh_forward(heads, rels, tails, ent, rel, normal, code, n_chunks, scores):
    """scores[i] = -d(x_i), TransH's hyperplane projection of the translated difference."""
    n, dim = heads.shape[0], ent.shape[1]
    for c in prange(n_chunks):
        x0, w, x = np.empty(dim), np.empty(dim), np.empty(dim)
        for i in range(c * n // n_chunks, (c + 1) * n // n_chunks):
            _transh_row(heads[i], rels[i], tails[i], ent, rel, normal, x0, w, x)
            scores[i] = -dissimilarity_value(code, x)


@njit(parallel=True, fastmath=FASTMATH, cache=True)
def transh_backward(heads, rels, tails, local_h, local_t, ent, rel, normal, code, grad_scores, g_ent, g_rel, g_w):
    """As translation_backward, plus g_w[c, r]: d loss / d w_r of the unit normal (Jacobian applied in reduce_rows)."""
    n, dim, n_chunks = heads.shape[0], ent.shape[1], g_ent.shape[0]
    for c in prange(n_chunks):
        ge, gr, gw = g_ent[c], g_rel[c], g_w[c]
        ge[:] = 0.0
        gr[:] = 0.0
        gw[:] = 0.0
        x0, w, x, g = np.empty(dim), np.empty(dim), np.empty(dim), np.empty(dim)
        for i in range(c * n // n_chunks, (c + 1) * n // n_chunks):
            r = rels[i]
            p = _transh_row(heads[i], r, tails[i], ent, rel, normal, x0, w, x)
            dissimilarity_grad(code, x, -grad_scores[i], g)
            gdotw = 0.0
            for k in range(dim):
                gdotw += g[k] * w[k]
            lh, lt = local_h[i], local_t[i]
            for k in range(dim):
                dx0 = g[k] - gdotw * w[k]
                ge[lh, k] += dx0
                ge[lt, k] -= dx0
                gr[r, k] += g[k]
                gw[r, k] -= p * g[k] + gdotw * x0[k]


@njit(fastmath=FASTMATH, inline="always", cache=True)
def _transr_row(h, r, t, ent, rel, proj, x0, x):
    """x0 = n(e_h) - n(e_t) in entity space, x = M_r x0 + r in relation space."""
    ih, it = _inverse_norm(ent[h]), _inverse_norm(ent[t])
    for k in range(x0.shape[0]):
        x0[k] = ent[h, k] * ih - ent[t, k] * it
    m = proj[r]
    for j in range(x.shape[0]):
        acc = 0.0
        for k in range(x0.shape[0]):
            acc += m[j, k] * x0[k]
        x[j] = acc + rel[r, j]


@njit(parallel=True, fastmath=FASTMATH, cache=True)
def transr_forward(heads, rels, tails, order, ent, rel, proj, code, n_chunks, scores):
    """scores[i] = -d(M_r (n(e_h) - n(e_t)) + r); rows visited in `order` (grouped by relation, so M_r stays in cache)."""
    n, dim, rel_dim = heads.shape[0], ent.shape[1], rel.shape[1]
    for c in prange(n_chunks):
        x0, x = np.empty(dim), np.empty(rel_dim)
        for j in range(c * n // n_chunks, (c + 1) * n // n_chunks):
            i = order[j]
            _transr_row(heads[i], rels[i], tails[i], ent, rel, proj, x0, x)
            scores[i] = -dissimilarity_value(code, x)


@njit(parallel=True, fastmath=FASTMATH, cache=True)
def transr_backward(heads, rels, tails, order, local_h, local_t, ent, rel, proj, code, grad_scores,
                    g_ent, g_rel, g_proj):
    """Per chunk: entity rows get M_r^T g, relation rows g, projections the outer product g x0^T."""
    n, dim, rel_dim, n_chunks = heads.shape[0], ent.shape[1], rel.shape[1], g_ent.shape[0]
    for c in prange(n_chunks):
        ge, gr, gm = g_ent[c], g_rel[c], g_proj[c]
        ge[:] = 0.0
        gr[:] = 0.0
        gm[:] = 0.0
        x0, x, g, dx0 = np.empty(dim), np.empty(rel_dim), np.empty(rel_dim), np.empty(dim)
        for j in range(c * n // n_chunks, (c + 1) * n // n_chunks):
            i = order[j]
            r = rels[i]
            _transr_row(heads[i], r, tails[i], ent, rel, proj, x0, x)
            dissimilarity_grad(code, x, -grad_scores[i], g)
            m, gmr = proj[r], gm[r]
            dx0[:] = 0.0
            for a in range(rel_dim):
                gr[r, a] += g[a]
                for k in range(dim):
                    dx0[k] += m[a, k] * g[a]
                    gmr[a, k] += g[a] * x0[k]
            lh, lt = local_h[i], local_t[i]
            for k in range(dim):
                ge[lh, k] += dx0[k]
                ge[lt, k] -= dx0[k]
