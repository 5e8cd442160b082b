"""The losses of sparse_impl.loss inside the fused kernels: for one positive and its k negatives, the loss and
its derivative with respect to every score, so a kernel applies it while the rows are still in cache."""

from __future__ import annotations

import math
from dataclasses import dataclass

from numba import njit

from sparse_impl.backends.fused.dissimilarity import FASTMATH

__all__ = ["LossCode", "group_loss"]


@dataclass(frozen=True)
class LossCode:
    """A loss as the kernels take it: its code (sparse_impl.loss.LossFunction.code), margin and temperature."""

    code: int
    margin: float
    temperature: float = 1.0


@njit(fastmath=FASTMATH, inline="always", cache=True)
def _softplus(x: float) -> float:
    return max(x, 0.0) + math.log1p(math.exp(-abs(x)))


@njit(fastmath=FASTMATH, inline="always", cache=True)
def _sigmoid(x: float) -> float:
    if x >= 0.0:
        return 1.0 / (1.0 + math.exp(-x))
    z = math.exp(x)
    return z / (1.0 + z)


@njit(fastmath=FASTMATH, inline="always", cache=True)
def group_loss(code, margin, alpha, sp, sn, gn):
    """(loss, d loss / d sp) of one positive's score `sp` and its negatives' scores `sn` (k,), writing d loss / d
    sn into `gn`: 0 margin ranking, 1 softplus, 2 self-adversarial (sparse_impl.loss)."""
    k = sn.shape[0]
    if code == 0:
        loss, gp = 0.0, 0.0
        for j in range(k):
            v = margin - sp + sn[j]
            if v > 0.0:
                loss += v
                gp -= 1.0
                gn[j] = 1.0
            else:
                gn[j] = 0.0
        return loss, gp
    if code == 1:
        loss, gp = _softplus(-sp), -_sigmoid(-sp)
        for j in range(k):
            loss += _softplus(sn[j])
            gn[j] = _sigmoid(sn[j])
        return loss, gp
    top = -math.inf
    for j in range(k):
        top = max(top, alpha * sn[j])
    total = 0.0
    for j in range(k):
        gn[j] = math.exp(alpha * sn[j] - top)  # the softmax's weights, unnormalised, for now
        total += gn[j]
    loss, gp = 0.5 * _softplus(-(margin + sp)), -0.5 * _sigmoid(-(margin + sp))
    for j in range(k):
        w = gn[j] / total
        loss += 0.5 * w * _softplus(margin + sn[j])
        gn[j] = 0.5 * w * _sigmoid(margin + sn[j])
    return loss, gp
