"""Registry of model specs: adding a model is one new module here plus one line in MODELS."""

from __future__ import annotations

from harness.errors import SptxError
from harness.models.base import (ROW_COLUMNS, CandidateGroup, ModelSpec, TableSpec, Tables, constrain_touched_rows_,
                                 xavier_uniform)
from harness.models.complex_ import ComplEx
from harness.models.distmult import DistMult
from harness.models.rotate import RotatE
from harness.models.toruse import TorusE, straight_through_frac
from harness.models.transe import TransE
from harness.models.transh import TransH
from harness.models.translation import TranslationModel
from harness.models.transr import TransR

__all__ = ["MODELS", "ROW_COLUMNS", "CandidateGroup", "ModelSpec", "TableSpec", "Tables", "TranslationModel",
           "constrain_touched_rows_", "get_model", "straight_through_frac", "xavier_uniform"]

MODELS: dict[str, ModelSpec] = {spec.name: spec for spec in (TransE(), TransR(), TransH(), TorusE(), DistMult(), ComplEx(),
                                                         RotatE())}


def get_model(name: str) -> ModelSpec:
    """The spec registered under `name`; SptxError for an unknown model."""
    try:
        return MODELS[name]
    except KeyError:
        raise SptxError(f"unknown model {name!r}; choose one of {', '.join(MODELS)}") from None
