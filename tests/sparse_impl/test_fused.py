"""The fused backend against the segment backend (itself checked against dense arithmetic and the papers'
formulas): scores, the margin loss and every gradient, on tiny hand-made graphs."""

import os
import subprocess
import sys

import pytest
import torch

from harness.spec import ModelConfig, init_parameters
from sparse_impl.models import build_model
from sparse_impl.backends import BACKENDS

pytestmark = pytest.mark.skipif(BACKENDS["fused"].unavailable_reason() is not None,
                                reason=str(BACKENDS["fused"].unavailable_reason()))

N_ENT, N_REL, DIM = 9, 3, 5
POSITIVES = torch.tensor([[0, 1, 2], [3, 0, 3], [6, 2, 0], [1, 1, 4]])
# two blocks of negatives: block j corrupts positive i in row j * 4 + i (a head or a tail)
NEGATIVES = torch.tensor([[5, 1, 2], [3, 0, 0], [6, 2, 6], [7, 1, 4],
                          [0, 1, 8], [2, 0, 3], [1, 2, 0], [1, 1, 1]])
UNTOUCHED = 8  # never in POSITIVES or the first block of NEGATIVES

CASES = [("transe", "L1"), ("transe", "L2"), ("transe", "L2sq"), ("transr", "L2sq"), ("transh", "L2sq"),
         ("toruse", "torus_L1"), ("toruse", "torus_L2"), ("toruse", "torus_eL2")]


def _params(model: str, dissimilarity: str) -> tuple[ModelConfig, dict[str, torch.Tensor]]:
    cfg = ModelConfig(model, N_ENT, N_REL, DIM, rel_dim=4 if model == "transr" else None,
                      dissimilarity=dissimilarity)
    params = init_parameters(cfg, seed=7)
    params["entity"] = params["entity"] * 1.7  # not unit-norm, so the normalisation's Jacobian matters
    if model == "toruse":
        params["entity"] = params["entity"] * 3 - 1.3  # negative values and values beyond 1 exercise frac
    return cfg, params


def _loss_and_grads(backend: str, model: str, dissimilarity: str, negatives: torch.Tensor, margin: float = 0.5):
    cfg, params = _params(model, dissimilarity)
    sparse = build_model(model, params, N_ENT, N_REL, dissimilarity, backend)
    batch = sparse.prepare(POSITIVES, negatives)
    loss = sparse.loss(batch, "margin", margin)
    loss.backward()
    with torch.no_grad():
        positive, negative = sparse(batch)
    grads = {name: p.grad.clone() for name, p in sparse.named_parameters()}
    return loss.detach(), torch.cat((positive, negative)), grads


@pytest.mark.parametrize("model,dissimilarity", CASES)
@pytest.mark.parametrize("n_blocks", [1, 2])
def test_fused_loss_scores_and_gradients_match_segment(model, dissimilarity, n_blocks):
    negatives = NEGATIVES[: 4 * n_blocks]
    loss, scores, grads = _loss_and_grads("fused", model, dissimilarity, negatives)
    ref_loss, ref_scores, ref_grads = _loss_and_grads("segment", model, dissimilarity, negatives)
    assert ref_loss > 0
    torch.testing.assert_close(scores, ref_scores, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(loss, ref_loss, rtol=1e-5, atol=1e-6)
    assert grads.keys() == ref_grads.keys()
    for name in grads:
        torch.testing.assert_close(grads[name], ref_grads[name], rtol=1e-5, atol=1e-6, msg=name)


def test_untouched_entities_get_exactly_zero_gradient():
    _, _, grads = _loss_and_grads("fused", "transe", "L2sq", NEGATIVES[:4])
    assert torch.count_nonzero(grads["entity"][UNTOUCHED]) == 0
    assert torch.count_nonzero(grads["entity"][0]) > 0


def test_a_scaled_loss_scales_every_gradient():
    cfg, params = _params("transh", "L2sq")
    grads = []
    for factor in (1.0, 3.0):
        sparse = build_model("transh", params, N_ENT, N_REL, "L2sq", "fused")
        (factor * sparse.loss(sparse.prepare(POSITIVES, NEGATIVES[:4]), "margin", 0.5)).backward()
        grads.append({name: p.grad.clone() for name, p in sparse.named_parameters()})
    for name in grads[0]:
        torch.testing.assert_close(grads[1][name], 3.0 * grads[0][name], msg=name)


def test_inactive_pairs_contribute_nothing():
    """With a negative margin no pair violates it: zero loss and all-zero gradients."""
    loss, _, grads = _loss_and_grads("fused", "transe", "L2sq", NEGATIVES[:4], margin=-100.0)
    assert float(loss) == 0.0
    assert all(torch.count_nonzero(g) == 0 for g in grads.values())


def test_thread_count_does_not_change_the_numbers():
    before = torch.get_num_threads()
    try:
        results = []
        for threads in (1, 2):
            torch.set_num_threads(threads)
            results.append(_loss_and_grads("fused", "transr", "L2sq", NEGATIVES))
    finally:
        torch.set_num_threads(before)
    (loss1, scores1, grads1), (loss2, scores2, grads2) = results
    torch.testing.assert_close(loss1, loss2)
    torch.testing.assert_close(scores1, scores2)
    for name in grads1:
        torch.testing.assert_close(grads1[name], grads2[name], msg=name)


def test_fused_scores_are_not_differentiable_and_say_so():
    cfg, params = _params("transe", "L2sq")
    sparse = build_model("transe", params, N_ENT, N_REL, "L2sq", "fused")
    positive, _ = sparse(sparse.prepare(POSITIVES, NEGATIVES[:4]))
    with pytest.raises(RuntimeError, match="not differentiable"):
        positive.sum().backward()


def _row_mode_gradients(model: str, dissimilarity: str, factor: float = 1.0):
    """Row-gradient mode: the entity gradient left in the kernel's per-thread rows, read back dense, and the
    relation-side gradients (sparse row gradients) made dense."""
    cfg, params = _params(model, dissimilarity)
    sparse = build_model(model, params, N_ENT, N_REL, dissimilarity, "fused", row_gradients=True)
    (factor * sparse.loss(sparse.prepare(POSITIVES, NEGATIVES), "margin", 0.5)).backward()
    grads = {name: p.grad.to_dense() for name, p in sparse.named_parameters() if p.grad is not None}
    assert sparse.entity.grad is None  # never a tensor: the optimizer takes it from the kernel's rows
    grads.update(sparse.pending_gradients())
    return sparse, grads


@pytest.mark.parametrize("model,dissimilarity", CASES)
def test_row_mode_leaves_the_same_gradient_for_the_optimizer(model, dissimilarity):
    _, _, dense = _loss_and_grads("fused", model, dissimilarity, NEGATIVES)
    _, rows = _row_mode_gradients(model, dissimilarity)
    assert rows.keys() == dense.keys()
    for name in dense:
        torch.testing.assert_close(rows[name], dense[name], rtol=1e-5, atol=1e-6, msg=name)
    _, scaled = _row_mode_gradients(model, dissimilarity, factor=3.0)
    torch.testing.assert_close(scaled["entity"], 3.0 * rows["entity"])


def test_row_mode_gradient_is_taken_once_and_a_dropped_one_does_not_leak_into_the_next():
    """The per-thread rows are never zeroed (a row is written on its first touch): a gradient nobody took must not
    add into the next step's, and rows a thread left untouched from an earlier, bigger batch must not count."""
    sparse, _ = _row_mode_gradients("transe", "L2sq")
    workspace = sparse.backend.workspace
    pending = sparse.take_pending_rows()
    assert len(pending) == 1 and pending[0][0] is sparse.entity
    assert workspace.pending is None and sparse.take_pending_rows() == []
    sparse.loss(sparse.prepare(POSITIVES, NEGATIVES), "margin", 0.5).backward()  # nobody takes this one
    small_positives, small_negatives = POSITIVES[:2], NEGATIVES[[0, 1, 4, 5]]
    sparse.loss(sparse.prepare(small_positives, small_negatives), "margin", 0.5).backward()
    again = sparse.pending_gradients()["entity"]
    cfg, params = _params("transe", "L2sq")
    fresh = build_model("transe", params, N_ENT, N_REL, "L2sq", "fused")
    fresh.loss(fresh.prepare(small_positives, small_negatives), "margin", 0.5).backward()
    torch.testing.assert_close(again, fresh.entity.grad)


def test_distinct_sorted_ids_are_numpys_unique_and_leave_the_bitmap_clear():
    import numpy as np

    from sparse_impl.backends.fused.kernels import distinct_sorted_ids

    rng = np.random.default_rng(1)
    for n_entities in (1, 63, 64, 65, 1000):
        words = np.zeros((n_entities + 63) // 64, np.uint64)
        prefix = np.zeros(words.shape[0], np.int64)
        for size in (1, 7, 300):
            heads, tails = rng.integers(0, n_entities, size), rng.integers(0, n_entities, size)
            ids, local_heads, local_tails = distinct_sorted_ids(heads, tails, words, prefix)
            np.testing.assert_array_equal(ids, np.unique(np.concatenate((heads, tails))))
            np.testing.assert_array_equal(ids[local_heads], heads)
            np.testing.assert_array_equal(ids[local_tails], tails)
            assert not words.any()


_THREADS_SCRIPT = """
import numpy as np, torch
torch.set_num_threads(1)
from sparse_impl.backends.fused import kernels
from sparse_impl.backends.fused.threads import match_torch_threads
match_torch_threads()  # launches numba's pool (every core: NUMBA_NUM_THREADS is unset)
kernels.gather_rows(np.arange(4), np.ones((8, 3), np.float32))
print(torch.get_num_threads(), match_torch_threads())
"""


@pytest.mark.skipif((os.cpu_count() or 1) < 2, reason="needs 2 cores: with one, numba's pool is torch's size anyway")
def test_launching_numbas_pool_leaves_torch_and_numba_on_torchs_thread_count() -> None:
    # numba's OpenMP layer sets OpenMP's count to its pool size when the pool starts; torch shares that count.
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_NUM_THREADS"}
    done = subprocess.run([sys.executable, "-c", _THREADS_SCRIPT], capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["1", "1"]  # torch's threads, numba's threads
