"""Our filtered MRR and Hits@10 agree with TorchKGE's LinkPredictionEvaluator and PyKEEN's
RankBasedEvaluator on the same embeddings, once conventions are matched:

- TorchKGE ranks pessimistically (rank = #candidates scoring >= the true one) and filters with the
  KnowledgeGraph's dict_of_heads / dict_of_tails: we give its test graph the dictionaries of all
  splits, and compare with our pessimistic ranks (and with our realistic ones, equal when no scores tie).
  TorchKGE's MRR and Hits@k are the mean of the head and tail figures: our "both".
- PyKEEN: the adapter's model with its in-score `normalizer`s removed: they call F.normalize along
  dim 1, right for the (b, d) lookups of training but not for the (b, 1, d) lookups of PyKEEN's
  1-to-all scoring; the parameters are already constrained (unit rows), so the score is unchanged.
  `RankBasedEvaluator(filtered=True)` with train and valid as `additional_filter_triples`
  (it adds the evaluated triples itself), read at `both.realistic`, our default.
"""

from __future__ import annotations

import pytest
import torch

from harness.evaluate import KnownTriples, rank_triples
from harness.spec import ModelConfig, init_parameters

N_ENT, N_REL, DIM = 120, 5, 16
TOL = 1e-4


def _graph() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """A random graph without duplicate triples, split 600 / 60 / 80."""
    gen = torch.Generator().manual_seed(7)
    triples = torch.stack([torch.randint(0, N_ENT, (900,), generator=gen), torch.randint(0, N_REL, (900,), generator=gen),
                           torch.randint(0, N_ENT, (900,), generator=gen)], 1)
    triples = torch.unique(triples, dim=0)
    triples = triples[torch.randperm(triples.shape[0], generator=gen)][:740]
    return triples[:600], triples[600:660], triples[660:]


def _trained_params(cfg: ModelConfig, train: torch.Tensor) -> dict[str, torch.Tensor]:
    """Embeddings after a few real training steps, so ranks spread from 1 to the hundreds."""
    from baselines.gather import GatherStep
    from harness.sampling import BatchStream, make_sampler
    from harness.spec import TrainConfig

    tc = TrainConfig(lr=0.01)
    step = GatherStep(cfg, tc, init_parameters(cfg, seed=1), torch.device("cpu"))
    stream = iter(BatchStream(train, 100, make_sampler("uniform", train, N_ENT, N_REL)))
    for _ in range(30):
        prepared = step.prepare(next(stream))
        step.backward(step.forward(prepared))
        step.optimizer_step()
    return step.canonical_parameters()


MODELS = ["transe", "transr", "transh", "toruse"]


@pytest.fixture(scope="module", params=MODELS)
def case(request):
    train, valid, test = _graph()
    cfg = ModelConfig(request.param, N_ENT, N_REL, DIM)
    params = _trained_params(cfg, train)
    known = KnownTriples.from_splits([train, valid, test], N_ENT, N_REL)
    ours = rank_triples(cfg.spec, params, cfg.dissimilarity, test, known)
    return cfg, params, (train, valid, test), ours


def test_agrees_with_torchkge(case):
    pytest.importorskip("torchkge")
    from torchkge.data_structures import KnowledgeGraph
    from torchkge.evaluation import LinkPredictionEvaluator

    from baselines.torchkge import build_torchkge_model

    cfg, params, (train, valid, test), ours = case
    ent2ix = {str(i): i for i in range(N_ENT)}
    rel2ix = {str(i): i for i in range(N_REL)}

    def kg(t, **dicts):
        return KnowledgeGraph(kg={"heads": t[:, 0].clone(), "tails": t[:, 2].clone(), "relations": t[:, 1].clone()},
                              ent2ix=ent2ix, rel2ix=rel2ix, **dicts)

    full = kg(torch.cat((train, valid, test)))
    test_kg = kg(test, dict_of_heads=full.dict_of_heads, dict_of_tails=full.dict_of_tails, dict_of_rels=full.dict_of_rels)
    model = build_torchkge_model(cfg, params)
    evaluator = LinkPredictionEvaluator(model, test_kg)
    evaluator.evaluate(b_size=32, verbose=False)
    _, filt_mrr = evaluator.mrr()
    _, filt_hits10 = evaluator.hit_at_k(10)
    pessimistic = ours.metrics("pessimistic")
    assert filt_mrr == pytest.approx(pessimistic["both_mrr"], abs=TOL)
    assert filt_hits10 == pytest.approx(pessimistic["both_hits_at_10"], abs=TOL)
    assert filt_mrr == pytest.approx(ours.metrics()["both_mrr"], abs=TOL)  # no ties among float scores
    assert torch.equal(evaluator.filt_rank_true_tails.long(), ours.tail.pessimistic)


def test_agrees_with_pykeen(case):
    pytest.importorskip("pykeen")
    from pykeen.evaluation import RankBasedEvaluator

    from baselines.pykeen import build_pykeen_model

    cfg, params, (train, valid, test), ours = case
    model = build_pykeen_model(cfg, params, margin=0.5)
    for representation in (*model.entity_representations, *model.relation_representations):
        representation.normalizer = None
    model.eval()
    result = RankBasedEvaluator(filtered=True).evaluate(
        model, test, additional_filter_triples=[train, valid], batch_size=32, use_tqdm=False)
    metrics = ours.metrics()
    assert result.get_metric("both.realistic.inverse_harmonic_mean_rank") == pytest.approx(metrics["both_mrr"], abs=TOL)
    assert result.get_metric("both.realistic.hits_at_10") == pytest.approx(metrics["both_hits_at_10"], abs=TOL)
    assert result.get_metric("tail.realistic.arithmetic_mean_rank") == pytest.approx(metrics["tail_mr"], abs=1e-3)
