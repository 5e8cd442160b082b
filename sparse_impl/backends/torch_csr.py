"""SpMM with torch.sparse CSR tensors, and a backward that reuses a pre-built CSR transpose."""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import torch

from sparse_impl.backends.base import SpMMBackend
from sparse_impl.incidence import IncidencePattern

__all__ = ["TorchCSRBackend", "CSRPair"]


@dataclass(frozen=True)
class CSRPair:
    """A CSR matrix and its CSR transpose."""

    matrix: torch.Tensor
    transpose: torch.Tensor


class _CSRSpMM(torch.autograd.Function):
    """y = A @ X; dX = A^T @ dy, with A^T already in CSR so the backward is one more SpMM."""

    @staticmethod
    def forward(ctx, a: torch.Tensor, a_t: torch.Tensor, dense: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        ctx.a_t = a_t
        return torch.sparse.mm(a, dense)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):  # type: ignore[override]
        return None, None, torch.sparse.mm(ctx.a_t, grad.contiguous())


class TorchCSRBackend(SpMMBackend):
    """torch.sparse.mm on CSR tensors: available wherever torch is."""

    name = "torch"

    def build(self, pattern: IncidencePattern) -> CSRPair:
        n_rows, n_cols = pattern.shape
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta state")
            a = torch.sparse_csr_tensor(pattern.crow, pattern.cols, pattern.values,
                                        size=(n_rows, n_cols), check_invariants=False)
            a_t = torch.sparse_csr_tensor(pattern.t_crow, pattern.t_cols, pattern.t_values,
                                          size=(n_cols, n_rows), check_invariants=False)
        return CSRPair(a, a_t)

    def spmm(self, matrix: CSRPair, dense: torch.Tensor) -> torch.Tensor:
        return _CSRSpMM.apply(matrix.matrix, matrix.transpose, dense)
