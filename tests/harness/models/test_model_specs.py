"""Every registered model spec: shapes, constraints and a score equal to a hand-written reference and to
the SpMM model's."""

from __future__ import annotations

import pytest
import torch
from torch.nn.functional import normalize

from harness.models import MODELS, get_model
from harness.errors import SptxError
from harness.spec import ModelConfig, init_parameters
from sparse_impl.dissimilarity import dissimilarity

N_ENT, N_REL, DIM = 7, 3, 4
H = torch.tensor([0, 1, 2, 6])
R = torch.tensor([0, 2, 1, 1])
T = torch.tensor([3, 4, 2, 5])


def _reference(model: str, p: dict[str, torch.Tensor], name: str) -> torch.Tensor:
    """The score written out per model, row by row."""
    out = []
    for h, r, t in zip(H.tolist(), R.tolist(), T.tolist()):
        if model == "toruse":
            x = p["entity"][h].frac() + p["relation"][r].frac() - p["entity"][t].frac()
        else:
            eh, et = normalize(p["entity"][h], dim=0), normalize(p["entity"][t], dim=0)
            if model == "transe":
                x = eh + p["relation"][r] - et
            elif model == "transr":
                m = p["projection"][r]
                x = m @ eh + p["relation"][r] - m @ et
            else:
                w = normalize(p["normal"][r], dim=0)
                x = (eh - (eh @ w) * w) + p["relation"][r] - (et - (et @ w) * w)
        out.append(-dissimilarity(name)(x.unsqueeze(0))[0])
    return torch.stack(out)


@pytest.mark.parametrize("model", sorted(MODELS))
def test_score_matches_hand_written_reference(model):
    cfg = ModelConfig(model, N_ENT, N_REL, DIM)
    params = {k: v.double() * 1.7 for k, v in init_parameters(cfg, seed=2).items()}  # off the constraints
    for name in cfg.spec.dissimilarities:
        got = cfg.spec.score(params, name, H, R, T)
        torch.testing.assert_close(got, _reference(model, params, name), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("model", sorted(MODELS))
def test_score_matches_sparse_model(model):
    from sparse_impl.models import build_model

    cfg = ModelConfig(model, N_ENT, N_REL, DIM)
    params = {k: v.double() for k, v in init_parameters(cfg, seed=4).items()}
    sparse = build_model(model, params, N_ENT, N_REL, cfg.dissimilarity, "torch")
    triples = torch.stack((H, R, T), 1)
    positive, _ = sparse(sparse.prepare(triples, triples))
    torch.testing.assert_close(cfg.spec.score(params, cfg.dissimilarity, H, R, T), positive.detach())


@pytest.mark.parametrize("model", sorted(MODELS))
def test_project_one_equals_per_row_projection(model):
    spec = get_model(model)
    cfg = ModelConfig(model, N_ENT, N_REL, DIM)
    params = init_parameters(cfg, seed=5)
    x = spec.entity_view(params["entity"])
    torch.testing.assert_close(spec.project_one(params, x, 2), spec.project(params, x, torch.full((N_ENT,), 2)))


@pytest.mark.parametrize("model", sorted(MODELS))
def test_constraints_are_idempotent_and_shapes_declared(model):
    cfg = ModelConfig(model, N_ENT, N_REL, DIM, rel_dim=5 if MODELS[model].has_relation_space else None)
    params = init_parameters(cfg)
    assert {k: tuple(v.shape) for k, v in params.items()} == cfg.spec.shapes(N_ENT, N_REL, DIM, cfg.rel_dim)
    again = cfg.spec.constrain(params)
    for name in params:
        torch.testing.assert_close(again[name], params[name])


def test_unknown_model_is_a_one_line_error():
    with pytest.raises(SptxError, match="unknown model 'rotate'"):
        get_model("rotate")
