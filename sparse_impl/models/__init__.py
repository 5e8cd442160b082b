"""Registry of SpMM models: adding one is a new module plus one line in MODELS."""

from __future__ import annotations

from typing import Mapping

import torch

from sparse_impl.backends import DEFAULT_BACKEND, get_backend
from sparse_impl.models.base import PreparedBatch, SparseKGEModel
from sparse_impl.models.toruse import SparseTorusE
from sparse_impl.models.transe import SparseTransE
from sparse_impl.models.transh import SparseTransH
from sparse_impl.models.transr import SparseTransR

__all__ = ["MODELS", "PreparedBatch", "SparseKGEModel", "build_model"]

MODELS: dict[str, type[SparseKGEModel]] = {
    cls.name: cls for cls in (SparseTransE, SparseTransR, SparseTransH, SparseTorusE)
}


def build_model(model: str, params: Mapping[str, torch.Tensor], n_entities: int, n_relations: int,
                dissimilarity: str, backend: str = DEFAULT_BACKEND) -> SparseKGEModel:
    """The named SpMM model initialised from canonical parameters, on the named backend."""
    return MODELS[model](params, n_entities, n_relations, dissimilarity, get_backend(backend))
