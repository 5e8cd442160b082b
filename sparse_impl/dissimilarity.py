"""Dissimilarities d(a, b) between translated heads and tails, row-wise over the last dimension.

They take the difference x = a - b (what the SpMM produces) and follow TorchKGE's formulas exactly,
including its torus_L2, which is 4 * sum(min(x^2, 1 - x^2)) (not (1 - |x|)^2).
"""

from __future__ import annotations

import math
from typing import Callable

import torch

__all__ = ["DISSIMILARITIES", "dissimilarity"]

Dissimilarity = Callable[[torch.Tensor], torch.Tensor]


def _l1(x: torch.Tensor) -> torch.Tensor:
    return x.norm(p=1, dim=-1)


def _l2(x: torch.Tensor) -> torch.Tensor:
    return x.norm(p=2, dim=-1)


def _l2_squared(x: torch.Tensor) -> torch.Tensor:
    # sum of squares rather than norm()**2: the same value to rounding, with a far cheaper backward (2 x g)
    return (x * x).sum(dim=-1)


def _torus_l1(x: torch.Tensor) -> torch.Tensor:
    ax = x.abs()
    return 2 * torch.minimum(ax, 1 - ax).sum(dim=-1)


def _torus_l2(x: torch.Tensor) -> torch.Tensor:
    sq = x**2
    return 4 * torch.minimum(sq, 1 - sq).sum(dim=-1)


def _torus_el2(x: torch.Tensor) -> torch.Tensor:
    tmp = torch.minimum(x, 1 - x)
    return (2 * (1 - torch.cos(2 * math.pi * tmp))).sum(dim=-1) / 4


DISSIMILARITIES: dict[str, Dissimilarity] = {
    "L1": _l1,
    "L2": _l2,
    "L2sq": _l2_squared,
    "torus_L1": _torus_l1,
    "torus_L2": _torus_l2,
    "torus_eL2": _torus_el2,
}


def dissimilarity(name: str) -> Dissimilarity:
    """The named dissimilarity of a difference tensor x = a - b: shape (B, d) -> (B,)."""
    return DISSIMILARITIES[name]
