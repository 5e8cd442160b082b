"""Kernel microbenchmarks (pytest-benchmark): the SpMM of a TransE batch on every SpMM backend against
the gather / scatter-add it replaces, forward plus backward; the per-batch incidence build; and the whole
TransE loss with every gradient (normalise, translate, L2sq, margin) on each backend against gathers.

Run with `pytest benchmarks --benchmark-only` (kept out of the test run; `tox` collects only tests/).
Save with `--benchmark-json out.json`; compare runs with `--benchmark-compare`.
"""

import pytest
import torch

from sparse_impl.models import build_model
from sparse_impl.backends import BACKENDS, get_backend, spmm_backends
from sparse_impl.loss import margin_ranking_loss
from sparse_impl.incidence import translation_incidence

N_ENT, N_REL, BATCH = 14541, 237, 32768


@pytest.fixture(scope="module", params=[128, 1024], ids=lambda d: f"d{d}")
def setup(request):
    gen = torch.Generator().manual_seed(0)
    triples = torch.stack([torch.randint(0, N_ENT, (BATCH,), generator=gen),
                           torch.randint(0, N_REL, (BATCH,), generator=gen),
                           torch.randint(0, N_ENT, (BATCH,), generator=gen)], dim=1)
    table = torch.randn(N_ENT + N_REL, request.param, generator=gen, requires_grad=True)
    return triples, table


@pytest.mark.parametrize("backend_name", list(spmm_backends()))
def test_spmm_forward_backward(benchmark, setup, backend_name):
    reason = BACKENDS[backend_name].unavailable_reason()
    if reason is not None:
        pytest.skip(f"backend {backend_name} unavailable: {reason}")
    triples, table = setup
    backend = get_backend(backend_name)
    matrix = backend.build(translation_incidence(triples, N_ENT, N_REL))

    def run():
        backend.spmm(matrix, table).sum().backward()

    benchmark(run)


def test_gather_forward_backward(benchmark, setup):
    triples, table = setup

    def run():
        h = table.index_select(0, triples[:, 0])
        r = table.index_select(0, triples[:, 1] + N_ENT)
        t = table.index_select(0, triples[:, 2])
        (h + r - t).sum().backward()

    benchmark(run)


@pytest.mark.parametrize("backend_name", ["torch", "segment"])
def test_incidence_build(benchmark, setup, backend_name):
    triples, _ = setup
    backend = get_backend(backend_name)
    benchmark(lambda: backend.build(translation_incidence(triples, N_ENT, N_REL)))


@pytest.fixture(scope="module", params=[128, 1024], ids=lambda d: f"d{d}")
def transe_batch(request):
    """TransE parameters and a batch of positives with one corrupted-tail negative each."""
    gen = torch.Generator().manual_seed(0)
    positives = torch.stack([torch.randint(0, N_ENT, (BATCH,), generator=gen),
                             torch.randint(0, N_REL, (BATCH,), generator=gen),
                             torch.randint(0, N_ENT, (BATCH,), generator=gen)], dim=1)
    negatives = positives.clone()
    negatives[:, 2] = torch.randint(0, N_ENT, (BATCH,), generator=gen)
    params = {"entity": torch.randn(N_ENT, request.param, generator=gen),
              "relation": torch.randn(N_REL, request.param, generator=gen)}
    return params, positives, negatives


@pytest.mark.parametrize("backend_name", list(BACKENDS))
def test_transe_loss_and_gradients(benchmark, transe_batch, backend_name):
    reason = BACKENDS[backend_name].unavailable_reason()
    if reason is not None:
        pytest.skip(f"backend {backend_name} unavailable: {reason}")
    params, positives, negatives = transe_batch
    model = build_model("transe", params, N_ENT, N_REL, "L2sq", backend_name)
    batch = model.prepare(positives, negatives)

    def run():
        model.zero_grad(set_to_none=True)
        model.loss(batch, "margin", 0.5).backward()

    benchmark(run)


def test_transe_loss_and_gradients_by_gathers(benchmark, transe_batch):
    params, positives, negatives = transe_batch
    entity = params["entity"].clone().requires_grad_()
    relation = params["relation"].clone().requires_grad_()
    triples = torch.cat((positives, negatives))

    def run():
        entity.grad = relation.grad = None
        unit = torch.nn.functional.normalize(entity, p=2, dim=1)
        x = unit.index_select(0, triples[:, 0]) + relation.index_select(0, triples[:, 1]) - unit.index_select(0, triples[:, 2])
        scores = -(x * x).sum(dim=1)
        margin_ranking_loss(scores[:BATCH], scores[BATCH:], 0.5).backward()

    benchmark(run)
