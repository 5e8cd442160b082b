"""Triton kernels of the GPU fused backend (backends/triton). For the translation models:

- a score kernel: gather the rows of a block of triples, normalise, translate, project, dissimilarity;
- a margin kernel (the one-pass training step): a block of positives, each scored with its k negatives (rows
  n_pos * j + i), the margin loss summed per block and, while the rows are in registers, each active row's
  gradient sent to the gradient rows (the normalisation's Jacobian applied per contribution: it is linear);
- a coefficient kernel (every other loss of sparse_impl.loss): the same gradient pass given d loss / d score of
  every row, computed by torch from the score kernel's scores (a vector of B(1 + k) numbers);
- the reductions. `ATOMIC` = 1: gradient rows accumulated in place with tl.atomic_add (fast; the order of the
  additions, so the last bits of a row shared by several triples, varies between runs). `ATOMIC` = 0 (the
  deterministic option, backend `triton-sorted`): every row's contributions are stored instead, then summed per
  table row in a fixed order by a segmented reduction over the contributions sorted by row (`segment_sum`,
  `segment_outer` for TransR's matrices): the same bits every run, at the cost of (rows x d) buffers.

TransE, TorusE and TransH work on (BLOCK rows x BLOCK_D columns) tiles; TransR (a rel_dim x dim matrix per
relation) on one positive and its negatives per program. The module works on CUDA tensors, and on CPU tensors
when TRITON_INTERPRET=1 was set before it was imported (Triton's interpreter: slow, for tests).
"""

from __future__ import annotations

import os

import triton
import triton.language as tl

__all__ = ["DISSIMILARITY_CODES", "INTERPRETED", "MODEL_CODES", "coef_kernel", "margin_kernel", "score_kernel",
           "segment_outer_kernel", "segment_sum_kernel", "transr_coef_kernel", "transr_margin_kernel",
           "transr_score_kernel"]

# Decided when triton.jit wraps the kernels below, i.e. when this module is first imported.
INTERPRETED = os.environ.get("TRITON_INTERPRET", "0") == "1"

# The same numbers as the numba backend's (backends/fused/dissimilarity.py), so codes mean one thing.
DISSIMILARITY_CODES: dict[str, int] = {"L1": 0, "L2": 1, "L2sq": 2, "torus_L1": 3, "torus_L2": 4, "torus_eL2": 5}
MODEL_CODES: dict[str, int] = {"transe": 0, "toruse": 1, "transh": 2}  # the tile kernels; transr has its own

TWO_PI = 6.283185307179586


# --- dissimilarities of difference rows x (R, C) -> (R,), and their gradients (R, C) ---

@triton.jit
def _dis_value(x, CODE: tl.constexpr):
    if CODE == 0:
        v = tl.sum(tl.abs(x), axis=1)
    elif CODE == 1:
        v = tl.sqrt(tl.sum(x * x, axis=1))
    elif CODE == 2:
        v = tl.sum(x * x, axis=1)
    elif CODE == 3:
        a = tl.abs(x)
        v = 2.0 * tl.sum(tl.minimum(a, 1.0 - a), axis=1)
    elif CODE == 4:
        sq = x * x
        v = 4.0 * tl.sum(tl.minimum(sq, 1.0 - sq), axis=1)
    else:
        tmp = tl.minimum(x, 1.0 - x)
        v = tl.sum(2.0 * (1.0 - tl.cos(6.283185307179586 * tmp)), axis=1) / 4.0
    return v


@triton.jit
def _dis_grad(x, CODE: tl.constexpr):
    """d'(x), subgradient 0 where |x| or the norm is 0 (as the numba kernels)."""
    sign = tl.where(x > 0, 1.0, 0.0) - tl.where(x < 0, 1.0, 0.0)
    if CODE == 0:
        g = sign + 0.0 * x
    elif CODE == 1:
        acc = tl.sum(x * x, axis=1)
        inv = tl.where(acc > 0, 1.0 / tl.sqrt(tl.maximum(acc, 1e-30)), 0.0)
        g = x * inv[:, None]
    elif CODE == 2:
        g = 2.0 * x
    elif CODE == 3:
        a = tl.abs(x)
        g = 2.0 * tl.where(a < 1.0 - a, sign, -sign) + 0.0 * x
    elif CODE == 4:
        sq = x * x
        g = 4.0 * tl.where(sq < 1.0 - sq, 2.0 * x, -2.0 * x)
    else:
        below = x < 1.0 - x
        tmp = tl.where(below, x, 1.0 - x)
        s = 0.5 * 6.283185307179586 * tl.sin(6.283185307179586 * tmp)
        g = tl.where(below, s, -s)
    return g


@triton.jit
def _frac(v):
    """v - trunc(v) (torch.frac)."""
    return v - tl.where(v >= 0, tl.floor(v), tl.ceil(v))


@triton.jit
def _inv_norm(e):
    """1 / max(|row|, eps) per row of (R, C) (F.normalize's eps)."""
    return 1.0 / tl.maximum(tl.sqrt(tl.sum(e * e, axis=1)), 1e-12)


@triton.jit
def _jacobian(g, e, inv):
    """A gradient w.r.t. unit-normalised rows y = e * inv taken back to the rows: (g - (g.y) y) * inv."""
    y = e * inv[:, None]
    return (g - tl.sum(g * y, axis=1)[:, None] * y) * inv[:, None]


# --- TransE, TorusE, TransH on (rows x columns) tiles ---

@triton.jit
def _difference(ent, rel, nrm, h, r, t, m2, cols, D, MODEL: tl.constexpr):
    """The translated difference x of rows (h, r, t) and what its gradient needs: (x, e_h, e_t, 1/|e_h|,
    1/|e_t|, unit normal w, 1/|w_r|, x0 = n(h) - n(t), x0.w); TransE 0, TorusE 1, TransH 2."""
    c = cols[None, :]
    eh = tl.load(ent + h[:, None] * D + c, mask=m2, other=0.0)
    et = tl.load(ent + t[:, None] * D + c, mask=m2, other=0.0)
    rr = tl.load(rel + r[:, None] * D + c, mask=m2, other=0.0)
    ih = _inv_norm(eh)
    it = _inv_norm(et)
    if MODEL == 1:
        x = _frac(eh) + _frac(rr) - _frac(et)
        w, iw, x0, p = rr, ih, x, ih
    elif MODEL == 2:
        wr = tl.load(nrm + r[:, None] * D + c, mask=m2, other=0.0)
        iw = _inv_norm(wr)
        w = wr * iw[:, None]
        x0 = eh * ih[:, None] - et * it[:, None]
        p = tl.sum(x0 * w, axis=1)
        x = x0 - p[:, None] * w + rr
    else:
        x = eh * ih[:, None] + rr - et * it[:, None]
        w, iw, x0, p = rr, ih, x, ih
    return x, eh, et, ih, it, w, iw, x0, p


@triton.jit
def _push(g, q, n_rows, th, tt, r, m2, active, cols, D, eh, et, ih, it, w, iw, x0, p, gent, grel, gnrm,
          MODEL: tl.constexpr, ATOMIC: tl.constexpr):
    """Send g = d loss / d x of rows q to the tables' gradients: atomically into rows th / tt (entities: the
    head's, minus the tail's) and r (relation side), or (ATOMIC 0) stored as row q's contributions: gent rows q
    (head) and n_rows + q (tail), grel and gnrm rows q."""
    c = cols[None, :]
    if MODEL == 1:
        gh = g
        gt = -g
        gw = g
    elif MODEL == 2:
        gdotw = tl.sum(g * w, axis=1)
        dx0 = g - gdotw[:, None] * w
        gh = _jacobian(dx0, eh, ih)
        gt = -_jacobian(dx0, et, it)
        gwn = -(p[:, None] * g + gdotw[:, None] * x0)
        gw = (gwn - tl.sum(gwn * w, axis=1)[:, None] * w) * iw[:, None]
    else:
        gh = _jacobian(g, eh, ih)
        gt = -_jacobian(g, et, it)
        gw = g
    if ATOMIC:
        am = m2 & active[:, None]
        tl.atomic_add(gent + th[:, None] * D + c, gh, mask=am, sem="relaxed")
        tl.atomic_add(gent + tt[:, None] * D + c, gt, mask=am, sem="relaxed")
        tl.atomic_add(grel + r[:, None] * D + c, g, mask=am, sem="relaxed")
        if MODEL == 2:
            tl.atomic_add(gnrm + r[:, None] * D + c, gw, mask=am, sem="relaxed")
    else:
        q64 = q.to(tl.int64)
        tl.store(gent + q64[:, None] * D + c, gh, mask=m2)
        tl.store(gent + (q64 + n_rows)[:, None] * D + c, gt, mask=m2)
        tl.store(grel + q64[:, None] * D + c, g, mask=m2)
        if MODEL == 2:
            tl.store(gnrm + q64[:, None] * D + c, gw, mask=m2)


@triton.jit
def score_kernel(heads, rels, tails, ent, rel, nrm, scores, n, D, CODE: tl.constexpr, MODEL: tl.constexpr,
                 BLOCK: tl.constexpr, BLOCK_D: tl.constexpr):
    """scores[q] = -d(x_q) for a block of rows."""
    q = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    qm = q < n
    cols = tl.arange(0, BLOCK_D)
    m2 = qm[:, None] & (cols < D)[None, :]
    h = tl.load(heads + q, mask=qm, other=0)
    r = tl.load(rels + q, mask=qm, other=0)
    t = tl.load(tails + q, mask=qm, other=0)
    x, eh, et, ih, it, w, iw, x0, p = _difference(ent, rel, nrm, h, r, t, m2, cols, D, MODEL)
    tl.store(scores + q, -_dis_value(x, CODE), mask=qm)


@triton.jit
def margin_kernel(heads, rels, tails, gheads, gtails, ent, rel, nrm, gent, grel, gnrm, partial, n_pos, k, margin, D,
                  CODE: tl.constexpr, MODEL: tl.constexpr, ATOMIC: tl.constexpr, BLOCK: tl.constexpr,
                  BLOCK_D: tl.constexpr):
    """A block of positives i with their negatives n_pos * j + i: partial[block] = sum of max(0, margin - s_i +
    s_ij), and each active row's gradient (d loss / d s = 1 for an active negative, minus the number of active
    negatives for the positive) pushed (gheads / gtails: the entity gradient rows of heads and tails)."""
    pid = tl.program_id(0)
    i = pid * BLOCK + tl.arange(0, BLOCK)
    pm = i < n_pos
    cols = tl.arange(0, BLOCK_D)
    m2 = pm[:, None] & (cols < D)[None, :]
    n_rows = n_pos * (k + 1)
    h = tl.load(heads + i, mask=pm, other=0)
    r = tl.load(rels + i, mask=pm, other=0)
    t = tl.load(tails + i, mask=pm, other=0)
    xp, ehp, etp, ihp, itp, wp, iwp, x0p, pp = _difference(ent, rel, nrm, h, r, t, m2, cols, D, MODEL)
    sp = -_dis_value(xp, CODE)
    count = tl.zeros((BLOCK,), dtype=xp.dtype)
    loss = tl.zeros((BLOCK,), dtype=xp.dtype)
    for j in range(k):
        q = (j + 1) * n_pos + i
        hq = tl.load(heads + q, mask=pm, other=0)
        rq = tl.load(rels + q, mask=pm, other=0)
        tq = tl.load(tails + q, mask=pm, other=0)
        xn, ehn, etn, ihn, itn, wn, iwn, x0n, pn = _difference(ent, rel, nrm, hq, rq, tq, m2, cols, D, MODEL)
        v = margin - sp - _dis_value(xn, CODE)
        act = (v > 0) & pm
        one = tl.where(act, 1.0, 0.0).to(xp.dtype)
        loss += tl.where(act, v, 0.0)
        count += one
        g = -one[:, None] * _dis_grad(xn, CODE)  # s = -d(x): d loss / d x = -d'(x) for an active negative
        ghq = tl.load(gheads + q, mask=pm, other=0)
        gtq = tl.load(gtails + q, mask=pm, other=0)
        _push(g, q, n_rows, ghq, gtq, rq, m2, act, cols, D, ehn, etn, ihn, itn, wn, iwn, x0n, pn, gent, grel, gnrm,
              MODEL, ATOMIC)
    g = count[:, None] * _dis_grad(xp, CODE)
    gh = tl.load(gheads + i, mask=pm, other=0)
    gt = tl.load(gtails + i, mask=pm, other=0)
    _push(g, i, n_rows, gh, gt, r, m2, pm & (count > 0), cols, D, ehp, etp, ihp, itp, wp, iwp, x0p, pp, gent,
          grel, gnrm, MODEL, ATOMIC)
    tl.store(partial + pid, tl.sum(loss, axis=0))


@triton.jit
def coef_kernel(heads, rels, tails, gheads, gtails, coef, ent, rel, nrm, gent, grel, gnrm, n, D, CODE: tl.constexpr,
                MODEL: tl.constexpr, ATOMIC: tl.constexpr, BLOCK: tl.constexpr, BLOCK_D: tl.constexpr):
    """Every row's gradient given coef[q] = d loss / d s_q (any loss), pushed as in margin_kernel."""
    q = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    qm = q < n
    cols = tl.arange(0, BLOCK_D)
    m2 = qm[:, None] & (cols < D)[None, :]
    h = tl.load(heads + q, mask=qm, other=0)
    r = tl.load(rels + q, mask=qm, other=0)
    t = tl.load(tails + q, mask=qm, other=0)
    c = tl.load(coef + q, mask=qm, other=0.0)
    x, eh, et, ih, it, w, iw, x0, p = _difference(ent, rel, nrm, h, r, t, m2, cols, D, MODEL)
    g = -c[:, None] * _dis_grad(x, CODE)
    gh = tl.load(gheads + q, mask=qm, other=0)
    gt = tl.load(gtails + q, mask=qm, other=0)
    _push(g, q, n, gh, gt, r, m2, qm & (c != 0), cols, D, eh, et, ih, it, w, iw, x0, p, gent, grel, gnrm, MODEL,
          ATOMIC)


# --- TransR: one row (scores, coefficients) or one positive with its negatives (margin) per program ---

@triton.jit
def _transr_difference(ent, rel, proj, h, r, t, cols, cm, rows, rm, D, RD):
    """x = M_r (n(e_h) - n(e_t)) + r (rel_dim,), and x0, M_r, e_h, e_t, their inverse norms."""
    eh = tl.load(ent + h * D + cols, mask=cm, other=0.0)
    et = tl.load(ent + t * D + cols, mask=cm, other=0.0)
    ih = 1.0 / tl.maximum(tl.sqrt(tl.sum(eh * eh, axis=0)), 1e-12)
    it = 1.0 / tl.maximum(tl.sqrt(tl.sum(et * et, axis=0)), 1e-12)
    x0 = eh * ih - et * it
    m = tl.load(proj + r * RD * D + rows[:, None] * D + cols[None, :], mask=rm[:, None] & cm[None, :], other=0.0)
    x = tl.sum(m * x0[None, :], axis=1) + tl.load(rel + r * RD + rows, mask=rm, other=0.0)
    return x, x0, m, eh, et, ih, it


# A scalar condition is combined with a mask by tl.where(flag, mask, False), not `mask & flag`: Triton 3.9's
# interpreter cannot `&` a scalar with a vector.
@triton.jit
def _jacobian_row(g, e, inv):
    y = e * inv
    return (g - tl.sum(g * y, axis=0) * y) * inv


@triton.jit
def _transr_push(g, q, n_rows, th, tt, r, active, cols, cm, rows, rm, D, RD, x0, m, eh, et, ih, it, gent, grel,
                 gx0, ATOMIC: tl.constexpr):
    """The entity and translation gradients of row q (as _push); the matrix's g x0^T is the caller's (atomic),
    or comes from the stored g (grel row q) and x0 (gx0 row q) in segment_outer_kernel."""
    dx0 = tl.sum(m * g[:, None], axis=0)
    gh = _jacobian_row(dx0, eh, ih)
    gt = -_jacobian_row(dx0, et, it)
    if ATOMIC:
        tl.atomic_add(gent + th * D + cols, gh, mask=tl.where(active, cm, False), sem="relaxed")
        tl.atomic_add(gent + tt * D + cols, gt, mask=tl.where(active, cm, False), sem="relaxed")
        tl.atomic_add(grel + r * RD + rows, g, mask=tl.where(active, rm, False), sem="relaxed")
    else:
        q64 = q.to(tl.int64)
        tl.store(gent + q64 * D + cols, gh, mask=cm)
        tl.store(gent + (q64 + n_rows) * D + cols, gt, mask=cm)
        tl.store(grel + q64 * RD + rows, g, mask=rm)
        tl.store(gx0 + q64 * D + cols, x0, mask=cm)


@triton.jit
def transr_score_kernel(heads, rels, tails, ent, rel, proj, scores, D, RD, CODE: tl.constexpr,
                        BLOCK_RD: tl.constexpr, BLOCK_D: tl.constexpr):
    q = tl.program_id(0)
    cols = tl.arange(0, BLOCK_D)
    rows = tl.arange(0, BLOCK_RD)
    h = tl.load(heads + q)
    r = tl.load(rels + q)
    t = tl.load(tails + q)
    x, x0, m, eh, et, ih, it = _transr_difference(ent, rel, proj, h, r, t, cols, cols < D, rows, rows < RD, D, RD)
    tl.store(scores + q, -tl.sum(_dis_value(x[None, :], CODE), axis=0))


@triton.jit
def transr_margin_kernel(heads, rels, tails, gheads, gtails, ent, rel, proj, gent, grel, gproj, gx0, partial, n_pos,
                         k, margin, D, RD, CODE: tl.constexpr, ATOMIC: tl.constexpr, BLOCK_RD: tl.constexpr,
                         BLOCK_D: tl.constexpr):
    """margin_kernel for TransR, one positive per program: the g x0^T of rows with the positive's relation (all
    of them, for negatives that corrupt entities only) summed in registers and added to gproj once."""
    i = tl.program_id(0)
    cols = tl.arange(0, BLOCK_D)
    rows = tl.arange(0, BLOCK_RD)
    cm = cols < D
    rm = rows < RD
    m2 = rm[:, None] & cm[None, :]
    n_rows = n_pos * (k + 1)
    h = tl.load(heads + i)
    r = tl.load(rels + i)
    t = tl.load(tails + i)
    xp, x0p, mp, ehp, etp, ihp, itp = _transr_difference(ent, rel, proj, h, r, t, cols, cm, rows, rm, D, RD)
    sp = -tl.sum(_dis_value(xp[None, :], CODE), axis=0)
    acc = tl.zeros((BLOCK_RD, BLOCK_D), dtype=xp.dtype)
    count = tl.zeros((1,), dtype=xp.dtype)
    loss = tl.zeros((1,), dtype=xp.dtype)
    for j in range(k):
        q = (j + 1) * n_pos + i
        hq = tl.load(heads + q)
        rq = tl.load(rels + q)
        tq = tl.load(tails + q)
        xn, x0n, mn, ehn, etn, ihn, itn = _transr_difference(ent, rel, proj, hq, rq, tq, cols, cm, rows, rm, D, RD)
        v = margin - sp - tl.sum(_dis_value(xn[None, :], CODE), axis=0)
        act = v > 0
        one = tl.where(act, 1.0, 0.0).to(xp.dtype)
        loss += tl.where(act, v, 0.0)
        count += one
        g = -one * tl.sum(_dis_grad(xn[None, :], CODE), axis=0)
        _transr_push(g, q, n_rows, tl.load(gheads + q), tl.load(gtails + q), rq, act, cols, cm, rows, rm, D, RD, x0n,
                     mn, ehn, etn, ihn, itn, gent, grel, gx0, ATOMIC)
        if ATOMIC:
            outer = g[:, None] * x0n[None, :]
            same = rq == r
            acc += tl.where(same, outer, 0.0)
            tl.atomic_add(gproj + rq * RD * D + rows[:, None] * D + cols[None, :], outer, mask=tl.where(act & (rq != r), m2, False),
                          sem="relaxed")
    total = tl.sum(count, axis=0)
    g = total * tl.sum(_dis_grad(xp[None, :], CODE), axis=0)
    mp = tl.load(proj + r * RD * D + rows[:, None] * D + cols[None, :], mask=m2, other=0.0)  # read again (L2), not
    # held in registers through the loop
    _transr_push(g, i, n_rows, tl.load(gheads + i), tl.load(gtails + i), r, total > 0, cols, cm, rows, rm, D, RD,
                 x0p, mp, ehp, etp, ihp, itp, gent, grel, gx0, ATOMIC)
    if ATOMIC:
        acc += g[:, None] * x0p[None, :]
        tl.atomic_add(gproj + r * RD * D + rows[:, None] * D + cols[None, :], acc, mask=tl.where(total > 0, m2, False), sem="relaxed")
    tl.store(partial + i, tl.sum(loss, axis=0))


@triton.jit
def transr_coef_kernel(heads, rels, tails, gheads, gtails, coef, ent, rel, proj, gent, grel, gproj, gx0, n, D, RD,
                       CODE: tl.constexpr, ATOMIC: tl.constexpr, BLOCK_RD: tl.constexpr, BLOCK_D: tl.constexpr):
    q = tl.program_id(0)
    cols = tl.arange(0, BLOCK_D)
    rows = tl.arange(0, BLOCK_RD)
    cm = cols < D
    rm = rows < RD
    h = tl.load(heads + q)
    r = tl.load(rels + q)
    t = tl.load(tails + q)
    c = tl.load(coef + q)
    x, x0, m, eh, et, ih, it = _transr_difference(ent, rel, proj, h, r, t, cols, cm, rows, rm, D, RD)
    g = -c * tl.sum(_dis_grad(x[None, :], CODE), axis=0)
    active = c != 0
    _transr_push(g, q, n, tl.load(gheads + q), tl.load(gtails + q), r, active, cols, cm, rows, rm, D, RD, x0, m, eh,
                 et, ih, it, gent, grel, gx0, ATOMIC)
    if ATOMIC:
        tl.atomic_add(gproj + r * RD * D + rows[:, None] * D + cols[None, :], g[:, None] * x0[None, :],
                      mask=tl.where(active, rm[:, None] & cm[None, :], False), sem="relaxed")


# --- the deterministic reductions ---

@triton.jit
def segment_sum_kernel(contrib, perm, starts, out_rows, out, D, BLOCK_N: tl.constexpr, BLOCK_D: tl.constexpr):
    """out[out_rows[s]] = the sum of contrib[perm[p]] over p in [starts[s], starts[s + 1]), in that order (a
    column tile per program along axis 1)."""
    s = tl.program_id(0)
    cols = tl.program_id(1) * BLOCK_D + tl.arange(0, BLOCK_D)
    cm = cols < D
    start = tl.load(starts + s)
    end = tl.load(starts + s + 1)
    acc = tl.zeros((BLOCK_D,), dtype=out.dtype.element_ty)
    for off in range(start, end, BLOCK_N):
        idx = off + tl.arange(0, BLOCK_N)
        m = idx < end
        src = tl.load(perm + idx, mask=m, other=0)
        acc += tl.sum(tl.load(contrib + src[:, None] * D + cols[None, :], mask=m[:, None] & cm[None, :], other=0.0),
                      axis=0)
    dst = tl.load(out_rows + s)
    tl.store(out + dst * D + cols, acc, mask=cm)


@triton.jit
def segment_outer_kernel(grows, xrows, perm, starts, out_rows, out, RD, D, BLOCK_N: tl.constexpr,
                         BLOCK_A: tl.constexpr, BLOCK_B: tl.constexpr):
    """out[out_rows[s]] (RD x D) = the sum of grows[p] x xrows[p]^T over the segment's rows, in order (TransR's
    d loss / d M_r); programs along axes 1 and 2 tile the matrix."""
    s = tl.program_id(0)
    a = tl.program_id(1) * BLOCK_A + tl.arange(0, BLOCK_A)
    b = tl.program_id(2) * BLOCK_B + tl.arange(0, BLOCK_B)
    am = a < RD
    bm = b < D
    start = tl.load(starts + s)
    end = tl.load(starts + s + 1)
    acc = tl.zeros((BLOCK_A, BLOCK_B), dtype=out.dtype.element_ty)
    for off in range(start, end, BLOCK_N):
        idx = off + tl.arange(0, BLOCK_N)
        m = idx < end
        src = tl.load(perm + idx, mask=m, other=0)
        g = tl.load(grows + src[:, None] * RD + a[None, :], mask=m[:, None] & am[None, :], other=0.0)
        x = tl.load(xrows + src[:, None] * D + b[None, :], mask=m[:, None] & bm[None, :], other=0.0)
        acc += tl.sum(g[:, :, None] * x[:, None, :], axis=0)
    dst = tl.load(out_rows + s)
    tl.store(out + dst * RD * D + a[:, None] * D + b[None, :], acc, mask=am[:, None] & bm[None, :])
