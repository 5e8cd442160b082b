"""numba kernels of the row-sparse optimizers (harness.optim): one pass over the touched rows that reads each
row's gradient, moves the row and its state, and applies the row's constraint (unit norm, frac) while the row
is in cache; rows a step did not touch are never read. Parallel over rows (distinct rows: no races).

The `*_partial` kernels take the gradient where the fused loss kernel left it, in per-thread rows
(workspace.PendingRows): each row's gradient is summed over the threads that touched it, taken through the normalisation's
Jacobian and applied in the same pass, from the row's copy the forward made, so neither a gradient table nor
a second read of the table's rows exists (FBGEMM's backward fused with the optimizer).

Arithmetic per element as the torch reference in harness.optim (float64 accumulation of the row mean).
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit, prange

from sparse_impl.backends.fused.dissimilarity import FASTMATH
from sparse_impl.backends.fused.kernels import normalisation_jacobian, sum_partials
from sparse_impl.backends.fused.prefetch import PREFETCH_AHEAD, prefetch_row_write

__all__ = ["CONSTRAINT_CODES", "adagrad_rowwise_partial", "adagrad_rowwise_rows", "lazy_adam_partial", "lazy_adam_rows"]

# A row's constraint after its update (harness.models.base.ROW_CONSTRAINTS names them).
CONSTRAINT_CODES: dict[str, int] = {"none": 0, "unit": 1, "frac": 2}
_EPS_NORM = 1e-12  # torch.nn.functional.normalize's eps


@njit(fastmath=FASTMATH, inline="always", cache=True)
def _constrain(row: np.ndarray, code: int) -> None:
    if code == 1:
        acc = 0.0
        for k in range(row.shape[0]):
            acc += row[k] * row[k]
        scale = 1.0 / max(math.sqrt(acc), _EPS_NORM)
        for k in range(row.shape[0]):
            row[k] = row[k] * scale
    elif code == 2:
        for k in range(row.shape[0]):
            row[k] = row[k] - math.trunc(row[k])


@njit(parallel=True, fastmath=FASTMATH, cache=True)
def adagrad_rowwise_rows(table, state, ids, grads, lr, eps, weight_decay, constraint):
    """For each u: g = grads[u] + wd * table[ids[u]]; state[r] += mean(g^2); table[r] -= lr g / (sqrt(state[r]) + eps);
    then the row's constraint. table, grads: (n, d) and (U, d); state: (n,)."""
    dim = table.shape[1]
    for u in prange(ids.shape[0]):
        r = ids[u]
        row = table[r]
        g = grads[u]
        square = 0.0
        for k in range(dim):
            gk = g[k] + weight_decay * row[k]
            square += gk * gk
        state[r] += square / dim
        step = lr / (math.sqrt(state[r]) + eps)
        for k in range(dim):
            row[k] -= step * (g[k] + weight_decay * row[k])
        _constrain(row, constraint)


@njit(parallel=True, fastmath=FASTMATH, cache=True)
def lazy_adam_rows(table, exp_avg, exp_avg_sq, ids, grads, step_size, beta1, beta2, eps, weight_decay, constraint):
    """torch.optim.SparseAdam's update of each touched row (step_size = lr sqrt(1 - b2^t) / (1 - b1^t)), with
    g = grads[u] + wd * row, then the row's constraint."""
    dim = table.shape[1]
    for u in prange(ids.shape[0]):
        r = ids[u]
        row, m, v, g = table[r], exp_avg[r], exp_avg_sq[r], grads[u]
        for k in range(dim):
            gk = g[k] + weight_decay * row[k]
            m[k] += (gk - m[k]) * (1.0 - beta1)
            v[k] += (gk * gk - v[k]) * (1.0 - beta2)
            row[k] -= step_size * m[k] / (math.sqrt(v[k]) + eps)
        _constrain(row, constraint)


ROW_BLOCK = 256  # rows per parallel task of the *_partial kernels


@njit(fastmath=FASTMATH, inline="always", cache=True)
def _take_gradient(partial, touched, u, row, inverse_norm, normalized, scale, acc) -> None:
    """acc = scale * the gradient of row u from the per-thread rows (those that touched it), through the
    normalisation's Jacobian where the model normalises the row."""
    sum_partials(partial, touched, u, acc)
    if normalized:
        normalisation_jacobian(acc, row, inverse_norm)
    if scale != 1.0:
        for k in range(acc.shape[0]):
            acc[k] *= scale


@njit(parallel=True, fastmath=FASTMATH, cache=True)
def adagrad_rowwise_partial(table, state, ids, rows, partial, touched, inv, normalized, scale, lr, eps, weight_decay,
                            constraint):
    """adagrad_rowwise_rows with the gradient of row ids[u] taken from partial[:, u] (_take_gradient) and the
    row's value from rows[u]. The table row and state PREFETCH_AHEAD rows ahead are prefetched for writing."""
    dim, n = table.shape[1], ids.shape[0]
    for b in prange((n + ROW_BLOCK - 1) // ROW_BLOCK):
        g = np.empty(dim)
        for u in range(b * ROW_BLOCK, min(n, (b + 1) * ROW_BLOCK)):
            if u + PREFETCH_AHEAD < n:
                ahead = ids[u + PREFETCH_AHEAD]
                prefetch_row_write(table[ahead])
                prefetch_row_write(state[ahead:ahead + 1])
            row = rows[u]
            _take_gradient(partial, touched, u, row, inv[u], normalized, scale, g)
            square = 0.0
            for k in range(dim):
                g[k] += weight_decay * row[k]
                square += g[k] * g[k]
            r = ids[u]
            state[r] += square / dim
            step = lr / (math.sqrt(state[r]) + eps)
            out = table[r]
            for k in range(dim):
                out[k] = row[k] - step * g[k]
            _constrain(out, constraint)


@njit(parallel=True, fastmath=FASTMATH, cache=True)
def lazy_adam_partial(table, exp_avg, exp_avg_sq, ids, rows, partial, touched, inv, normalized, scale, step_size, beta1,
                      beta2, eps, weight_decay, constraint):
    """lazy_adam_rows with the gradient of row ids[u] taken from partial[:, u] (_take_gradient) and the row's
    value from rows[u]. The table row and moments PREFETCH_AHEAD rows ahead are prefetched for writing."""
    dim, n = table.shape[1], ids.shape[0]
    for b in prange((n + ROW_BLOCK - 1) // ROW_BLOCK):
        g = np.empty(dim)
        for u in range(b * ROW_BLOCK, min(n, (b + 1) * ROW_BLOCK)):
            if u + PREFETCH_AHEAD < n:
                ahead = ids[u + PREFETCH_AHEAD]
                prefetch_row_write(table[ahead])
                prefetch_row_write(exp_avg[ahead])
                prefetch_row_write(exp_avg_sq[ahead])
            row = rows[u]
            _take_gradient(partial, touched, u, row, inv[u], normalized, scale, g)
            r = ids[u]
            m, v, out = exp_avg[r], exp_avg_sq[r], table[r]
            for k in range(dim):
                gk = g[k] + weight_decay * row[k]
                m[k] += (gk - m[k]) * (1.0 - beta1)
                v[k] += (gk * gk - v[k]) * (1.0 - beta2)
                out[k] = row[k] - step_size * m[k] / (math.sqrt(v[k]) + eps)
            _constrain(out, constraint)
