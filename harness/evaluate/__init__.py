"""Filtered link-prediction evaluation from canonical parameters, the same for every framework."""

from __future__ import annotations

from typing import TYPE_CHECKING, Mapping

import torch

from harness.evaluate.filtering import KnownTriples
from harness.evaluate.ranking import HITS_AT, SIDES, RankingResult, Ranks, rank_triples

if TYPE_CHECKING:
    from harness.spec import ModelConfig

__all__ = ["HITS_AT", "KnownTriples", "RankingResult", "Ranks", "SIDES", "evaluate_link_prediction",
           "rank_triples"]


def evaluate_link_prediction(cfg: "ModelConfig", params: Mapping[str, torch.Tensor], triples: torch.Tensor,
                             known: KnownTriples, batch_size: int = 256) -> dict[str, float]:
    """Filtered realistic-rank metrics (see harness.evaluate.ranking) of `triples` for a ModelConfig's model."""
    return rank_triples(cfg.spec, params, cfg.dissimilarity, triples, known, batch_size).metrics()
