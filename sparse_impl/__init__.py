"""SpMM formulation of translation-based KGE training (SparseTransX): incidence matrices, SpMM
backends with a correct backward, and the TransE / TransR / TransH / TorusE models built on them."""

from sparse_impl.backends import BACKENDS, BackendUnavailable, get_backend
from sparse_impl.incidence import IncidencePattern, entity_incidence, translation_incidence
from sparse_impl.models import MODELS, SparseKGEModel, build_model

__all__ = [
    "BACKENDS",
    "BackendUnavailable",
    "get_backend",
    "IncidencePattern",
    "entity_incidence",
    "translation_incidence",
    "MODELS",
    "SparseKGEModel",
    "build_model",
]
