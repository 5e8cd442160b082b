"""Each SpMM model against a score written out by hand from its paper's formula, on a tiny graph."""

import math

import pytest
import torch

from harness.spec import ModelConfig, init_parameters
from harness.models import MODELS
from sparse_impl.models import build_model
from sparse_impl.loss import margin_ranking_loss

N_ENT, N_REL, DIM = 7, 3, 4
POSITIVES = torch.tensor([[0, 1, 2], [3, 0, 3], [6, 2, 0]])
NEGATIVES = torch.tensor([[5, 1, 2], [3, 0, 0], [6, 2, 6]])


def _unit(x):
    return x / x.norm(dim=-1, keepdim=True)


def _reference_difference(model: str, p: dict, triples: torch.Tensor) -> torch.Tensor:
    """h + r - t (or its projected form) written row by row, with no SpMM and no batching tricks."""
    rows = []
    for h_id, r_id, t_id in triples.tolist():
        h, t = p["entity"][h_id], p["entity"][t_id]
        r = p["relation"][r_id]
        if model == "transe":
            rows.append(_unit(h) + r - _unit(t))
        elif model == "toruse":
            rows.append(torch.frac(h) + torch.frac(r) - torch.frac(t))
        elif model == "transh":
            w = _unit(p["normal"][r_id])
            proj = lambda e: e - torch.dot(e, w) * w  # noqa: E731
            rows.append(proj(_unit(h)) + r - proj(_unit(t)))
        elif model == "transr":
            m = p["projection"][r_id]
            rows.append(m @ _unit(h) + r - m @ _unit(t))
    return torch.stack(rows)


REFERENCE_DISSIMILARITY = {
    "L1": lambda x: x.abs().sum(-1),
    "L2": lambda x: x.pow(2).sum(-1).sqrt(),
    "L2sq": lambda x: x.pow(2).sum(-1),
    "torus_L1": lambda x: 2 * torch.minimum(x.abs(), 1 - x.abs()).sum(-1),
    "torus_L2": lambda x: 4 * torch.minimum(x**2, 1 - x**2).sum(-1),
    "torus_eL2": lambda x: (2 * (1 - torch.cos(2 * math.pi * torch.minimum(x, 1 - x)))).sum(-1) / 4,
}

CASES = [("transe", "L1"), ("transe", "L2"), ("transe", "L2sq"), ("transr", "L2sq"), ("transh", "L2sq"),
         ("toruse", "torus_L1"), ("toruse", "torus_L2"), ("toruse", "torus_eL2")]


@pytest.mark.parametrize("model,dissimilarity", CASES)
def test_scores_match_hand_written_formula(model, dissimilarity):
    cfg = ModelConfig(model, N_ENT, N_REL, DIM, rel_dim=3 if model == "transr" else None, dissimilarity=dissimilarity)
    params = {k: v.double() for k, v in init_parameters(cfg, seed=5).items()}
    params["entity"] = params["entity"] * 1.7  # not unit-norm, so the in-score normalisation matters
    sparse = build_model(model, params, N_ENT, N_REL, dissimilarity).double()
    positive, negative = sparse(sparse.prepare(POSITIVES, NEGATIVES))
    d = REFERENCE_DISSIMILARITY[dissimilarity]
    torch.testing.assert_close(positive, -d(_reference_difference(model, params, POSITIVES)))
    torch.testing.assert_close(negative, -d(_reference_difference(model, params, NEGATIVES)))


def test_every_translation_model_has_an_spmm_form():
    for name, spec in MODELS.items():
        if spec.interaction != "translation":  # DistMult, ComplEx, RotatE: fused kernels only
            continue
        cfg = ModelConfig(name, N_ENT, N_REL, DIM)
        model = build_model(name, init_parameters(cfg), N_ENT, N_REL, cfg.dissimilarity, "torch")
        assert model.spec is spec and set(dict(model.named_parameters())) == set(cfg.spec.shapes(N_ENT, N_REL, DIM, None))


def test_margin_loss_is_a_sum_of_hinges_with_repeated_positives():
    positive = torch.tensor([-1.0, -2.0])
    negative = torch.tensor([-1.2, -1.0, -3.0, -2.4])  # two blocks of negatives
    # hinge(0.5 - pos + neg): [0.3, 1.5, 0, 0.1]
    assert margin_ranking_loss(positive, negative, 0.5).item() == pytest.approx(1.9)


def test_normalize_parameters_matches_torchkge_rules():
    cfg = ModelConfig("transh", N_ENT, N_REL, DIM)
    params = {k: v * 3 for k, v in init_parameters(cfg).items()}
    model = build_model("transh", params, N_ENT, N_REL, "L2sq")
    model.normalize_parameters()
    torch.testing.assert_close(model.entity.norm(dim=1), torch.ones(N_ENT))
    torch.testing.assert_close(model.normal.norm(dim=1), torch.ones(N_REL))
    torch.testing.assert_close((model.relation * model.normal).sum(1), torch.zeros(N_REL), atol=1e-6, rtol=0)


@pytest.mark.parametrize("model,dissimilarity", CASES)
def test_a_batch_touching_few_entities_gives_the_same_scores_and_gradients(model, dissimilarity, monkeypatch):
    """SpMM backends: with 40 entities the batch touches 5, so its entity columns are compacted to those rows; scores and
    every gradient equal the hand formula and the whole-table computation."""
    import sparse_impl.backends.base as backend_base

    n_ent = 40
    cfg = ModelConfig(model, n_ent, N_REL, DIM, rel_dim=3 if model == "transr" else None, dissimilarity=dissimilarity)
    params = {k: v.double() for k, v in init_parameters(cfg, seed=5).items()}
    params["entity"] = params["entity"] * 1.7

    def run():
        sparse = build_model(model, params, n_ent, N_REL, dissimilarity, "segment").double()
        prepared = sparse.prepare(POSITIVES, NEGATIVES)
        positive, negative = sparse(prepared)
        margin_ranking_loss(positive, negative, 0.5).backward()
        return prepared, positive, negative, {k: v.grad for k, v in sparse.named_parameters()}

    prepared, positive, negative, grads = run()
    assert prepared.entity_ids is not None and prepared.entity_ids.tolist() == [0, 2, 3, 5, 6]
    d = REFERENCE_DISSIMILARITY[dissimilarity]
    torch.testing.assert_close(positive, -d(_reference_difference(model, params, POSITIVES)))
    torch.testing.assert_close(negative, -d(_reference_difference(model, params, NEGATIVES)))
    monkeypatch.setattr(backend_base, "compact_entities", lambda triples, n: None)
    whole, positive_w, _, grads_w = run()
    assert whole.entity_ids is None
    torch.testing.assert_close(positive, positive_w)
    for name, grad in grads.items():
        torch.testing.assert_close(grad, grads_w[name])
        if name == "entity":
            assert grad[[1, 4, 7]].abs().max() == 0  # untouched rows get no gradient either way
