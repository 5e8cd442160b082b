"""Our form of every model, built from its spec (harness.models): SpMM for the translation models, fused kernels
for every model."""

from __future__ import annotations

from typing import Mapping

import torch

from sparse_impl.backends import DEFAULT_BACKEND, get_backend
from harness.models import get_model
from sparse_impl.models.base import PreparedBatch, SparseKGEModel

__all__ = ["PreparedBatch", "SparseKGEModel", "build_model"]


def build_model(model: str, params: Mapping[str, torch.Tensor], n_entities: int, n_relations: int,
                dissimilarity: str | None, backend: str = DEFAULT_BACKEND, row_gradients: bool = False,
                device: torch.device | str | None = None) -> SparseKGEModel:
    """The named SpMM model initialised from canonical parameters, on the named backend (with row gradients
    for a row-sparse optimizer, where the backend has them) as it runs on `device` (`fused` on CUDA: `triton`)."""
    spec = get_model(model)
    chosen = get_backend(backend, device)
    if not chosen.supports(model, spec.interaction):
        ran = backend if chosen.name == backend else f"{backend} (on {device}: {chosen.name})"
        raise ValueError(f"backend {ran} has no {model} ({spec.interaction} score); the SpMM form covers "
                         "translation models, the numba fused kernels every model, the Triton ones the translation "
                         "models")
    return SparseKGEModel(spec, params, n_entities, n_relations, dissimilarity, chosen, row_gradients)
