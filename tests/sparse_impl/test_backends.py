"""Every SpMM backend (the fused one: test_fused.py) against dense autograd: forward values and the gradient of the dense operand.

`dgl` runs in the tox environment `dgl` (marker `dgl`; SPTX_REQUIRE_DGL=1 there turns its skip into a
failure) and is skipped, with the reason, on the main stack."""

import os

import pytest
import torch

from harness.models import MODELS
from harness.spec import ModelConfig, init_parameters
from sparse_impl.backends import BACKENDS, BackendUnavailable, get_backend, spmm_backends
from sparse_impl.backends.base import ModelView
from sparse_impl.incidence import entity_incidence, translation_incidence
from sparse_impl.models import build_model


def _available_backend(name: str):
    reason = BACKENDS[name].unavailable_reason()
    if reason is not None:
        if name == "dgl" and os.environ.get("SPTX_REQUIRE_DGL"):
            pytest.fail(f"SPTX_REQUIRE_DGL is set but backend dgl is unavailable: {reason}")
        pytest.skip(f"backend {name} unavailable here: {reason}")
    return get_backend(name)


@pytest.mark.parametrize("backend_name", [pytest.param(name, marks=pytest.mark.dgl) if name == "dgl" else name
                                          for name in sorted(spmm_backends())])
@pytest.mark.parametrize("layout", ["translation", "entity"])
def test_spmm_forward_and_gradient_match_dense(backend_name, layout):
    backend = _available_backend(backend_name)
    gen = torch.Generator().manual_seed(3)
    n_ent, n_rel, batch = 11, 3, 17
    triples = torch.stack([torch.randint(0, n_ent, (batch,), generator=gen),
                           torch.randint(0, n_rel, (batch,), generator=gen),
                           torch.randint(0, n_ent, (batch,), generator=gen)], dim=1)
    triples[0, 2] = triples[0, 0]  # a self-loop
    if layout == "translation":
        pattern = translation_incidence(triples, n_ent, n_rel, dtype=torch.float64)
    else:
        pattern = entity_incidence(triples, n_ent, dtype=torch.float64)
    table = torch.randn(pattern.shape[1], 6, dtype=torch.float64, generator=gen, requires_grad=True)
    upstream = torch.randn(pattern.shape[0], 6, dtype=torch.float64, generator=gen)

    out = backend.spmm(backend.build(pattern), table)
    (grad,) = torch.autograd.grad(out, table, upstream)

    dense_table = table.detach().clone().requires_grad_(True)
    dense_out = pattern.to_dense() @ dense_table
    (dense_grad,) = torch.autograd.grad(dense_out, dense_table, upstream)
    torch.testing.assert_close(out, dense_out)
    torch.testing.assert_close(grad, dense_grad)


def test_torch_backend_passes_gradcheck():
    backend = get_backend("torch")
    pattern = translation_incidence(torch.tensor([[0, 1, 2], [2, 0, 1]]), 3, 2, dtype=torch.float64)
    matrix = backend.build(pattern)
    table = torch.randn(5, 3, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda x: backend.spmm(matrix, x), (table,))


def test_unknown_backend_is_a_clear_error():
    with pytest.raises(BackendUnavailable, match="unknown SpMM backend 'nope'"):
        get_backend("nope")


@pytest.mark.parametrize("model", tuple(MODELS))
def test_every_model_has_what_a_backend_reads(model):
    """A backend reads a model only through ModelView; every SpMM model provides all of it."""
    members = set(ModelView.__annotations__) | {n for n in vars(ModelView) if not n.startswith("_")}
    assert members == {"name", "n_entities", "n_relations", "uses_relation_columns", "row_gradients",
                       "dissimilarity_name", "dissimilarity", "entity", "differences", "canonical_parameters"}
    dis = MODELS[model].default_dissimilarity
    cfg = ModelConfig(model, 7, 3, 4, rel_dim=4, dissimilarity=dis)
    backend = "segment" if MODELS[model].interaction == "translation" else "fused"  # SpMM: translation models only
    built = build_model(model, init_parameters(cfg), 7, 3, dis, backend=backend)
    assert all(hasattr(built, m) for m in members)
