"""TransE (Bordes et al., 2013): -D(h + r - t) on unit-norm entities."""

from __future__ import annotations

from typing import Mapping

import torch
from torch.nn.functional import normalize

from harness.models.translation import TranslationModel

__all__ = ["TransE"]


class TransE(TranslationModel):
    """TransE; relations are made unit-norm once at construction, as TorchKGE's constructor does."""

    name = "transe"
    title = "TransE"
    dissimilarities = ("L2sq", "L1", "L2")

    def initial(self, shapes: Mapping[str, tuple[int, ...]], generator: torch.Generator) -> dict[str, torch.Tensor]:
        params = super().initial(shapes, generator)
        params["relation"] = normalize(params["relation"], p=2, dim=1)
        return params

    def describe(self) -> str:
        return "TransE (Bordes et al., 2013): -D(h + r - t)"
