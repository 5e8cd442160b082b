"""The OGB protocol: ranks against each triple's sampled candidates on hand-made cases where every rank is known,
against OGB's evaluator formula for every model, and equal to the full ranking when the candidates are every other
entity and nothing is filtered."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from harness.errors import SptxError
from harness.evaluate import (KnownTriples, SampledCandidates, load_sampled_candidates, protocol_label,
                              rank_against_candidates, rank_triples, record_protocol, record_protocol_label)
from harness.models import MODELS, get_model

# TorusE, dim 1: entity e sits at e/16 on the circle and relation 0 moves by +1/16 (dyadic: every distance is exact),
# so the score of (h, 0, t) is -2|h + 1 - t|/16 and ties are real ties.
PARAMS = {"entity": torch.arange(8, dtype=torch.float32).unsqueeze(1) / 16, "relation": torch.tensor([[1 / 16]])}
TRIPLES = torch.tensor([[0, 0, 1], [0, 0, 3], [2, 0, 5]])
HEADS = torch.tensor([[1, 2, 3, 4],     # |c + 1 - 1| = c vs 0: every candidate worse
                      [2, 4, 5, 6],     # |c - 2| vs 2: 2 better, 4 ties, 5 and 6 worse
                      [-1, 6, 4, 0]])   # |c - 4| vs 2: -1 unknown (left out), 4 better, 6 ties, 0 worse
TAILS = torch.tensor([[3, 4, 5, 2],     # |1 - c| vs 0: every candidate worse
                      [1, 2, 3, 7],     # |1 - c| vs 2: 1 and 2 better, 3 (the true tail itself) ties, 7 worse
                      [1, 5, 4, 7]])    # |3 - c| vs 2: 4 better, 1 and 5 (the true tail itself) tie, 7 worse


def _hand_made():
    return rank_against_candidates(get_model("toruse"), PARAMS, "torus_L1", TRIPLES, SampledCandidates(HEADS, TAILS))


def test_ranks_against_sampled_candidates_are_the_known_ones():
    result = _hand_made()
    assert result.tail.optimistic.tolist() == [1, 3, 2]
    assert result.tail.pessimistic.tolist() == [1, 4, 4]  # the true entity among its candidates ties: not filtered
    assert result.head.optimistic.tolist() == [1, 2, 2]
    assert result.head.pessimistic.tolist() == [1, 3, 3]
    assert result.tail.realistic.tolist() == [1, 3.5, 3]
    assert result.head.realistic.tolist() == [1, 2.5, 2.5]


def test_metrics_on_realistic_ranks_as_for_full_ranking():
    metrics = _hand_made().metrics()
    assert metrics["n_triples"] == 3
    assert metrics["tail_mrr"] == pytest.approx((1 + 1 / 3.5 + 1 / 3) / 3)
    assert metrics["head_mrr"] == pytest.approx((1 + 2 / 2.5) / 3)
    assert metrics["both_mrr"] == pytest.approx((1 + 1 / 3.5 + 1 / 3 + 1 + 2 / 2.5) / 6)
    assert metrics["both_mr"] == pytest.approx((1 + 3.5 + 3 + 1 + 2.5 + 2.5) / 6)
    assert metrics["tail_hits_at_1"] == pytest.approx(1 / 3)
    assert metrics["tail_hits_at_3"] == pytest.approx(2 / 3)  # 3.5 > 3
    assert metrics["head_hits_at_3"] == 1.0
    assert metrics["both_hits_at_10"] == 1.0
    optimistic = _hand_made().metrics("optimistic")
    assert optimistic["tail_mrr"] == pytest.approx((1 + 1 / 3 + 1 / 2) / 3)


@pytest.mark.parametrize("max_elements", [1, 50, 1 << 24])
def test_blocks_do_not_change_ranks(max_elements):
    result = rank_against_candidates(get_model("toruse"), PARAMS, "torus_L1", TRIPLES, SampledCandidates(HEADS, TAILS),
                                     max_elements=max_elements)
    assert result.tail.pessimistic.tolist() == [1, 4, 4] and result.head.optimistic.tolist() == [1, 2, 2]


def _random_case(model: str, n_ent: int = 20, n_rel: int = 3, n: int = 12, seed: int = 0):
    from harness.spec import ModelConfig, init_parameters

    gen = torch.Generator().manual_seed(seed)
    cfg = ModelConfig(model, n_ent, n_rel, 6)
    params = {k: v.double() for k, v in init_parameters(cfg, seed=seed + 1).items()}
    triples = torch.stack([torch.randint(0, n_ent, (n,), generator=gen), torch.randint(0, n_rel, (n,), generator=gen),
                           torch.randint(0, n_ent, (n,), generator=gen)], 1)
    return cfg, params, triples, gen


@pytest.mark.parametrize("model", list(MODELS))
def test_every_model_matches_ogbs_evaluator_formula(model):
    """OGB's evaluator: 0.5 * ((neg > pos).sum + (neg >= pos).sum) + 1 over each triple's own candidate scores."""
    cfg, params, triples, gen = _random_case(model)
    k = 7
    heads, tails = torch.randint(0, 20, (12, k), generator=gen), torch.randint(0, 20, (12, k), generator=gen)
    result = rank_against_candidates(cfg.spec, params, cfg.dissimilarity, triples, SampledCandidates(heads, tails),
                                     max_elements=100)
    for side, cands, column in (("head", heads, 0), ("tail", tails, 2)):
        reference = []
        for (h, r, t), row in zip(triples.tolist(), cands):
            pos = cfg.spec.score(params, cfg.dissimilarity, torch.tensor([h]), torch.tensor([r]), torch.tensor([t]))
            hh, tt = (row, torch.full((k,), t)) if column == 0 else (torch.full((k,), h), row)
            neg = cfg.spec.score(params, cfg.dissimilarity, hh, torch.full((k,), r), tt)
            reference.append(0.5 * (float((neg > pos).sum()) + float((neg >= pos).sum())) + 1)
        assert result.ranks(side).tolist() == pytest.approx(reference)


@pytest.mark.parametrize("model", list(MODELS))
def test_every_other_entity_as_candidates_gives_the_full_rankings_metrics(model):
    """Candidates = all entities but the true one, and no other known triple shares a query: nothing to filter, so the
    sampled protocol and the filtered ranking among all entities must agree rank for rank."""
    cfg, params, _, gen = _random_case(model, n_ent=15, n_rel=2)
    n_ent = 15
    # distinct heads and distinct tails: no two triples share (h, r) or (r, t), so filtering removes nothing
    heads, tails = torch.randperm(n_ent, generator=gen)[:9], torch.randperm(n_ent, generator=gen)[:9]
    triples = torch.stack([heads, torch.randint(0, 2, (9,), generator=gen), tails], 1)
    known = KnownTriples.from_splits([triples], n_ent, 2)
    full = rank_triples(cfg.spec, params, cfg.dissimilarity, triples, known)

    def others(true: torch.Tensor) -> torch.Tensor:
        every = torch.arange(n_ent).expand(true.shape[0], n_ent)
        return every[every != true.unsqueeze(1)].reshape(true.shape[0], n_ent - 1)

    sampled = rank_against_candidates(cfg.spec, params, cfg.dissimilarity, triples,
                                      SampledCandidates(others(triples[:, 0]), others(triples[:, 2])), max_elements=500)
    for side in ("head", "tail"):
        assert getattr(sampled, side).optimistic.tolist() == getattr(full, side).optimistic.tolist()
        assert getattr(sampled, side).pessimistic.tolist() == getattr(full, side).pessimistic.tolist()
    assert sampled.metrics() == pytest.approx(full.metrics())


def test_a_missing_candidates_file_is_a_one_line_error_naming_it(tmp_path):
    with pytest.raises(SptxError) as error:
        load_sampled_candidates(tmp_path, "test")
    message = str(error.value)
    assert str(tmp_path / "test_candidates.npz") in message and "\n" not in message


def test_candidates_are_read_and_checked_against_the_split(tmp_path):
    np.savez(tmp_path / "valid_candidates.npz", head_neg=HEADS.numpy(), tail_neg=TAILS.numpy())
    loaded = load_sampled_candidates(tmp_path, "valid", 3)
    assert loaded.head.tolist() == HEADS.tolist() and loaded.tail.tolist() == TAILS.tolist()
    assert loaded.describe() == {"head": 4, "tail": 4, "unknown": 1}
    assert loaded.subset(torch.tensor([2, 0])).tail.tolist() == [TAILS[2].tolist(), TAILS[0].tolist()]
    with pytest.raises(SptxError, match="3 rows of candidates for the 5 valid triples"):
        load_sampled_candidates(tmp_path, "valid", 5)
    with pytest.raises(SptxError, match="candidate ids outside the dataset's 7 entities"):
        load_sampled_candidates(tmp_path, "valid", 3, n_entities=7)
    assert load_sampled_candidates(tmp_path, "valid", 3, n_entities=8).compact(8).head.dtype == torch.int32
    with pytest.raises(SptxError, match="3 rows of sampled candidates for 2 evaluated triples"):
        rank_against_candidates(get_model("toruse"), PARAMS, "torus_L1", TRIPLES[:2], loaded)


def test_protocol_labels_and_old_records():
    assert protocol_label("full") == "filtered, all entities"
    assert protocol_label("ogb", {"head": 500, "tail": 500, "unknown": 0}) == "sampled candidates (OGB, 500 + 500)"
    assert record_protocol({"training": {"epochs": 3}}) == "full"  # written before the protocol was recorded
    assert record_protocol_label({"training": {}}) == "filtered, all entities"
    record = {"eval_protocol": "ogb", "eval_candidates": {"test": {"head": 500, "tail": 500, "unknown": 0}}}
    assert record_protocol_label(record) == "sampled candidates (OGB, 500 + 500)"
