"""SpMM as a weighted segment sum over CSR rows, computed by torch's fused `embedding_bag` kernel.

Row i of A @ X is sum_j values[j] * X[cols[j]] over row i's non-zeros: exactly what
embedding_bag(cols, X, offsets=crow[:-1], per_sample_weights=values, mode="sum") computes, in one
pass with no atomics. The backward, A^T @ dY, is the same kernel over the pre-built CSR transpose.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch.nn.functional import embedding_bag

from sparse_impl.backends.base import SpMMBackend
from sparse_impl.incidence import IncidencePattern

__all__ = ["SegmentSumBackend", "SegmentCSR"]


@dataclass(frozen=True)
class SegmentCSR:
    """A CSR matrix as (columns, row starts, values), and the same for its transpose."""

    cols: torch.Tensor
    starts: torch.Tensor
    values: torch.Tensor
    t_cols: torch.Tensor
    t_starts: torch.Tensor
    t_values: torch.Tensor


def _segment_sum(cols: torch.Tensor, starts: torch.Tensor, values: torch.Tensor, dense: torch.Tensor) -> torch.Tensor:
    return embedding_bag(cols, dense, offsets=starts, per_sample_weights=values, mode="sum")


class _SegmentSpMM(torch.autograd.Function):
    """y = A @ X and dX = A^T @ dy, both as segment sums."""

    @staticmethod
    def forward(ctx, matrix: SegmentCSR, dense: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        ctx.matrix = matrix
        return _segment_sum(matrix.cols, matrix.starts, matrix.values, dense)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):  # type: ignore[override]
        m = ctx.matrix
        return None, _segment_sum(m.t_cols, m.t_starts, m.t_values, grad.contiguous())


class SegmentSumBackend(SpMMBackend):
    """CSR SpMM through embedding_bag's fused weighted segment sum (CPU and CUDA)."""

    name = "segment"

    def build(self, pattern: IncidencePattern) -> SegmentCSR:
        return SegmentCSR(pattern.cols, pattern.crow[:-1], pattern.values,
                          pattern.t_cols, pattern.t_crow[:-1], pattern.t_values)

    def spmm(self, matrix: SegmentCSR, dense: torch.Tensor) -> torch.Tensor:
        return _SegmentSpMM.apply(matrix, dense)
