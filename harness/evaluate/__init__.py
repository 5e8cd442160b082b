"""Link-prediction evaluation from canonical parameters, the same for every framework: filtered ranking among all
entities (ranking.py), or OGB's ranking against sampled candidates (sampled.py); protocols.py names them."""

from __future__ import annotations

from typing import TYPE_CHECKING, Mapping

import torch

from harness.evaluate.filtering import KnownTriples
from harness.evaluate.protocols import EVAL_PROTOCOLS, protocol_label, record_protocol, record_protocol_label
from harness.evaluate.ranking import HITS_AT, SIDES, RankingResult, Ranks, rank_triples
from harness.evaluate.sampled import (SampledCandidates, candidates_folder, load_sampled_candidates,
                                     rank_against_candidates, require_candidates)

if TYPE_CHECKING:
    from harness.spec import ModelConfig

__all__ = ["EVAL_PROTOCOLS", "HITS_AT", "KnownTriples", "RankingResult", "Ranks", "SIDES", "SampledCandidates",
           "candidates_folder", "evaluate_link_prediction", "load_sampled_candidates", "protocol_label",
           "rank_against_candidates", "rank_triples", "record_protocol", "record_protocol_label", "require_candidates"]


def evaluate_link_prediction(cfg: "ModelConfig", params: Mapping[str, torch.Tensor], triples: torch.Tensor,
                             known: KnownTriples, batch_size: int = 256) -> dict[str, float]:
    """Filtered realistic-rank metrics (see harness.evaluate.ranking) of `triples` for a ModelConfig's model."""
    return rank_triples(cfg.spec, params, cfg.dissimilarity, triples, known, batch_size).metrics()
