"""RotatE (Sun et al., 2019): a relation rotates the head in the complex plane, score -D(h * r - t) with |r_i| = 1.

Relations are stored as phases theta (r = cos theta + i sin theta: |r_i| = 1 holds by construction, with no
constraint to apply), as the RotatE paper's code, DGL-KE and PyG store them; PyKEEN stores complex r and
re-normalises it to unit modulus after every step (same scores, another parameterisation of the gradient).

D, the `dissimilarity`, is where frameworks differ:
- `L1` (default): the sum of the coordinates' moduli, sum_i |h_i r_i - t_i| (the RotatE paper, DGL-KE);
- `L2`: the norm of the whole complex vector, sqrt(sum_i |h_i r_i - t_i|^2) (PyKEEN's RotatE, PyG's RotatE).
"""

from __future__ import annotations

import functools
import math
import warnings
from typing import Callable, Mapping

import torch

from harness.models.base import CandidateGroup, ModelSpec, TableSpec, Tables
from harness.models.complex_ import check_even, complex_halves
from harness.models.pairwise import pairwise_scores

__all__ = ["RotatE", "rotated_difference"]


def rotated_difference(h: torch.Tensor, theta: torch.Tensor, t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(real, imaginary) parts of h * r - t with r = exp(i theta): rows [re | im] (n, 2k), phases (n, k)."""
    (h_re, h_im), (t_re, t_im) = complex_halves(h), complex_halves(t)
    c, s = torch.cos(theta), torch.sin(theta)
    return h_re * c - h_im * s - t_re, h_re * s + h_im * c - t_im


def complex_distance(name: str, re: torch.Tensor, im: torch.Tensor) -> torch.Tensor:
    """D of complex vectors given by their parts (..., k): the sum of moduli (L1) or the vector norm (L2)."""
    if name == "L1":
        return torch.linalg.vector_norm(torch.stack((re, im), dim=-1), dim=-1).sum(dim=-1)
    return torch.linalg.vector_norm(torch.cat((re, im), dim=-1), dim=-1)


def _moduli_sums(queries: torch.Tensor, candidates: torch.Tensor) -> torch.Tensor:
    """sum_i |q_i - c_i| for every (query, candidate) pair: (b, 2k), (n, 2k) -> (b, n)."""
    q_re, q_im = complex_halves(queries.unsqueeze(1))
    c_re, c_im = complex_halves(candidates.unsqueeze(0))
    return torch.sqrt((q_re - c_re) ** 2 + (q_im - c_im) ** 2).sum(dim=-1)


@functools.lru_cache(maxsize=None)
def _compiled_moduli_sums() -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None:
    """_moduli_sums under torch.compile (one fused loop, no (b, n, k) block); None where this machine cannot."""
    try:
        return torch.compile(_moduli_sums, dynamic=True)
    except Exception:  # noqa: BLE001 - no compiler here: evaluate eagerly
        return None


def moduli_sum_scores(queries: torch.Tensor, candidates: torch.Tensor, max_elements: int) -> torch.Tensor:
    """-sum_i |q_i - c_i| for every pair, float64, in row blocks of at most `max_elements` (rows x n x k)."""
    queries, candidates = queries.double(), candidates.double()
    n, k = candidates.shape[0], candidates.shape[1] // 2
    rows = max(1, max_elements // max(1, n * k))
    scorer = _compiled_moduli_sums() or _moduli_sums
    blocks = []
    for start in range(0, queries.shape[0], rows):
        block = queries[start : start + rows]
        try:
            blocks.append(-scorer(block, candidates))
        except Exception as exc:  # noqa: BLE001 - e.g. no C++ compiler at the first call: eagerly from here on
            if scorer is _moduli_sums:
                raise
            warnings.warn(f"torch.compile failed for RotatE's ranking ({type(exc).__name__}); evaluating eagerly",
                          stacklevel=2)
            scorer = _moduli_sums
            blocks.append(-scorer(block, candidates))
    return torch.cat(blocks) if blocks else queries.new_zeros((0, n))


class RotatE(ModelSpec):
    """RotatE. `--dim` counts real parameters per entity row (d = 128: 64 complex coordinates, [re | im]); a
    relation row holds d/2 phases. No constraint, no in-score view (entities are free, as in the paper)."""

    name = "rotate"
    title = "RotatE"
    interaction = "rotation"
    dissimilarities = ("L1", "L2")
    entity_constraint = "none"

    def tables(self, n_entities: int, n_relations: int, dim: int, rel_dim: int | None) -> dict[str, TableSpec]:
        check_even(self.name, dim)
        return {"entity": TableSpec((n_entities, dim), "entity"),
                "relation": TableSpec((n_relations, dim // 2), "relation")}

    def initial(self, shapes: Mapping[str, tuple[int, ...]], generator: torch.Generator) -> dict[str, torch.Tensor]:
        """Xavier-uniform entities; phases uniform in [0, 2 pi), as PyG's RotatE draws them."""
        params = super().initial(shapes, generator)
        params["relation"] = torch.rand(shapes["relation"], generator=generator).mul_(2 * math.pi)
        return params

    def entity_view(self, entity: torch.Tensor) -> torch.Tensor:
        return entity

    def score(self, params: Tables, dissimilarity: str | None, heads: torch.Tensor, relations: torch.Tensor,
              tails: torch.Tensor, view_rows: bool = False) -> torch.Tensor:
        assert dissimilarity in self.dissimilarities
        entity = params["entity"]
        re, im = rotated_difference(entity.index_select(0, heads), params["relation"].index_select(0, relations),
                                    entity.index_select(0, tails))
        return -complex_distance(dissimilarity, re, im)

    def forward_flops(self, dissimilarity: str | None, dim: int, rel_dim: int | None) -> int:
        # per complex coordinate (k = d/2): cos and sin 2, h * r 6, - t 2, |.|: 2 squares + add + sqrt 4, sum 1
        # (L2: the squares of every coordinate summed, one sqrt)
        k = dim // 2
        return (2 + 6 + 2 + 4 + 1) * k if dissimilarity == "L1" else (2 + 6 + 2 + 4) * k + 1

    def candidate_groups(self, params: Tables, triples: torch.Tensor) -> list[CandidateGroup]:
        return [CandidateGroup(torch.arange(triples.shape[0]), params["entity"].double())]

    def candidate_scores(self, params: Tables, dissimilarity: str | None, group: CandidateGroup,
                         anchors: torch.Tensor, relations: torch.Tensor, tail_side: bool,
                         max_elements: int) -> torch.Tensor:
        """Tail (h, r, ?): -D(q - e) with q = h r; head (?, r, t): |e r - t| = |e - t conj(r)| (|r_i| = 1), so
        -D(e - q) with q = t conj(r). L2 by the GEMM expansion, L1 (sum of moduli) in fused blocks."""
        entities = group.context
        a_re, a_im = complex_halves(entities.index_select(0, anchors))
        theta = params["relation"].index_select(0, relations).double()
        c, s = torch.cos(theta), torch.sin(theta)
        if not tail_side:  # conj(r)
            s = -s
        query = torch.cat((a_re * c - a_im * s, a_re * s + a_im * c), dim=1)
        if dissimilarity == "L2":
            return pairwise_scores("L2", query, entities, tail_side, max_elements)
        return moduli_sum_scores(query, entities, max_elements)

    def describe(self) -> str:
        return "RotatE (Sun et al., 2019): -D(h * r - t), |r_i| = 1"
