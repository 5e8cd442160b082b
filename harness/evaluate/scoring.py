"""Scores of one query against every entity, from canonical parameters and the model's spec, in
blocks small enough that memory stays bounded (never n_relations x n_entities x d, nor b x n x d
beyond `max_elements`).

Tail query (h, r, ?): q = P_r(h) + t_r, candidate e scores -D(q - P_r(e)).
Head query (?, r, t): q = P_r(t) - t_r, candidate e scores -D(P_r(e) - q).
"""

from __future__ import annotations

import torch

from sparse_impl.dissimilarity import dissimilarity

__all__ = ["pairwise_scores", "MAX_ELEMENTS"]

MAX_ELEMENTS = 1 << 24  # elements of one (rows, n_entities, k) difference block: 64 MiB in float32


def _squared_l2(queries: torch.Tensor, candidates: torch.Tensor) -> torch.Tensor:
    """||q - c||^2 for every pair, by one GEMM in float64 (so the expansion loses nothing to rounding)."""
    q = queries.double()
    c = candidates.double()
    out = (q * q).sum(1, keepdim=True) - 2 * q @ c.t() + (c * c).sum(1).unsqueeze(0)
    return out.clamp_(min=0)


def pairwise_scores(name: str, queries: torch.Tensor, candidates: torch.Tensor, tail_side: bool,
                    max_elements: int = MAX_ELEMENTS) -> torch.Tensor:
    """Scores (higher is better) of every query row against every candidate row: (b, k), (n, k) -> (b, n).

    tail_side: the difference is q - c (tail queries), else c - q (head queries); this matters only
    for dissimilarities that are not symmetric. L2sq and L2 use the GEMM expansion, L1 torch.cdist, the
    torus ones explicit differences in row blocks of at most `max_elements` elements.
    """
    if name == "L2sq":
        return -_squared_l2(queries, candidates)
    if name == "L2":
        return -_squared_l2(queries, candidates).sqrt_()
    if name == "L1":
        return -torch.cdist(queries.double(), candidates.double(), p=1)
    func = dissimilarity(name)
    n, k = candidates.shape
    rows = max(1, max_elements // max(1, n * k))
    blocks = []
    for start in range(0, queries.shape[0], rows):
        q = queries[start : start + rows].unsqueeze(1)
        diff = q - candidates.unsqueeze(0) if tail_side else candidates.unsqueeze(0) - q
        blocks.append(-func(diff).double())
    return torch.cat(blocks, dim=0) if blocks else queries.new_zeros((0, n), dtype=torch.float64)
