"""A model defined only here, whose score is not a translated difference (a tiny bilinear model), registered
for the test: it trains through `gather`, verifies, is ranked by the evaluator, counts its FLOPs, and is a
clear `unsupported` for the SpMM backends. Nothing outside this file knows it."""

from __future__ import annotations

import pytest
import torch

from baselines import FRAMEWORKS
from harness.evaluate import KnownTriples, rank_triples
from harness.measure.driver import drive_step
from harness.measure.model_flops import model_flops_per_step
from harness.models import MODELS, ModelSpec, Tables
from harness.runner.cell import Cell
from harness.runner.isolation import precheck
from harness.sampling import BatchStream, make_sampler
from harness.settings import RunSettings
from harness.spec import ModelConfig, TrainConfig, init_parameters
from harness.verify import reference_framework, verify_step

N_ENT, N_REL, DIM = 30, 4, 8


class TinyBilinear(ModelSpec):
    """DistMult's score sum(h * r * t) on unconstrained rows: an interaction that is no difference."""

    name = "tinybilinear"
    title = "TinyBilinear"
    interaction = "bilinear"
    entity_constraint = "none"

    def entity_view(self, entity: torch.Tensor) -> torch.Tensor:
        return entity

    def score(self, params: Tables, dissimilarity: str | None, heads: torch.Tensor, relations: torch.Tensor,
              tails: torch.Tensor, view_rows: bool = False) -> torch.Tensor:
        h, t = self.gathered_entities(params["entity"], heads, tails, view_rows)
        return (h * params["relation"].index_select(0, relations) * t).sum(-1)

    def forward_flops(self, dissimilarity: str | None, dim: int, rel_dim: int | None) -> int:
        return 3 * dim  # two products and a sum per coordinate

    def describe(self) -> str:
        return "a bilinear test model: sum(h * r * t)"


@pytest.fixture
def bilinear(monkeypatch) -> ModelConfig:
    monkeypatch.setitem(MODELS, TinyBilinear.name, TinyBilinear())
    return ModelConfig(TinyBilinear.name, N_ENT, N_REL, DIM)


def _triples(n: int, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.stack((torch.randint(N_ENT, (n,), generator=g), torch.randint(N_REL, (n,), generator=g),
                        torch.randint(N_ENT, (n,), generator=g)), 1)


def test_it_has_no_dissimilarity(bilinear: ModelConfig) -> None:
    assert bilinear.dissimilarity is None
    assert model_flops_per_step(TinyBilinear.name, None, DIM, None, 10, 2) == 3 * (30 * 3 * DIM + 10 * 2 * 5)


def test_it_trains_through_gather(bilinear: ModelConfig) -> None:
    train = TrainConfig(lr=0.05, num_negatives=2, margin=1.0)
    triples = _triples(64, seed=1)
    step = FRAMEWORKS["gather"].build(bilinear, train, init_parameters(bilinear), torch.device("cpu"), {})
    stream = BatchStream(triples, 64, make_sampler(train.sampler, triples, N_ENT, N_REL), train.num_negatives, 0)
    batches = iter(stream)
    losses = [float(drive_step(step, next(batches)).loss.detach()) for _ in range(30)]
    assert losses[-1] < 0.5 * losses[0]


def test_it_verifies_against_the_spec_in_float64(bilinear: ModelConfig) -> None:
    assert reference_framework(bilinear) == "gather"  # TorchKGE has no such model
    report = verify_step(bilinear, _triples(200, seed=2), batch_size=64, framework="gather",
                         options={"normalize": "rows"}, train=TrainConfig(num_negatives=3))
    assert report.passed, [c for c in report.comparisons if not c.passed]
    assert {"loss", "grad(entity)", "grad(relation)", "score(positive) by model spec"} <= {c.name for c in report.comparisons}


def test_the_evaluator_ranks_it(bilinear: ModelConfig) -> None:
    params = init_parameters(bilinear, seed=3)
    spec = bilinear.spec
    test = _triples(12, seed=4)
    train = _triples(40, seed=5)
    known = KnownTriples.from_splits([train, test], N_ENT, N_REL)
    true = {tuple(x) for x in torch.cat((train, test)).tolist()}
    result = rank_triples(spec, params, None, test, known, batch_size=5, max_elements=64)
    for i, (h, r, t) in enumerate(test.tolist()):
        every = torch.arange(N_ENT)
        tail_scores = spec.score(params, None, torch.full((N_ENT,), h), torch.full((N_ENT,), r), every)
        filtered = [e for e in range(N_ENT) if e == t or (h, r, e) not in true]
        better = sum(1 for e in filtered if tail_scores[e] > tail_scores[t])
        equal = sum(1 for e in filtered if tail_scores[e] == tail_scores[t])
        assert int(result.tail.optimistic[i]) == better + 1
        assert int(result.tail.pessimistic[i]) == better + equal
    assert 0 < result.metrics()["both_mrr"] <= 1


def test_the_spmm_backends_say_unsupported(bilinear: ModelConfig) -> None:
    for backend in ("segment", "fused"):
        reason = FRAMEWORKS["sparse"].unsupported_reason(bilinear, {"backend": backend})
        assert reason is not None and TinyBilinear.name in reason
    settings = RunSettings(model=TinyBilinear.name, dataset="synthetic:WN18RR", threads=1)
    record = precheck(Cell("sparse", settings, (("backend", "segment"),)), "run", None)
    assert record is not None and record.status == "unsupported"
