"""Executed-FLOP counting under one rule for all frameworks: a +-1 incidence product as (nnz - rows) * d
adds, a weighted one as 2*nnz*d, gathers free, scatter-adds per source element, a hand count of a whole
TransE step, and the profiler's dense figure beside it."""

import warnings

import pytest
import torch

from baselines.sparse import SparseStep
from baselines.torchkge import TorchKGEStep
from harness.measure import FlopCount, SparseAwareFlopCounter, count_step_flops, profiler_flops
from harness.sampling import Batch
from harness.spec import ModelConfig, TrainConfig, init_parameters

# Tiny TransE (squared L2): B = 3 positives + 3 negatives, d = 4, 5 entities, 2 relations.
B, D, N_ENT, N_REL = 3, 4, 5, 2
ROWS = 2 * B  # positives and negatives stacked
NNZ = 3 * ROWS  # +h, +r, -t per row
COLUMNS_USED = N_ENT + N_REL  # every entity and relation appears in the batch below: A^T has 7 non-empty rows
CFG = ModelConfig("transe", N_ENT, N_REL, D, dissimilarity="L2sq")
POSITIVES = torch.tensor([[0, 0, 1], [1, 1, 2], [2, 0, 3]])
NEGATIVES = torch.tensor([[4, 0, 1], [1, 1, 0], [2, 0, 4]])
SPARSE_MM_OPS = {"aten._sparse_addmm", "aten._sparse_mm", "aten.mm", "aten.addmm"}

warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta state")


def _step(cls):
    return cls(CFG, TrainConfig(), init_parameters(CFG), torch.device("cpu"))


@pytest.fixture(scope="module")
def sparse_count() -> FlopCount:
    step = SparseStep(CFG, TrainConfig(), init_parameters(CFG), torch.device("cpu"), backend="torch")
    return count_step_flops(step, Batch(POSITIVES, NEGATIVES))


@pytest.fixture(scope="module")
def torchkge_count() -> FlopCount:
    return count_step_flops(_step(TorchKGEStep), Batch(POSITIVES, NEGATIVES))


def _spmm(ops: dict[str, int]) -> int:
    return sum(n for op, n in ops.items() if op in SPARSE_MM_OPS)


def test_incidence_spmm_counts_adds_only_forward_and_backward(sparse_count):
    assert _spmm(sparse_count.by_phase["forward"]) == (NNZ - ROWS) * D  # h + r - t: 2 adds per element
    assert _spmm(sparse_count.by_phase["backward"]) == (NNZ - COLUMNS_USED) * D  # the mode sees the backward pass


def test_whole_sparse_transe_step_matches_hand_count(sparse_count):
    e, r, dd = N_ENT, ROWS, D
    forward = [
        ("entity norms ||e||, one per element", e * dd),
        ("clamp_min(norm, eps)", e),
        ("e / norm", e * dd),
        ("cat([E_hat; R]): data movement", 0),
        ("SpMM A @ [E_hat; R]: a +-1 incidence, (nnz - rows) * d adds", (NNZ - ROWS) * dd),
        ("squares x * x of h + r - t", r * dd),
        ("sum of squares over d", r * dd),
        ("score = -dissimilarity", r),
        ("margin - pos", B),
        ("(margin - pos) + neg", B),
        ("clamp(min=0)", B),
        ("sum", B),
    ]
    backward = [
        ("clamp backward: mask (>= 0) and where", 2 * B),
        ("margin - pos backward: negate", B),
        ("join the two slice gradients of the scores", r),
        ("score negate backward", r),
        ("sum backward: expand, data movement", 0),
        ("x * x backward: grad * x for each factor", 2 * r * dd),
        ("accumulate the two factors' gradients", r * dd),
        ("SpMM backward A^T @ grad: (nnz - non-empty columns of A) * d adds", (NNZ - COLUMNS_USED) * dd),
        ("e / norm backward: grad/den and -grad*(x/den)/den (div, div, neg, mul, div)", 5 * e * dd),
        ("sum the expanded denominator gradient back to (E, 1)", e * dd),
        ("clamp_min backward: mask and where", 2 * e),
        ("entity norm backward: grad / norm, mask, masked_fill, * x", 3 * e * dd + e),
        ("add the direct and the through-the-norm entity gradients", e * dd),
    ]
    prepare = 0  # incidence construction is integer index work and data movement only
    expected = prepare + sum(n for _, n in forward) + sum(n for _, n in backward)
    assert sparse_count.by_phase.get("prepare", {}) == {} or sum(sparse_count.by_phase["prepare"].values()) == 0
    assert sum(sparse_count.by_phase["forward"].values()) == sum(n for _, n in forward)
    assert sum(sparse_count.by_phase["backward"].values()) == sum(n for _, n in backward)
    assert sparse_count.executed == expected
    assert not sparse_count.uncounted_ops
    assert sparse_count.optimizer > 0 and "optimizer" in sparse_count.by_phase


def test_gathers_are_free_and_scatter_adds_count_source_elements(torchkge_count):
    # TorchKGE TransE gathers h, t (entities) and r for positives and for negatives: 6 lookups of B rows.
    assert torchkge_count.by_op["aten.embedding"] == 0
    scatter = torchkge_count.by_op.get("aten.embedding_dense_backward", 0) + torchkge_count.by_op.get(
        "aten.index_add", 0)
    assert scatter == 6 * B * D
    assert not torchkge_count.uncounted_ops


def test_profiler_counts_the_spmm_as_dense():
    a = torch.sparse_csr_tensor(torch.tensor([0, 1, 2, 3]), torch.tensor([0, 5, 2]),
                                torch.tensor([1.0, -1.0, 2.0]), size=(3, 8), check_invariants=False)
    x = torch.randn(8, D, requires_grad=True)

    def spmm_step() -> None:
        torch.sparse.mm(a, x).sum().backward()

    with SparseAwareFlopCounter() as counter:
        spmm_step()
    executed = _spmm(counter.by_op())
    profiled = profiler_flops(spmm_step)
    assert executed == 2 * (2 * 3 * D)  # weighted (a value of 2): 2 * nnz * d, forward and backward
    assert profiled is not None and profiled >= 2 * 3 * 8 * D > executed


def test_profiler_figure_is_reported_for_the_sparse_step(sparse_count):
    assert sparse_count.profiler is not None
    assert sparse_count.profiler > _spmm(sparse_count.by_op)


def _count(fn) -> SparseAwareFlopCounter:
    with SparseAwareFlopCounter() as counter:
        fn()
    return counter


def test_rules_on_single_ops():
    dense = torch.randn(6, D)
    index = torch.tensor([0, 2, 2, 1, 0])
    src = torch.randn(5, D)
    coo = torch.sparse_coo_tensor(torch.tensor([[0, 1, 1], [2, 0, 5]]), torch.ones(3), (2, 6),
                                  check_invariants=False)
    cases = {
        "aten.index_add": (lambda: dense.index_add(0, index, src), 5 * D),
        "aten.scatter_add": (lambda: dense.scatter_add(0, index[:, None].expand(5, D), src), 5 * D),
        "aten.index_put": (lambda: dense.index_put((index,), src, accumulate=True), 5 * D),
        "aten.index_select": (lambda: dense.index_select(0, index), 0),
        "aten.mm": (lambda: torch.mm(torch.randn(3, 6), dense), 2 * 3 * 6 * D),
        "aten.bmm": (lambda: torch.bmm(torch.randn(2, 3, 6), torch.randn(2, 6, D)), 2 * 2 * 3 * 6 * D),
        "aten.sum": (lambda: dense.sum(), 6 * D),
        "aten.mul": (lambda: dense * 2, 6 * D),
        "aten.clone": (lambda: dense.clone(), 0),
    }
    for op, (fn, expected) in cases.items():
        assert _count(fn).by_op().get(op, 0) == expected, op
    coo_ops = _count(lambda: torch.sparse.mm(coo, dense)).by_op()
    assert _spmm(coo_ops) == (3 - 2) * D  # all-ones values, 3 non-zeros over 2 rows: 1 add per element
    assert _count(lambda: dense.index_put((index,), src)).by_op()["aten.index_put"] == 0


def test_unknown_ops_are_collected_not_counted():
    counter = _count(lambda: torch.erfinv(torch.rand(4) * 0.5))
    assert "aten.erfinv" in counter.uncounted
    assert counter.by_op()["aten.erfinv"] == 0


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device on this machine")
def test_spmm_count_is_the_same_on_cuda():
    step = SparseStep(CFG, TrainConfig(), init_parameters(CFG), torch.device("cuda"))
    count = count_step_flops(step, Batch(POSITIVES, NEGATIVES), with_profiler=False)
    assert _spmm(count.by_op) == (NNZ - ROWS) * D + (NNZ - COLUMNS_USED) * D


def test_segment_sum_spmm_counts_like_a_sparse_product():
    from harness.measure.flops import SparseAwareFlopCounter
    from sparse_impl.backends import get_backend
    from sparse_impl.incidence import translation_incidence

    triples = torch.tensor([[0, 1, 2], [3, 0, 1], [4, 1, 4]])
    backend = get_backend("segment")
    matrix = backend.build(translation_incidence(triples, 5, 2))
    table = torch.randn(7, D, requires_grad=True)
    with SparseAwareFlopCounter() as counter:
        backend.spmm(matrix, table).sum().backward()
    by_op = counter.by_op()
    bag = sum(n for op, n in by_op.items() if "embedding_bag" in op)
    # forward A @ X: 9 non-zeros in 3 rows; backward A^T @ dY: 9 non-zeros in the 7 non-empty columns
    assert bag == (9 - 3) * D + (9 - 7) * D
    assert not counter.uncounted


def test_a_weighted_segment_sum_counts_a_multiply_and_an_add_per_element():
    from torch.nn.functional import embedding_bag

    table = torch.randn(5, D)
    indices, offsets = torch.tensor([0, 1, 2, 3]), torch.tensor([0, 2])
    weights = torch.tensor([0.5, 1.0, -1.0, 2.0])
    counter = _count(lambda: embedding_bag(indices, table, offsets, per_sample_weights=weights, mode="sum"))
    assert sum(n for op, n in counter.by_op().items() if "embedding_bag" in op) == 2 * 4 * D


def test_identical_transe_math_executes_the_same_translation_flops():
    """h + r - t costs 2 adds per element by gathers and adds (gather) and by the +-1 incidence (sparse)."""
    from baselines.gather import GatherStep

    batch = Batch(POSITIVES, NEGATIVES)
    sparse = count_step_flops(SparseStep(CFG, TrainConfig(), init_parameters(CFG), torch.device("cpu"), backend="segment"), batch,
                              with_profiler=False)
    gather = count_step_flops(_step(GatherStep), batch, with_profiler=False)
    translation_sparse = sum(n for op, n in sparse.by_phase["forward"].items() if "embedding_bag" in op)
    loss_add = B  # (margin - pos) + neg in the loss is the forward's only other aten.add
    translation_gather = gather.by_phase["forward"]["aten.add"] + gather.by_phase["forward"]["aten.sub"] - loss_add
    assert translation_sparse == translation_gather == 2 * ROWS * D


@pytest.mark.parametrize("weight_decay", [0.0, 1e-5])
def test_fused_adam_counts_what_the_unfused_one_does(weight_decay):
    counts = {}
    for fused in (False, True):
        p = torch.nn.Parameter(torch.randn(100, 10))
        p.grad = torch.randn(100, 10)
        opt = torch.optim.Adam([p], lr=1e-3, weight_decay=weight_decay, fused=fused)
        opt.step()
        counter = _count(opt.step)
        assert not counter.uncounted
        counts[fused] = sum(counter.by_op().values())
    assert abs(counts[True] - counts[False]) <= 2  # the unfused one adds the step counter
