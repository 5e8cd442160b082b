"""The SpMM backend interface: turn an incidence pattern into a backend-native matrix once per batch,
then multiply it with a dense table, with autograd giving A^T @ grad for the dense operand."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, ClassVar

import torch

from sparse_impl.incidence import IncidencePattern

__all__ = ["SpMMBackend", "BackendUnavailable"]


class BackendUnavailable(RuntimeError):
    """Raised when a backend's library cannot be loaded here; the message says why."""


class SpMMBackend(ABC):
    """One way of computing A @ X (and its gradient) for a sparse incidence A and a dense X."""

    name: ClassVar[str]

    @classmethod
    def unavailable_reason(cls) -> str | None:
        """None when the backend can run here, else a one-line reason."""
        return None

    @abstractmethod
    def build(self, pattern: IncidencePattern) -> Any:
        """Backend-native form of the matrix (done in the batch-preparation phase)."""

    @abstractmethod
    def spmm(self, matrix: Any, dense: torch.Tensor) -> torch.Tensor:
        """A @ dense, differentiable with respect to `dense`. dense: shape (n_cols, d) -> (n_rows, d)."""
