"""Registry of SpMM backends: adding one is a new module plus one line in BACKENDS."""

from __future__ import annotations

from sparse_impl.backends.base import BackendUnavailable, SpMMBackend
from sparse_impl.backends.dgl_ops import DGLBackend
from sparse_impl.backends.segment_sum import SegmentSumBackend
from sparse_impl.backends.torch_csr import TorchCSRBackend

__all__ = ["BACKENDS", "DEFAULT_BACKEND", "BackendUnavailable", "SpMMBackend", "get_backend"]

BACKENDS: dict[str, type[SpMMBackend]] = {
    TorchCSRBackend.name: TorchCSRBackend,
    SegmentSumBackend.name: SegmentSumBackend,
    DGLBackend.name: DGLBackend,
}

# The fastest measured on CPU (README, "SpMM backends"); `torch` is plain torch.sparse CSR.
DEFAULT_BACKEND = SegmentSumBackend.name


def get_backend(name: str) -> SpMMBackend:
    """An instance of the named backend; BackendUnavailable (with the reason) if it cannot run here."""
    try:
        cls = BACKENDS[name]
    except KeyError:
        raise BackendUnavailable(f"unknown SpMM backend {name!r}; known: {', '.join(BACKENDS)}") from None
    reason = cls.unavailable_reason()
    if reason is not None:
        raise BackendUnavailable(f"SpMM backend {name!r} is unavailable: {reason}")
    return cls()
