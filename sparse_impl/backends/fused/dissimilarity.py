"""The dissimilarities of sparse_impl.dissimilarity as numba functions of one difference row: the value
and its gradient, written for the fused kernels. Formulas follow TorchKGE (see that module)."""

from __future__ import annotations

import math

import numpy as np
from numba import njit

__all__ = ["DISSIMILARITY_CODES", "dissimilarity_grad", "dissimilarity_value"]

# The kernels branch on this code once per row, outside the per-element loops.
DISSIMILARITY_CODES: dict[str, int] = {"L1": 0, "L2": 1, "L2sq": 2, "torus_L1": 3, "torus_L2": 4, "torus_eL2": 5}

FASTMATH = {"reassoc", "contract", "nsz", "arcp"}  # vectorised sums; no assumptions about inf or nan
TWO_PI = 2.0 * math.pi


@njit(fastmath=FASTMATH, inline="always", cache=True)
def dissimilarity_value(code: int, x: np.ndarray) -> float:
    """d(x) for one row x = a - b."""
    acc = 0.0
    if code == 0:
        for k in range(x.shape[0]):
            acc += abs(x[k])
        return acc
    if code == 1 or code == 2:
        for k in range(x.shape[0]):
            acc += x[k] * x[k]
        return math.sqrt(acc) if code == 1 else acc
    if code == 3:
        for k in range(x.shape[0]):
            a = abs(x[k])
            acc += min(a, 1.0 - a)
        return 2.0 * acc
    if code == 4:
        for k in range(x.shape[0]):
            sq = x[k] * x[k]
            acc += min(sq, 1.0 - sq)
        return 4.0 * acc
    for k in range(x.shape[0]):
        tmp = min(x[k], 1.0 - x[k])
        acc += 2.0 * (1.0 - math.cos(TWO_PI * tmp))
    return acc / 4.0


@njit(fastmath=FASTMATH, inline="always", cache=True)
def dissimilarity_grad(code: int, x: np.ndarray, scale: float, out: np.ndarray) -> None:
    """out = scale * d'(x), the gradient of d at row x (subgradient 0 where |x| or the norm is 0)."""
    d = x.shape[0]
    if code == 0:
        for k in range(d):
            out[k] = scale * ((x[k] > 0) - (x[k] < 0))
    elif code == 1:
        acc = 0.0
        for k in range(d):
            acc += x[k] * x[k]
        inv = scale / math.sqrt(acc) if acc > 0.0 else 0.0
        for k in range(d):
            out[k] = inv * x[k]
    elif code == 2:
        for k in range(d):
            out[k] = 2.0 * scale * x[k]
    elif code == 3:
        for k in range(d):
            a = abs(x[k])
            sign = (x[k] > 0) - (x[k] < 0)
            out[k] = 2.0 * scale * (sign if a < 1.0 - a else -sign)
    elif code == 4:
        for k in range(d):
            sq = x[k] * x[k]
            out[k] = 4.0 * scale * (2.0 * x[k] if sq < 1.0 - sq else -2.0 * x[k])
    else:
        for k in range(d):
            below = x[k] < 1.0 - x[k]
            tmp = x[k] if below else 1.0 - x[k]
            g = 0.5 * TWO_PI * math.sin(TWO_PI * tmp)
            out[k] = scale * (g if below else -g)
