"""Every query row against every candidate row under a dissimilarity (the translation models' ranking),
in blocks small enough that memory stays bounded (never b x n x d beyond `max_elements`)."""

from __future__ import annotations

import functools
import warnings
from typing import Callable

import torch

from sparse_impl.dissimilarity import dissimilarity

__all__ = ["pairwise_scores", "MAX_ELEMENTS"]

MAX_ELEMENTS = 1 << 24  # elements of one (rows, n_entities, k) difference block: 64 MiB in float32
COMPILED_MAX_ELEMENTS = 1 << 27  # the compiled kernel fuses the reduction and never holds a block; a bound anyway

Scorer = Callable[[torch.Tensor, torch.Tensor, bool], torch.Tensor]
_COMPILE_FAILED: set[str] = set()  # dissimilarities whose compiled scorer failed in this process


def _eager_scorer(name: str) -> Scorer:
    """-D(q - c) (tail side) or -D(c - q) for every pair of a row block: (b, k), (n, k) -> (b, n)."""
    func = dissimilarity(name)

    def scores(queries: torch.Tensor, candidates: torch.Tensor, tail_side: bool) -> torch.Tensor:
        q = queries.unsqueeze(1)
        return -func(q - candidates.unsqueeze(0) if tail_side else candidates.unsqueeze(0) - q)

    return scores


@functools.lru_cache(maxsize=None)
def _compiled_scorer(name: str) -> Scorer | None:
    """The eager scorer under torch.compile: one fused loop instead of several passes over a (b, n, k) block
    (about 70x faster for the torus distances on CPU); None where this machine cannot compile."""
    try:
        return torch.compile(_eager_scorer(name), dynamic=True)
    except Exception:  # noqa: BLE001 - no compiler or backend here: evaluate eagerly
        return None


def _squared_l2(queries: torch.Tensor, candidates: torch.Tensor) -> torch.Tensor:
    """||q - c||^2 for every pair, by one GEMM in float64 (so the expansion loses nothing to rounding)."""
    q = queries.double()
    c = candidates.double()
    out = (q * q).sum(1, keepdim=True) - 2 * q @ c.t() + (c * c).sum(1).unsqueeze(0)
    return out.clamp_(min=0)


def pairwise_scores(name: str, queries: torch.Tensor, candidates: torch.Tensor, tail_side: bool,
                    max_elements: int = MAX_ELEMENTS, use_compile: bool = True) -> torch.Tensor:
    """Scores (higher is better) of every query row against every candidate row: (b, k), (n, k) -> (b, n).

    tail_side: the difference is q - c (tail queries), else c - q (head queries); this matters only
    for dissimilarities that are not symmetric. L2sq and L2 use the GEMM expansion, L1 torch.cdist, the
    torus ones explicit differences, fused by torch.compile where it works (else eagerly in row blocks of
    at most `max_elements` elements).
    """
    if name == "L2sq":
        return -_squared_l2(queries, candidates)
    if name == "L2":
        return -_squared_l2(queries, candidates).sqrt_()
    if name == "L1":
        return -torch.cdist(queries.double(), candidates.double(), p=1)
    compiled = _compiled_scorer(name) if use_compile and name not in _COMPILE_FAILED else None
    if compiled is not None:
        try:
            return _blocks(compiled, queries, candidates, tail_side, max(max_elements, COMPILED_MAX_ELEMENTS))
        except Exception as exc:  # noqa: BLE001 - e.g. no C++ compiler at the first call: fall back, once
            warnings.warn(f"torch.compile failed for {name} ({type(exc).__name__}); evaluating eagerly", stacklevel=2)
            _COMPILE_FAILED.add(name)
    return _blocks(_eager_scorer(name), queries, candidates, tail_side, max_elements)


def _blocks(scorer: Scorer, queries: torch.Tensor, candidates: torch.Tensor, tail_side: bool,
            max_elements: int) -> torch.Tensor:
    """The scorer over row blocks of at most `max_elements` (rows x n x k) elements, as float64 (b, n)."""
    n, k = candidates.shape
    rows = max(1, max_elements // max(1, n * k))
    blocks = [scorer(queries[start : start + rows], candidates, tail_side).double()
              for start in range(0, queries.shape[0], rows)]
    return torch.cat(blocks, dim=0) if blocks else queries.new_zeros((0, n), dtype=torch.float64)
