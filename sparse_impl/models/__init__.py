"""The SpMM form of every translation model, built from its spec (harness.models)."""

from __future__ import annotations

from typing import Mapping

import torch

from sparse_impl.backends import DEFAULT_BACKEND, get_backend
from harness.models import TranslationModel, get_model
from sparse_impl.models.base import PreparedBatch, SparseKGEModel

__all__ = ["PreparedBatch", "SparseKGEModel", "build_model"]


def build_model(model: str, params: Mapping[str, torch.Tensor], n_entities: int, n_relations: int,
                dissimilarity: str, backend: str = DEFAULT_BACKEND, row_gradients: bool = False) -> SparseKGEModel:
    """The named SpMM model initialised from canonical parameters, on the named backend (with row gradients
    for a row-sparse optimizer, where the backend has them)."""
    spec = get_model(model)
    if not isinstance(spec, TranslationModel):
        raise ValueError(f"{model} is not a translation model; the SpMM form covers translation models only")
    return SparseKGEModel(spec, params, n_entities, n_relations, dissimilarity, get_backend(backend), row_gradients)
