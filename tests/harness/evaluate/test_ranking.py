"""Filtered ranks on tiny hand-made graphs where every rank is known."""

from __future__ import annotations

import pytest
import torch

from harness.evaluate import KnownTriples, rank_triples
from harness.evaluate.ranking import _ranks_of
from harness.models import get_model

# TorusE, dim 1: entity e sits at 0.1 * e on the circle, relation 0 moves by +0.1.
PARAMS = {"entity": torch.tensor([[0.0], [0.1], [0.2], [0.3]]), "relation": torch.tensor([[0.1]])}
TRAIN = torch.tensor([[0, 0, 1]])
TEST = torch.tensor([[0, 0, 2]])


def _ranks(known_splits: list[torch.Tensor]):
    known = KnownTriples.from_splits(known_splits, 4, 1)
    return rank_triples(get_model("toruse"), PARAMS, "torus_L1", TEST, known)


def test_unfiltered_tie_gives_the_mean_of_optimistic_and_pessimistic():
    # tail query 0 + 0.1 = 0.1: entity 1 at distance 0, entities 0 and 2 (the true one) tie at 0.1
    result = _ranks([TEST])
    assert result.tail.optimistic.tolist() == [2]
    assert result.tail.pessimistic.tolist() == [3]
    assert result.tail.realistic.tolist() == [2.5]


def test_filtering_removes_other_true_tails_but_not_the_evaluated_one():
    result = _ranks([TRAIN, TEST])  # (0, 0, 1) is a known triple: entity 1 is filtered out
    assert result.tail.optimistic.tolist() == [1]
    assert result.tail.pessimistic.tolist() == [2]
    # head query 0.2 - 0.1 = 0.1: entity 1 best (distance 0), then 0 and 2 tie at 0.1; (1, 0, 2) is unknown
    assert result.head.optimistic.tolist() == [2]
    assert result.head.pessimistic.tolist() == [3]


def test_metrics_on_realistic_ranks():
    metrics = _ranks([TRAIN, TEST]).metrics()
    assert metrics["tail_mr"] == pytest.approx(1.5)
    assert metrics["head_mr"] == pytest.approx(2.5)
    assert metrics["both_mrr"] == pytest.approx((1 / 1.5 + 1 / 2.5) / 2)
    assert metrics["tail_hits_at_1"] == 0.0  # 1.5 > 1
    assert metrics["both_hits_at_3"] == 1.0
    assert metrics["n_triples"] == 1


def test_ranks_of_score_matrix():
    scores = torch.tensor([[3.0, 1.0, 3.0, 5.0], [0.0, 0.0, 0.0, 0.0]], dtype=torch.float64)
    known = torch.tensor([[False, False, False, True], [True, True, True, True]])
    ranks = _ranks_of(scores, torch.tensor([0, 2]), known)
    assert ranks.optimistic.tolist() == [1, 1]  # entity 3 filtered; all others of row 2 filtered
    assert ranks.pessimistic.tolist() == [2, 1]


def test_known_triples_lookup():
    known = KnownTriples.from_splits([torch.tensor([[0, 1, 2], [0, 1, 3], [4, 1, 3], [0, 0, 2]])], 5, 2)
    assert known.true_tails(torch.tensor([0, 4, 1]), torch.tensor([1, 1, 1])).nonzero().tolist() == [[0, 2], [0, 3], [1, 3]]
    assert known.true_heads(torch.tensor([1]), torch.tensor([3])).nonzero().tolist() == [[0, 0], [0, 4]]


@pytest.mark.parametrize("model", ["transe", "transr", "transh", "toruse"])
def test_relation_grouping_and_blocks_do_not_change_ranks(model):
    """Ranks equal a brute-force reference that scores every (h, r, e) and (e, r, t) with the spec's score."""
    from harness.spec import ModelConfig, init_parameters

    gen = torch.Generator().manual_seed(1)
    n_ent, n_rel = 30, 4
    triples = torch.stack([torch.randint(0, n_ent, (80,), generator=gen), torch.randint(0, n_rel, (80,), generator=gen),
                           torch.randint(0, n_ent, (80,), generator=gen)], 1)
    cfg = ModelConfig(model, n_ent, n_rel, 6)
    params = {k: v.double() for k, v in init_parameters(cfg, seed=3).items()}
    known = KnownTriples.from_splits([triples], n_ent, n_rel)
    test = triples[:25]
    result = rank_triples(cfg.spec, params, cfg.dissimilarity, test, known, batch_size=7, max_elements=50)
    ids = torch.arange(n_ent)
    for i, (h, r, t) in enumerate(test.tolist()):
        rr = torch.full((n_ent,), r)
        tail = cfg.spec.score(params, cfg.dissimilarity, torch.full((n_ent,), h), rr, ids)
        head = cfg.spec.score(params, cfg.dissimilarity, ids, rr, torch.full((n_ent,), t))
        tail_known = known.true_tails(torch.tensor([h]), torch.tensor([r]))[0]
        head_known = known.true_heads(torch.tensor([r]), torch.tensor([t]))[0]
        tail_known[t] = head_known[h] = False
        better_t = (tail[~tail_known] > tail[t] + 1e-9).sum()
        better_h = (head[~head_known] > head[h] + 1e-9).sum()
        assert result.tail.optimistic[i] == better_t + 1
        assert result.head.optimistic[i] == better_h + 1


@pytest.mark.parametrize("name", ["torus_L1", "torus_L2", "torus_eL2"])
def test_compiled_and_eager_scores_agree(name):
    from harness.models.pairwise import pairwise_scores

    gen = torch.Generator().manual_seed(0)
    q, c = torch.rand(9, 5, generator=gen) * 2 - 1, torch.rand(13, 5, generator=gen)
    for tail_side in (True, False):
        eager = pairwise_scores(name, q, c, tail_side, max_elements=20, use_compile=False)
        torch.testing.assert_close(pairwise_scores(name, q, c, tail_side), eager, rtol=1e-5, atol=1e-5)
        x = (q.unsqueeze(1) - c.unsqueeze(0)) if tail_side else (c.unsqueeze(0) - q.unsqueeze(1))
        from sparse_impl.dissimilarity import dissimilarity

        torch.testing.assert_close(eager, -dissimilarity(name)(x).double())
