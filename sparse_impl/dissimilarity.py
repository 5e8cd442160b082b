"""Dissimilarities d(a, b) between translated heads and tails, row-wise over the last dimension: one
registry of name -> (function, FLOPs), read by every model, the evaluator and the FLOP count.

They take the difference x = a - b (what the SpMM produces) and follow TorchKGE's formulas exactly,
including its torus_L2, which is 4 * sum(min(x^2, 1 - x^2)) (not (1 - |x|)^2).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import torch

__all__ = ["DISSIMILARITIES", "Dissimilarity", "dissimilarity", "dissimilarity_flops"]

DissimilarityFunction = Callable[[torch.Tensor], torch.Tensor]


@dataclass(frozen=True)
class Dissimilarity:
    """One dissimilarity: d(x) of difference rows, and its forward FLOPs on a row of width w
    (an add, multiply, comparison or square root is 1 FLOP; see harness.measure.model_flops)."""

    function: DissimilarityFunction
    flops: Callable[[int], int]


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
    "L1": Dissimilarity(_l1, lambda w: 2 * w),  # abs, sum
    "L2": Dissimilarity(_l2, lambda w: 2 * w + 1),  # square, sum, sqrt
    "L2sq": Dissimilarity(_l2_squared, lambda w: 2 * w),  # square, sum
    "torus_L1": Dissimilarity(_torus_l1, lambda w: 4 * w + 1),  # abs, 1 - |x|, min, sum; x2
    "torus_L2": Dissimilarity(_torus_l2, lambda w: 4 * w + 1),
    "torus_eL2": Dissimilarity(_torus_el2, lambda w: 6 * w + 1),
}


def dissimilarity(name: str) -> DissimilarityFunction:
    """The named dissimilarity of a difference tensor x = a - b: shape (B, d) -> (B,)."""
    return DISSIMILARITIES[name].function


def dissimilarity_flops(name: str, width: int) -> int:
    """Forward FLOPs of the named dissimilarity on one difference row of `width` elements."""
    return DISSIMILARITIES[name].flops(width)
