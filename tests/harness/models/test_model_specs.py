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


TRANSLATION = sorted(name for name, spec in MODELS.items() if spec.interaction == "translation")


def _complex(row: torch.Tensor) -> torch.Tensor:
    """A [re | im] row as a complex vector."""
    k = row.shape[0] // 2
    return torch.complex(row[:k], row[k:])


def _beyond_translation(model: str, p: dict[str, torch.Tensor], name: str | None, h: int, r: int, t: int):
    """DistMult, ComplEx and RotatE written with torch's complex numbers."""
    if model == "distmult":
        return (normalize(p["entity"][h], dim=0) * p["relation"][r] * normalize(p["entity"][t], dim=0)).sum()
    eh, et = _complex(p["entity"][h]), _complex(p["entity"][t])
    if model == "complex":
        return (eh * _complex(p["relation"][r]) * et.conj()).sum().real
    z = eh * torch.exp(1j * p["relation"][r]) - et
    return -(z.abs().sum() if name == "L1" else z.abs().pow(2).sum().sqrt())


def _reference(model: str, p: dict[str, torch.Tensor], name: str | None) -> torch.Tensor:
    """The score written out per model, row by row."""
    out = []
    for h, r, t in zip(H.tolist(), R.tolist(), T.tolist()):
        if model in ("distmult", "complex", "rotate"):
            out.append(_beyond_translation(model, p, name, h, r, t))
            continue
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
    for name in cfg.spec.dissimilarities or (None,):
        got = cfg.spec.score(params, name, H, R, T)
        torch.testing.assert_close(got, _reference(model, params, name), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("model", TRANSLATION)
def test_score_matches_sparse_model(model):
    from sparse_impl.models import build_model

    cfg = ModelConfig(model, N_ENT, N_REL, DIM)
    params = {k: v.double() for k, v in init_parameters(cfg, seed=4).items()}
    sparse = build_model(model, params, N_ENT, N_REL, cfg.dissimilarity, "torch")
    triples = torch.stack((H, R, T), 1)
    positive, _ = sparse(sparse.prepare(triples, triples))
    torch.testing.assert_close(cfg.spec.score(params, cfg.dissimilarity, H, R, T), positive.detach())


@pytest.mark.parametrize("model", TRANSLATION)
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
    with pytest.raises(SptxError, match="unknown model 'hole'"):
        get_model("hole")


@pytest.mark.parametrize("model", sorted(MODELS))
@pytest.mark.parametrize("tail_side", (True, False))
def test_candidate_scores_equal_the_score_of_every_candidate_triple(model, tail_side):
    """A model's fast ranking form (a GEMM, a shared projection, fused blocks) against its score of every triple."""
    from harness.models.base import ModelSpec

    cfg = ModelConfig(model, N_ENT, N_REL, DIM)
    spec = cfg.spec
    params = {k: v.double() * 1.3 for k, v in init_parameters(cfg, seed=6).items()}
    triples = torch.stack((H, R, T), 1)
    anchors = H if tail_side else T
    for name in spec.dissimilarities or (None,):
        for group in spec.candidate_groups(params, triples):
            idx = group.index
            fast = spec.candidate_scores(params, name, group, anchors[idx], R[idx], tail_side, 1 << 20)
            slow = ModelSpec.candidate_scores(spec, params, name, group, anchors[idx], R[idx], tail_side, 1 << 20)
            torch.testing.assert_close(fast, slow, rtol=1e-9, atol=1e-10)


@pytest.mark.parametrize("model", ("complex", "rotate"))
def test_complex_models_refuse_an_odd_dimension_in_one_line(model):
    with pytest.raises(SptxError, match="must be even"):
        init_parameters(ModelConfig(model, N_ENT, N_REL, 5))
