"""numba kernels of the fused backend for the models whose score is no translated difference: DistMult, ComplEx and
RotatE (harness.models). An incidence SpMM cannot express h * r * t or h * r - t with a complex r (the product of
two gathered rows is no linear combination of rows), so the fused kernels are what carries over of the SpMM idea:
gather each row once, no (rows x d) intermediate, gradients accumulated per thread in the same pass.

What these kernels add: every score is a function of a *query* built from two of the triple's rows and the third
row (the *candidate*): score = f(Q_t(h, r), t) = f(Q_h(r, t), h). A negative corrupts one side of its positive, so
it shares the positive's query for the other side: the kernel builds Q_t and Q_h once per positive, scores each
negative with one pass over its candidate row (a dot product, or RotatE's distance), and sends the negatives'
gradients through the shared query once (DGL-KE's chunked negatives do the same with a GEMM per chunk; here each
positive is its own chunk, so the negatives stay per positive).

Model codes: 0 DistMult (Q_t = n(h) * r, f = dot with n(t); n = unit rows), 1 ComplEx (Q_t = h r, Q_h = conj(r) t,
f = real dot of [re | im] rows), 2 RotatE with the sum of moduli, 3 RotatE with the vector norm (Q_t = h exp(i
theta), Q_h = t exp(-i theta), f = -D(Q - c)). Per-row arithmetic in float64, gradient rows in the table's dtype.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit, prange

from sparse_impl.backends.fused.dissimilarity import FASTMATH
from sparse_impl.backends.fused.kernels import add_row
from sparse_impl.backends.fused.losses import group_loss

__all__ = ["DISTMULT", "COMPLEX", "ROTATE_L1", "ROTATE_L2", "multiplicative_forward", "multiplicative_loss"]

DISTMULT, COMPLEX, ROTATE_L1, ROTATE_L2 = 0, 1, 2, 3
_TAIL, _HEAD, _OTHER = 1, 0, 2  # which side a negative corrupts (_OTHER: neither alone; scored on its own)


@njit(fastmath=FASTMATH, inline="always", cache=True)
def _query(m, tail, a, ia, r, q):
    """q = Q_t(a = h, r) when `tail`, else Q_h(a = t, r)."""
    d = a.shape[0]
    if m == DISTMULT:
        for k in range(d):
            q[k] = a[k] * ia * r[k]
        return
    half = d // 2
    for k in range(half):
        a_re, a_im = a[k], a[half + k]
        if m == COMPLEX:
            r_re, r_im = r[k], r[half + k]
        else:
            r_re, r_im = math.cos(r[k]), math.sin(r[k])
        if not tail:  # Q_h = conj(r) a (ComplEx: the score is Re(h conj(conj(r) t)); RotatE: |h - t conj(r)|)
            r_im = -r_im
        q[k] = a_re * r_re - a_im * r_im
        q[half + k] = a_re * r_im + a_im * r_re


@njit(fastmath=FASTMATH, inline="always", cache=True)
def _score(m, q, c, ic):
    """f(Q, candidate row c scaled by ic)."""
    d = c.shape[0]
    if m == DISTMULT or m == COMPLEX:
        acc = 0.0
        for k in range(d):
            acc += q[k] * c[k]
        return acc * ic
    half = d // 2
    acc = 0.0
    for k in range(half):
        z_re, z_im = q[k] - c[k], q[half + k] - c[half + k]
        if m == ROTATE_L1:
            acc += math.sqrt(z_re * z_re + z_im * z_im)
        else:
            acc += z_re * z_re + z_im * z_im
    return -acc if m == ROTATE_L1 else -math.sqrt(acc)


@njit(fastmath=FASTMATH, inline="always", cache=True)
def _score_grad(m, g, q, c, ic, dc, dq):
    """dc = g * d f / d c (w.r.t. the scaled candidate row) and dq += g * d f / d Q."""
    d = c.shape[0]
    if m == DISTMULT or m == COMPLEX:
        for k in range(d):
            dc[k] = g * q[k]
            dq[k] += g * c[k] * ic
        return
    half = d // 2
    norm = 0.0
    if m == ROTATE_L2:
        for k in range(d):
            z = q[k] - c[k]
            norm += z * z
        norm = math.sqrt(norm)
    for k in range(half):
        z_re, z_im = q[k] - c[k], q[half + k] - c[half + k]
        scale = math.sqrt(z_re * z_re + z_im * z_im) if m == ROTATE_L1 else norm
        u = g / scale if scale > 0.0 else 0.0  # f = -D(z): d f / d c = +z / |z|, d f / d Q = -z / |z|
        dc[k], dc[half + k] = u * z_re, u * z_im
        dq[k] -= u * z_re
        dq[half + k] -= u * z_im


@njit(fastmath=FASTMATH, inline="always", cache=True)
def _add_candidate_grad(m, g, q, c, ic, dc, dq, rows, touched, u):
    """The candidate's gradient g * d f / d c into its per-thread row `u`, and dq += g * d f / d Q; for the dot
    models (d f / d c = Q) straight from the query, without a temporary row."""
    if m == DISTMULT or m == COMPLEX:
        add_row(g, q, rows, touched, u)
        scale = g * ic
        for k in range(c.shape[0]):
            dq[k] += scale * c[k]
        return
    _score_grad(m, g, q, c, ic, dc, dq)
    add_row(1.0, dc, rows, touched, u)


@njit(fastmath=FASTMATH, inline="always", cache=True)
def _chain(m, tail, a, ia, r, dq, da, dr):
    """Through Q = _query(m, tail, a, r): da = d / d a (w.r.t. the scaled row) and dr += d / d r (RotatE: d / d
    theta)."""
    d = a.shape[0]
    if m == DISTMULT:
        for k in range(d):
            da[k] = dq[k] * r[k]
            dr[k] += dq[k] * a[k] * ia
        return
    half = d // 2
    for k in range(half):
        g_re, g_im = dq[k], dq[half + k]
        a_re, a_im = a[k], a[half + k]
        if m == COMPLEX:
            r_re, r_im = r[k], r[half + k]
        else:
            r_re, r_im = math.cos(r[k]), math.sin(r[k])
        u_im = r_im if tail else -r_im  # Q = a u with u = r (tail) or conj(r) (head)
        # d / d a = G conj(u), d / d u = G conj(a)
        da[k] = g_re * r_re + g_im * u_im
        da[half + k] = g_im * r_re - g_re * u_im
        gu_re = g_re * a_re + g_im * a_im
        gu_im = g_im * a_re - g_re * a_im
        if not tail:  # u = conj(r): d / d r = conj(d / d u)
            gu_im = -gu_im
        if m == COMPLEX:
            dr[k] += gu_re
            dr[half + k] += gu_im
        else:  # r = (cos theta, sin theta)
            dr[k] += -gu_re * r_im + gu_im * r_re


@njit(parallel=True, fastmath=FASTMATH, cache=True)
def multiplicative_forward(m, heads, rels, tails, local_h, local_t, inv, ent, rel, n_chunks, scores):
    """scores[i] = the model's score of row i."""
    n, dim = heads.shape[0], ent.shape[1]
    for c in prange(n_chunks):
        q = np.empty(dim)
        for i in range(c * n // n_chunks, (c + 1) * n // n_chunks):
            _query(m, True, ent[heads[i]], inv[local_h[i]], rel[rels[i]], q)
            scores[i] = _score(m, q, ent[tails[i]], inv[local_t[i]])


@njit(parallel=True, fastmath=FASTMATH, cache=True)
def multiplicative_loss(m, heads, rels, tails, local_h, local_t, inv, ent, rel, n_pos, loss_code, margin, alpha,
                        g_ent, g_rel, touched):
    """The loss (sparse_impl.loss, by `loss_code`) of every positive i with its negatives n_pos * j + i, and every
    gradient: entity rows into g_ent[c] (w.r.t. the viewed rows; written on first touch, touched[c] says which),
    relation rows into g_rel[c] (zeroed here). Returns the summed loss."""
    n, dim, n_chunks = heads.shape[0], ent.shape[1], g_ent.shape[0]
    k = (n - n_pos) // n_pos
    partial = np.zeros(n_chunks)
    for c in prange(n_chunks):
        ge, gr, tc = g_ent[c], g_rel[c], touched[c]
        tc[:] = 0
        gr[:] = 0.0
        q_t, q_h, q_o = np.empty(dim), np.empty(dim), np.empty(dim)
        d_t, d_h, d_o, dc, da = np.empty(dim), np.empty(dim), np.empty(dim), np.empty(dim), np.empty(dim)
        sn, gn = np.empty(k), np.empty(k)
        side = np.empty(k, np.int8)
        loss = 0.0
        for i in range(c * n_pos // n_chunks, (c + 1) * n_pos // n_chunks):
            h, r, t = heads[i], rels[i], tails[i]
            ih, it = inv[local_h[i]], inv[local_t[i]]
            _query(m, True, ent[h], ih, rel[r], q_t)
            _query(m, False, ent[t], it, rel[r], q_h)
            sp = _score(m, q_t, ent[t], it)
            for j in range(k):
                qq = n_pos * (j + 1) + i
                if rels[qq] == r and heads[qq] == h:
                    side[j] = _TAIL
                    sn[j] = _score(m, q_t, ent[tails[qq]], inv[local_t[qq]])
                elif rels[qq] == r and tails[qq] == t:
                    side[j] = _HEAD
                    sn[j] = _score(m, q_h, ent[heads[qq]], inv[local_h[qq]])
                else:
                    side[j] = _OTHER
                    _query(m, True, ent[heads[qq]], inv[local_h[qq]], rel[rels[qq]], q_o)
                    sn[j] = _score(m, q_o, ent[tails[qq]], inv[local_t[qq]])
            value, gp = group_loss(loss_code, margin, alpha, sp, sn, gn)
            loss += value
            d_t[:] = 0.0
            d_h[:] = 0.0
            if gp != 0.0:
                _add_candidate_grad(m, gp, q_t, ent[t], it, dc, d_t, ge, tc, local_t[i])
            for j in range(k):
                g = gn[j]
                if g == 0.0:
                    continue
                qq = n_pos * (j + 1) + i
                if side[j] == _TAIL:
                    _add_candidate_grad(m, g, q_t, ent[tails[qq]], inv[local_t[qq]], dc, d_t, ge, tc, local_t[qq])
                elif side[j] == _HEAD:
                    _add_candidate_grad(m, g, q_h, ent[heads[qq]], inv[local_h[qq]], dc, d_h, ge, tc, local_h[qq])
                else:
                    hq, rq, ihq = heads[qq], rels[qq], inv[local_h[qq]]
                    _query(m, True, ent[hq], ihq, rel[rq], q_o)
                    d_o[:] = 0.0
                    _add_candidate_grad(m, g, q_o, ent[tails[qq]], inv[local_t[qq]], dc, d_o, ge, tc, local_t[qq])
                    _chain(m, True, ent[hq], ihq, rel[rq], d_o, da, gr[rq])
                    add_row(1.0, da, ge, tc, local_h[qq])
            _chain(m, True, ent[h], ih, rel[r], d_t, da, gr[r])
            add_row(1.0, da, ge, tc, local_h[i])
            _chain(m, False, ent[t], it, rel[r], d_h, da, gr[r])
            add_row(1.0, da, ge, tc, local_t[i])
        partial[c] = loss
    return partial.sum()
