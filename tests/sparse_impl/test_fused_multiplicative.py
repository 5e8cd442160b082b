"""The fused kernels of DistMult, ComplEx and RotatE (backends/fused/multiplicative.py) against the model spec's
score by gathers (our `gather` step) in float64: loss, scores and every gradient, for every loss, both gradient
modes (dense tables and the row-sparse optimizers' row gradients), negatives corrupting the head, the tail, or
neither side alone; and a few training steps ending with the same parameters."""

from __future__ import annotations

import pytest
import torch

from baselines import get_framework
from harness.measure.driver import drive_step
from harness.sampling import Batch, BatchStream, make_sampler
from harness.spec import ModelConfig, TrainConfig, init_parameters

N_ENT, N_REL, DIM, K = 40, 5, 8, 3
CASES = [("distmult", None), ("complex", None), ("rotate", "L1"), ("rotate", "L2")]


def _triples(n: int, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.stack((torch.randint(N_ENT, (n,), generator=g), torch.randint(N_REL, (n,), generator=g),
                        torch.randint(N_ENT, (n,), generator=g)), 1)


def _batch(mixed: bool) -> Batch:
    """64 positives with K negatives each (sampled; or, when `mixed`, one block corrupting every column)."""
    train = _triples(300, 1)
    batch = next(iter(BatchStream(train, 64, make_sampler("bernoulli", train, N_ENT, N_REL), K, 0)))
    if mixed:
        negatives = batch.negatives.clone()
        negatives[:64] = _triples(64, 2)  # neither side shared with the positive: scored on its own query
        batch = Batch(batch.positives, negatives)
    return batch


def _step(framework: str, cfg: ModelConfig, train: TrainConfig, params: dict[str, torch.Tensor]):
    return get_framework(framework).build(cfg, train, {k: v.clone() for k, v in params.items()}, torch.device("cpu"),
                                          {})


@pytest.mark.parametrize("model,dissimilarity", CASES)
@pytest.mark.parametrize("loss", ["margin", "softplus", "nssa"])
@pytest.mark.parametrize("optimizer", ["adam-fused", "adagrad-rowwise"])
@pytest.mark.parametrize("mixed", [False, True])
def test_fused_step_equals_the_spec_by_gathers(model, dissimilarity, loss, optimizer, mixed):
    cfg = ModelConfig(model, N_ENT, N_REL, DIM, dissimilarity=dissimilarity)
    train = TrainConfig(num_negatives=K, loss=loss, margin=1.0, adversarial_temperature=0.8, optimizer=optimizer)
    params = {k: v.double() for k, v in init_parameters(cfg, seed=3).items()}
    batch = _batch(mixed)
    results = {}
    for framework in ("sparse", "gather"):
        step = _step(framework, cfg, train, params)
        result = drive_step(step, batch, phases=("prepare", "forward", "backward"))
        with torch.no_grad():
            scores = step.scores(result.prepared)
        results[framework] = (result.loss.detach(), scores, step.canonical_gradients())
    (loss_f, scores_f, grads_f), (loss_g, scores_g, grads_g) = results["sparse"], results["gather"]
    torch.testing.assert_close(loss_f, loss_g, rtol=1e-12, atol=1e-12)
    for ours, reference in zip(scores_f, scores_g):
        torch.testing.assert_close(ours, reference, rtol=1e-12, atol=1e-12)
    for name, reference in grads_g.items():
        torch.testing.assert_close(grads_f[name], reference, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("model,dissimilarity", CASES)
@pytest.mark.parametrize("optimizer", ["adam-fused", "adam-lazy", "adagrad-rowwise"])
def test_fused_training_ends_where_gather_does(model, dissimilarity, optimizer):
    cfg = ModelConfig(model, N_ENT, N_REL, DIM, dissimilarity=dissimilarity)
    train = TrainConfig(num_negatives=K, loss="nssa", margin=2.0, optimizer=optimizer, lr=0.05)
    params = {k: v.double() for k, v in init_parameters(cfg, seed=4).items()}
    data = _triples(300, 5)
    ends = {}
    for framework in ("sparse", "gather"):
        step = _step(framework, cfg, train, params)
        stream = iter(BatchStream(data, 64, make_sampler("uniform", data, N_ENT, N_REL), K, 7))
        for _ in range(4):
            drive_step(step, next(stream))
        ends[framework] = step.canonical_parameters()
    for name, reference in ends["gather"].items():
        torch.testing.assert_close(ends["sparse"][name], reference, rtol=1e-9, atol=1e-11)
