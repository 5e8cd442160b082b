"""The model's analytic FLOPs per training step: what its math costs, the same for every framework
doing identical work, whatever kernels it runs (its `flops_executed` may differ; see flops.py).

Conventions, per scored triple (n = B * (1 + k) rows, d = dim, d_r = TransR's relation dimension):
an add, multiply, comparison or square root is 1 FLOP; a dot product of length d is 2d.
- Normalising an entity row (TransE, TransR, TransH): 2d (squares and sum) + 1 (sqrt) + d (divide)
  = 3d + 1, twice per triple (head and tail), i.e. the math of the batch's rows, not the whole table.
- Translation: TransE / TorusE h + r - t: 2d. TransR h - t: d, M_r (h - t): 2 d_r d, + r: d_r.
  TransH h - t: d, normalising w_r: 3d + 1, x - (x.w) w: 2d + 2d, + d_r: d.
  TorusE: frac of h, r and t: 3d.
- Dissimilarity of x (width w): L1 = 2w (abs, sum); L2 = 2w + 1; L2sq = 2w (square, sum);
  torus_L1 = 4w + 1 (abs, 1 - |x|, min, sum; x2); torus_L2 = 4w + 1; torus_eL2 = 6w + 1.
- Margin loss per negative: 3 (margin - pos + neg) + 1 (clamp) + 1 (sum).
Training = forward + backward, counted as 3 x forward (the backward of each op costs about twice
its forward); the optimizer update is left out (dense vs row-sparse Adam is a framework choice).
"""

from __future__ import annotations

from typing import Callable

__all__ = ["DISSIMILARITY_FLOPS", "MODEL_FORWARD_FLOPS", "model_flops_per_step", "forward_flops_per_triple"]


def _normalise_rows(d: int) -> int:
    return 2 * (3 * d + 1)


DISSIMILARITY_FLOPS: dict[str, Callable[[int], int]] = {
    "L1": lambda w: 2 * w,
    "L2": lambda w: 2 * w + 1,
    "L2sq": lambda w: 2 * w,
    "torus_L1": lambda w: 4 * w + 1,
    "torus_L2": lambda w: 4 * w + 1,
    "torus_eL2": lambda w: 6 * w + 1,
}

# Forward FLOPs of the translation (before the dissimilarity) per triple, and the width it leaves.
MODEL_FORWARD_FLOPS: dict[str, Callable[[int, int], tuple[int, int]]] = {
    "transe": lambda d, d_r: (_normalise_rows(d) + 2 * d, d),
    "transr": lambda d, d_r: (_normalise_rows(d) + d + 2 * d_r * d + d_r, d_r),
    "transh": lambda d, d_r: (_normalise_rows(d) + d + (3 * d + 1) + 4 * d + d, d),
    "toruse": lambda d, d_r: (3 * d + 2 * d, d),
}

_LOSS_PER_NEGATIVE = 5


def forward_flops_per_triple(model: str, dissimilarity: str, dim: int, rel_dim: int | None) -> int:
    """Forward FLOPs of scoring one triple (translation plus dissimilarity)."""
    translation, width = MODEL_FORWARD_FLOPS[model](dim, rel_dim or dim)
    return translation + DISSIMILARITY_FLOPS[dissimilarity](width)


def model_flops_per_step(model: str, dissimilarity: str, dim: int, rel_dim: int | None, batch_size: int,
                         num_negatives: int) -> int:
    """Analytic FLOPs of one training step (forward and backward) over a batch and its negatives."""
    rows = batch_size * (1 + num_negatives)
    forward = rows * forward_flops_per_triple(model, dissimilarity, dim, rel_dim)
    forward += batch_size * num_negatives * _LOSS_PER_NEGATIVE
    return 3 * forward
