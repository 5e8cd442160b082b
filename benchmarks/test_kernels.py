"""Kernel microbenchmarks (pytest-benchmark): the SpMM of a TransE batch on every SpMM backend against
the gather / scatter-add it replaces, forward plus backward, and the per-batch incidence build.

Run with `pytest benchmarks --benchmark-only` (kept out of the test run; `tox` collects only tests/).
Save with `--benchmark-json out.json`; compare runs with `--benchmark-compare`.
"""

import pytest
import torch

from sparse_impl.backends import BACKENDS, get_backend
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


@pytest.mark.parametrize("backend_name", list(BACKENDS))
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
