"""Registry of backends: adding one is a new module plus one line in BACKENDS."""

from __future__ import annotations

from sparse_impl.backends.base import Backend, BackendUnavailable, SpMMBackend
from sparse_impl.backends.dgl_ops import DGLBackend
from sparse_impl.backends.fused import FusedBackend
from sparse_impl.backends.segment_sum import SegmentSumBackend
from sparse_impl.backends.torch_csr import TorchCSRBackend
from sparse_impl.backends.triton import TritonBackend, TritonSortedBackend

__all__ = ["BACKENDS", "DEFAULT_BACKEND", "Backend", "BackendUnavailable", "SpMMBackend", "backend_for_device",
           "get_backend", "spmm_backends"]

BACKENDS: dict[str, type[Backend]] = {
    TorchCSRBackend.name: TorchCSRBackend,
    SegmentSumBackend.name: SegmentSumBackend,
    DGLBackend.name: DGLBackend,
    FusedBackend.name: FusedBackend,
    TritonBackend.name: TritonBackend,
    TritonSortedBackend.name: TritonSortedBackend,
}


def spmm_backends() -> dict[str, type[SpMMBackend]]:
    """The backends that compute A @ X for an incidence A (all but the fused one)."""
    return {name: cls for name, cls in BACKENDS.items() if issubclass(cls, SpMMBackend)}

# The fastest measured on CPU (README, "SpMM backends"): `fused` where numba is installed, else `segment`;
# `torch` is plain torch.sparse CSR.
DEFAULT_BACKEND = FusedBackend.name if FusedBackend.unavailable_reason() is None else SegmentSumBackend.name


def backend_for_device(name: str, device: object = None) -> str:
    """The backend that runs `name` on `device`: `fused` on a CUDA device is `triton` (the same one-pass kernels in
    Triton; numba's are CPU-only), every other name itself."""
    if name == FusedBackend.name and device is not None and str(device).startswith("cuda"):
        return TritonBackend.name
    return name


def get_backend(name: str, device: object = None) -> Backend:
    """An instance of the named backend (for `device`: backend_for_device); BackendUnavailable (with the reason) if
    it cannot run here."""
    name = backend_for_device(name, device)
    try:
        cls = BACKENDS[name]
    except KeyError:
        raise BackendUnavailable(f"unknown SpMM backend {name!r}; known: {', '.join(BACKENDS)}") from None
    reason = cls.unavailable_reason()
    if reason is not None:
        raise BackendUnavailable(f"SpMM backend {name!r} is unavailable: {reason}")
    return cls()
