"""numba kernels of the fused backend. For each model:

- a score kernel (gather, normalise, translate, project, dissimilarity: one score per row), for scoring;
- a loss kernel for training: it scores every positive with its negatives, sums the margin loss and,
  in the same pass while the rows are in registers, adds each active row's gradient straight into
  per-thread gradient rows (w.r.t. the normalised rows);
- one reduction that sums the per-thread rows and applies the normalisation's Jacobian.

No (rows x d) intermediate is kept. Positives are split into one contiguous chunk per thread and each
chunk owns its gradient buffer, so results are deterministic for a given thread count (no atomics).
Per-row arithmetic is in float64; gradient rows accumulate in float32 as in a scatter-add.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit, prange

from sparse_impl.backends.fused.dissimilarity import FASTMATH, dissimilarity_grad, dissimilarity_value
from sparse_impl.backends.fused.prefetch import PREFETCH_AHEAD, prefetch_row_read, prefetch_row_write

__all__ = [
    "gather_rows",
    "local_ids",
    "add_row",
    "distinct_sorted_ids",
    "gather_rows_into",
    "reduce_local_rows",
    "reduce_rows",
    "transh_forward",
    "transh_loss",
    "translation_forward",
    "translation_loss",
    "transr_forward",
    "transr_loss",
]

EPS = 1e-12  # torch.nn.functional.normalize's eps


@njit(cache=True)
def local_ids(heads: np.ndarray, tails: np.ndarray, n_entities: int):
    """The distinct entities of a batch in first-seen order, every head and tail as an index into them,
    and each entity's index (`slot`, -1 where the batch does not touch it)."""
    slot = np.full(n_entities, -1, np.int64)
    ids, local_h, local_t = _first_seen(heads, tails, slot)
    return ids, local_h, local_t, slot


_ONE = np.uint64(1)
_M1, _M2, _M4 = np.uint64(0x5555555555555555), np.uint64(0x3333333333333333), np.uint64(0x0F0F0F0F0F0F0F0F)
_H01 = np.uint64(0x0101010101010101)


@njit(inline="always", cache=True)
def _popcount(x):
    x = x - ((x >> _ONE) & _M1)
    x = (x & _M2) + ((x >> np.uint64(2)) & _M2)
    x = (x + (x >> np.uint64(4))) & _M4
    return np.int64((x * _H01) >> np.uint64(56))


@njit(cache=True)
def distinct_sorted_ids(heads: np.ndarray, tails: np.ndarray, words: np.ndarray, prefix: np.ndarray):
    """The batch's distinct entities in id order and every head and tail as an index into them, without a sort
    or an entity-sized index: a bit per entity in `words` (E/64 uint64, all zero, and left so), a running count
    per word in `prefix`. The scan of the words is E/64 steps (62,500 at 4M entities)."""
    for ends in (heads, tails):
        for i in range(ends.shape[0]):
            e = ends[i]
            words[e >> 6] |= _ONE << np.uint64(e & 63)
    total = 0
    for w in range(words.shape[0]):
        prefix[w] = total
        if words[w]:
            total += _popcount(words[w])
    ids = np.empty(total, np.int64)
    k = 0
    for w in range(words.shape[0]):
        x = words[w]
        while x:
            low = x & (~x + _ONE)
            ids[k] = w * 64 + _popcount(low - _ONE)
            k += 1
            x ^= low
    local_h = np.empty_like(heads)
    local_t = np.empty_like(tails)
    for ends, local in ((heads, local_h), (tails, local_t)):
        for i in range(ends.shape[0]):
            e = ends[i]
            w = e >> 6
            local[i] = prefix[w] + _popcount(words[w] & ((_ONE << np.uint64(e & 63)) - _ONE))
    for u in range(ids.shape[0]):
        words[ids[u] >> 6] = 0
    return ids, local_h, local_t


@njit(cache=True)
def _first_seen(heads: np.ndarray, tails: np.ndarray, slot: np.ndarray):
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


@njit(parallel=True, cache=True)
def gather_rows(ids: np.ndarray, table: np.ndarray) -> np.ndarray:
    """table[ids] as a new contiguous array, in parallel (ids sorted: each thread walks the table forward)."""
    out = np.empty((ids.shape[0], table.shape[1]), table.dtype)
    for u in prange(ids.shape[0]):
        out[u] = table[ids[u]]
    return out


@njit(parallel=True, fastmath=FASTMATH, cache=True)
def gather_rows_into(ids: np.ndarray, table: np.ndarray, out: np.ndarray, inv: np.ndarray, normalized: bool) -> None:
    """out[u] = table[ids[u]] and inv[u] = 1 / max(|out[u]|, eps) (1 where not `normalized`), in one read of each
    row. Rows PREFETCH_AHEAD ahead are prefetched: on a big table every row is a cache and TLB miss."""
    n = ids.shape[0]
    for u in prange(n):
        if u + PREFETCH_AHEAD < n:
            prefetch_row_read(table[ids[u + PREFETCH_AHEAD]])
        src, dst = table[ids[u]], out[u]
        acc = 0.0
        for k in range(src.shape[0]):
            v = src[k]
            dst[k] = v
            acc += v * v
        inv[u] = 1.0 / max(math.sqrt(acc), EPS) if normalized else 1.0


@njit(parallel=True, fastmath=FASTMATH, cache=True)
def inverse_norms(ids: np.ndarray, ent: np.ndarray) -> np.ndarray:
    """1 / max(|e|, eps) of the batch's entities (each computed once, not once per row that uses it)."""
    out = np.empty(ids.shape[0])
    for u in prange(ids.shape[0]):
        out[u] = _inverse_norm(ent[ids[u]])
    return out


@njit(fastmath=FASTMATH, inline="always", cache=True)
def _translation_row(h, r, t, ih, it, ent, rel, torus, x) -> None:
    """x = n(e_h) + r - n(e_t), n = unit-normalisation (ih, it: inverse norms; TransE) or frac on every term
    (TorusE)."""
    if torus:
        for k in range(x.shape[0]):
            x[k] = _frac(ent[h, k]) + _frac(rel[r, k]) - _frac(ent[t, k])
    else:
        for k in range(x.shape[0]):
            x[k] = ent[h, k] * ih + rel[r, k] - ent[t, k] * it


@njit(parallel=True, fastmath=FASTMATH, cache=True)
def translation_forward(heads, rels, tails, local_h, local_t, inv, ent, rel, torus, code, n_chunks, scores):
    """scores[i] = -d(x_i) for TransE (torus=False) and TorusE (torus=True)."""
    n, dim = heads.shape[0], ent.shape[1]
    for c in prange(n_chunks):
        x = np.empty(dim)
        for i in range(c * n // n_chunks, (c + 1) * n // n_chunks):
            _translation_row(heads[i], rels[i], tails[i], inv[local_h[i]], inv[local_t[i]], ent, rel, torus, x)
            scores[i] = -dissimilarity_value(code, x)


ROW_BLOCK = 256  # rows per parallel task of reduce_rows


@njit(fastmath=FASTMATH, inline="always", cache=True)
def sum_partials(partial, touched, u, acc) -> None:
    """acc = the sum over chunks of partial[:, u], of the chunks that touched row u."""
    acc[:] = 0.0
    for c in range(partial.shape[0]):
        if touched[c, u]:
            p = partial[c, u]
            for k in range(acc.shape[0]):
                acc[k] += p[k]


@njit(fastmath=FASTMATH, inline="always", cache=True)
def normalisation_jacobian(acc, row, scale) -> None:
    """acc = (g - (g.y) y) / |row| in place, y = row / |row|, scale = 1 / |row|: a gradient w.r.t. the unit-normalised
    row taken back to the row."""
    dot = 0.0
    for k in range(acc.shape[0]):
        dot += acc[k] * row[k]
    dot *= scale * scale
    for k in range(acc.shape[0]):
        acc[k] = (acc[k] - dot * row[k]) * scale


@njit(fastmath=FASTMATH, inline="always", cache=True)
def _reduce_row(row, partial, touched, u, scale, normalized, acc, out):
    """out = the sum over chunks of partial[:, u], through the Jacobian of unit-normalisation of `row` when
    `normalized` (scale = 1 / |row|)."""
    sum_partials(partial, touched, u, acc)
    if normalized:
        normalisation_jacobian(acc, row, scale)
    for k in range(out.shape[0]):
        out[k] = acc[k]


@njit(parallel=True, fastmath=FASTMATH, cache=True)
def reduce_rows(slot, table, partial, touched, inv, normalized, out):
    """Every row of `out`: the sum over chunks of partial[:, slot[row]] (those that touched it; 0 where slot is
    -1), through the Jacobian of unit-normalisation of `table`'s row when `normalized` (_reduce_row),
    inv[slot[row]] = 1 / |row|."""
    dim, n = table.shape[1], table.shape[0]
    for b in prange((n + ROW_BLOCK - 1) // ROW_BLOCK):
        acc = np.empty(dim)
        for row in range(b * ROW_BLOCK, min(n, (b + 1) * ROW_BLOCK)):
            u = slot[row]
            if u < 0:
                out[row, :] = 0.0
            else:
                _reduce_row(table[row], partial, touched, u, inv[u], normalized, acc, out[row])


@njit(parallel=True, fastmath=FASTMATH, cache=True)
def reduce_local_rows(ids, table, partial, touched, inv, normalized, out):
    """As reduce_rows for the batch's own rows only: out[u] (u < len(ids)) is the gradient of row ids[u]; no
    pass over the rows the batch does not touch."""
    dim, n = table.shape[1], ids.shape[0]
    for b in prange((n + ROW_BLOCK - 1) // ROW_BLOCK):
        acc = np.empty(dim)
        for u in range(b * ROW_BLOCK, min(n, (b + 1) * ROW_BLOCK)):
            _reduce_row(table[ids[u]], partial, touched, u, inv[u], normalized, acc, out[u])


@njit(fastmath=FASTMATH, inline="always", cache=True)
def _transh_row(h, r, t, ih, it, ent, rel, normal, x0, w, x):
    """x0 = n(e_h) - n(e_t), w = n(w_r), x = x0 - (x0.w) w + d_r; returns x0.w."""
    iw = _inverse_norm(normal[r])
    p = 0.0
    for k in range(x.shape[0]):
        x0[k] = ent[h, k] * ih - ent[t, k] * it
        w[k] = normal[r, k] * iw
        p += x0[k] * w[k]
    for k in range(x.shape[0]):
        x[k] = x0[k] - p * w[k] + rel[r, k]
    return p


@njit(parallel=True, fastmath=FASTMATH, cache=True)
def transh_forward(heads, rels, tails, local_h, local_t, inv, ent, rel, normal, code, n_chunks, scores):
    """scores[i] = -d(x_i), TransH's hyperplane projection of the translated difference."""
    n, dim = heads.shape[0], ent.shape[1]
    for c in prange(n_chunks):
        x0, w, x = np.empty(dim), np.empty(dim), np.empty(dim)
        for i in range(c * n // n_chunks, (c + 1) * n // n_chunks):
            _transh_row(heads[i], rels[i], tails[i], inv[local_h[i]], inv[local_t[i]], ent, rel, normal, x0, w, x)
            scores[i] = -dissimilarity_value(code, x)


@njit(fastmath=FASTMATH, inline="always", cache=True)
def _transr_row(h, r, t, ih, it, ent, rel, proj, x0, x):
    """x0 = n(e_h) - n(e_t) in entity space, x = M_r x0 + r in relation space."""
    for k in range(x0.shape[0]):
        x0[k] = ent[h, k] * ih - ent[t, k] * it
    m = proj[r]
    for j in range(x.shape[0]):
        acc = 0.0
        for k in range(x0.shape[0]):
            acc += m[j, k] * x0[k]
        x[j] = acc + rel[r, j]


@njit(parallel=True, fastmath=FASTMATH, cache=True)
def transr_forward(heads, rels, tails, local_h, local_t, inv, ent, rel, proj, code, n_chunks, scores):
    """scores[i] = -d(M_r (n(e_h) - n(e_t)) + r)."""
    n, dim, rel_dim = heads.shape[0], ent.shape[1], rel.shape[1]
    for c in prange(n_chunks):
        x0, x = np.empty(dim), np.empty(rel_dim)
        for i in range(c * n // n_chunks, (c + 1) * n // n_chunks):
            _transr_row(heads[i], rels[i], tails[i], inv[local_h[i]], inv[local_t[i]], ent, rel, proj, x0, x)
            scores[i] = -dissimilarity_value(code, x)




@njit(fastmath=FASTMATH, inline="always", cache=True)
def _margin(sp: float, sn: float, margin: float) -> float:
    return margin - sp + sn


@njit(parallel=True, fastmath=FASTMATH, cache=True)
def translation_loss(heads, rels, tails, local_h, local_t, inv, ent, rel, torus, code, n_pos, margin, g_ent, g_rel,
                     touched):
    """TransE / TorusE margin loss sum(max(0, margin - s_pos + s_neg)) over every positive i and its
    negatives n_pos * j + i; the gradient of each row goes to g_ent[c] (heads +, tails -) and g_rel[c]. A row of
    g_ent[c] is written on its first touch and added to after (touched[c, u] says which were): the rows are
    never zeroed, and nobody reads the rows a thread did not touch. The rows of the positive PREFETCH_AHEAD
    ahead and of its negatives are prefetched (prefetch_triples)."""
    n, dim, n_chunks = heads.shape[0], ent.shape[1], g_ent.shape[0]
    k = (n - n_pos) // n_pos
    partial = np.zeros(n_chunks)
    for c in prange(n_chunks):
        ge, gr = g_ent[c], g_rel[c]
        tc = touched[c]
        tc[:] = 0
        gr[:] = 0.0
        xp, xn, g = np.empty(dim), np.empty(dim), np.empty(dim)
        loss = 0.0
        end = (c + 1) * n_pos // n_chunks
        for i in range(c * n_pos // n_chunks, end):
            if i + PREFETCH_AHEAD < end:
                prefetch_triples(i + PREFETCH_AHEAD, n_pos, k, heads, tails, local_h, local_t, ent, ge)
            _translation_row(heads[i], rels[i], tails[i], inv[local_h[i]], inv[local_t[i]], ent, rel, torus, xp)
            sp = -dissimilarity_value(code, xp)
            active = 0
            for j in range(k):
                q = n_pos * (j + 1) + i
                _translation_row(heads[q], rels[q], tails[q], inv[local_h[q]], inv[local_t[q]], ent, rel, torus, xn)
                v = _margin(sp, -dissimilarity_value(code, xn), margin)
                if v > 0.0:
                    loss += v
                    active += 1
                    dissimilarity_grad(code, xn, -1.0, g)  # d loss / d s_neg = 1 and s = -d(x)
                    _add_translation(g, local_h[q], local_t[q], rels[q], ge, tc, gr)
            if active > 0:
                dissimilarity_grad(code, xp, float(active), g)
                _add_translation(g, local_h[i], local_t[i], rels[i], ge, tc, gr)
        partial[c] = loss
    return partial.sum()


@njit(inline="always", cache=True)
def prefetch_triples(i, n_pos, k, heads, tails, local_h, local_t, ent, ge) -> None:
    """Prefetch the entity rows of positive i and of its k negatives (n_pos * j + i) for reading, and their
    per-thread gradient rows for writing."""
    for j in range(k + 1):
        q = n_pos * j + i
        prefetch_row_read(ent[heads[q]])
        prefetch_row_read(ent[tails[q]])
        prefetch_row_write(ge[local_h[q]])
        prefetch_row_write(ge[local_t[q]])


@njit(fastmath=FASTMATH, inline="always", cache=True)
def add_row(a, x, rows, touched, u):
    """rows[u] += a * x, or rows[u] = a * x on its first touch (touched[u] then set): per-thread gradient rows
    that are never zeroed."""
    y = rows[u]
    if touched[u]:
        for k in range(x.shape[0]):
            y[k] += a * x[k]
    else:
        for k in range(x.shape[0]):
            y[k] = a * x[k]
        touched[u] = 1


@njit(fastmath=FASTMATH, inline="always", cache=True)
def _add_translation(g, lh, lt, r, ge, tc, gr):
    # one row at a time: ge[lh] and ge[lt] may be the same row
    add_row(1.0, g, ge, tc, lh)
    add_row(-1.0, g, ge, tc, lt)
    _axpy(1.0, g, gr[r])


@njit(fastmath=FASTMATH, inline="always", cache=True)
def _axpy(a, x, y):
    """y += a * x."""
    for k in range(x.shape[0]):
        y[k] += a * x[k]


@njit(fastmath=FASTMATH, inline="always", cache=True)
def _add_transh(g, x0, w, p, lh, lt, r, dx0, ge, tc, gr, gw):
    """x = x0 - (x0.w) w + d_r: d/dd_r = g, d/dx0 = g - (g.w) w, d/dw = -(x0.w) g - (g.w) x0."""
    gdotw = 0.0
    for k in range(g.shape[0]):
        gdotw += g[k] * w[k]
    for k in range(g.shape[0]):
        dx0[k] = g[k] - gdotw * w[k]
        gr[r, k] += g[k]
        gw[r, k] -= p * g[k] + gdotw * x0[k]
    add_row(1.0, dx0, ge, tc, lh)
    add_row(-1.0, dx0, ge, tc, lt)


@njit(parallel=True, fastmath=FASTMATH, cache=True)
def transh_loss(heads, rels, tails, local_h, local_t, inv, ent, rel, normal, code, n_pos, margin, g_ent, g_rel,
                g_w, touched):
    """As translation_loss (rows prefetched too) for TransH; g_w[c, r] receives d loss / d (unit normal) (Jacobian
    in reduce_rows)."""
    n, dim, n_chunks = heads.shape[0], ent.shape[1], g_ent.shape[0]
    k = (n - n_pos) // n_pos
    partial = np.zeros(n_chunks)
    for c in prange(n_chunks):
        ge, gr, gw = g_ent[c], g_rel[c], g_w[c]
        tc = touched[c]
        tc[:] = 0
        gr[:] = 0.0
        gw[:] = 0.0
        x0p, wp, xp = np.empty(dim), np.empty(dim), np.empty(dim)
        x0n, wn, xn, g, dx0 = np.empty(dim), np.empty(dim), np.empty(dim), np.empty(dim), np.empty(dim)
        loss = 0.0
        end = (c + 1) * n_pos // n_chunks
        for i in range(c * n_pos // n_chunks, end):
            if i + PREFETCH_AHEAD < end:
                prefetch_triples(i + PREFETCH_AHEAD, n_pos, k, heads, tails, local_h, local_t, ent, ge)
            pp = _transh_row(heads[i], rels[i], tails[i], inv[local_h[i]], inv[local_t[i]], ent, rel, normal, x0p, wp,
                             xp)
            sp = -dissimilarity_value(code, xp)
            active = 0
            for j in range(k):
                q = n_pos * (j + 1) + i
                pn = _transh_row(heads[q], rels[q], tails[q], inv[local_h[q]], inv[local_t[q]], ent, rel, normal, x0n,
                                 wn, xn)
                v = _margin(sp, -dissimilarity_value(code, xn), margin)
                if v > 0.0:
                    loss += v
                    active += 1
                    dissimilarity_grad(code, xn, -1.0, g)
                    _add_transh(g, x0n, wn, pn, local_h[q], local_t[q], rels[q], dx0, ge, tc, gr, gw)
            if active > 0:
                dissimilarity_grad(code, xp, float(active), g)
                _add_transh(g, x0p, wp, pp, local_h[i], local_t[i], rels[i], dx0, ge, tc, gr, gw)
        partial[c] = loss
    return partial.sum()


@njit(fastmath=FASTMATH, inline="always", cache=True)
def _add_transr(g, x0, m, lh, lt, r, dx0, ge, tc, gr, gm):
    """x = M_r x0 + r: d/dr = g, d/dM_r = g x0^T, d/dx0 = M_r^T g."""
    dx0[:] = 0.0
    for a in range(g.shape[0]):
        gr[r, a] += g[a]
        for k in range(x0.shape[0]):
            dx0[k] += m[a, k] * g[a]
            gm[a, k] += g[a] * x0[k]
    add_row(1.0, dx0, ge, tc, lh)
    add_row(-1.0, dx0, ge, tc, lt)


@njit(parallel=True, fastmath=FASTMATH, cache=True)
def transr_loss(heads, rels, tails, order, local_h, local_t, inv, ent, rel, proj, code, n_pos, margin,
                g_ent, g_rel, g_proj, touched):
    """As translation_loss (rows prefetched too) for TransR; positives visited in `order` (grouped by relation; a
    positive's negatives share its relation), g_proj[c, r] receives the outer products g x0^T."""
    n, dim, rel_dim, n_chunks = heads.shape[0], ent.shape[1], rel.shape[1], g_ent.shape[0]
    k = (n - n_pos) // n_pos
    partial = np.zeros(n_chunks)
    for c in prange(n_chunks):
        ge, gr, gm = g_ent[c], g_rel[c], g_proj[c]
        tc = touched[c]
        tc[:] = 0
        gr[:] = 0.0
        gm[:] = 0.0
        x0p, x0n, dx0 = np.empty(dim), np.empty(dim), np.empty(dim)
        xp, xn, g = np.empty(rel_dim), np.empty(rel_dim), np.empty(rel_dim)
        loss = 0.0
        end = (c + 1) * n_pos // n_chunks
        for jj in range(c * n_pos // n_chunks, end):
            if jj + PREFETCH_AHEAD < end:
                prefetch_triples(order[jj + PREFETCH_AHEAD], n_pos, k, heads, tails, local_h, local_t, ent, ge)
            i = order[jj]
            _transr_row(heads[i], rels[i], tails[i], inv[local_h[i]], inv[local_t[i]], ent, rel, proj, x0p, xp)
            sp = -dissimilarity_value(code, xp)
            active = 0
            for j in range(k):
                q = n_pos * (j + 1) + i
                rq = rels[q]
                _transr_row(heads[q], rq, tails[q], inv[local_h[q]], inv[local_t[q]], ent, rel, proj, x0n, xn)
                v = _margin(sp, -dissimilarity_value(code, xn), margin)
                if v > 0.0:
                    loss += v
                    active += 1
                    dissimilarity_grad(code, xn, -1.0, g)
                    _add_transr(g, x0n, proj[rq], local_h[q], local_t[q], rq, dx0, ge, tc, gr, gm[rq])
            if active > 0:
                r = rels[i]
                dissimilarity_grad(code, xp, float(active), g)
                _add_transr(g, x0p, proj[r], local_h[i], local_t[i], r, dx0, ge, tc, gr, gm[r])
        partial[c] = loss
    return partial.sum()
