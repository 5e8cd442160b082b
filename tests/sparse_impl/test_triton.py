"""The Triton backend (sparse_impl/backends/triton) on CPU tensors under Triton's interpreter, at tiny sizes (40
entities, 5 relations, d = 8, 32 positives): scores, loss and every gradient equal the gather reference (the model
spec's score by autograd, float64) and the numba fused backend, for every model and dissimilarity it has, both
reductions (atomics; the sorted segmented one), dense and row gradients, every loss; `verify_step` passes with it;
`fused` on a CUDA device resolves to it; training steps through the harness's optimizers equal the numba backend's.

TRITON_INTERPRET=1 must be set before triton is first imported (triton.jit reads it then): the tox environment
`triton` sets it; elsewhere tests/conftest.py (and, run alone, this module) sets it when triton is installed and no
CUDA device is here. Without triton every test that needs it skips, with the reason."""

from __future__ import annotations

import importlib.util
import os

import pytest
import torch

if importlib.util.find_spec("triton") is not None and not torch.cuda.is_available():
    os.environ.setdefault("TRITON_INTERPRET", "1")

from harness.models import MODELS, get_model  # noqa: E402
from harness.spec import ModelConfig, TrainConfig, init_parameters  # noqa: E402
from sparse_impl.backends import BACKENDS, BackendUnavailable, backend_for_device, get_backend  # noqa: E402
from sparse_impl.loss import batch_loss  # noqa: E402
from sparse_impl.models import build_model  # noqa: E402

REASON = BACKENDS["triton"].unavailable_reason()
needs_triton = pytest.mark.skipif(REASON is not None, reason=f"backend triton unavailable here: {REASON}")
NUMBA = BACKENDS["fused"].unavailable_reason()

N_ENT, N_REL, DIM, N_POS = 40, 5, 8, 32
TRITON_BACKENDS = ("triton", "triton-sorted")
CASES = [("transe", "L1"), ("transe", "L2"), ("transe", "L2sq"), ("toruse", "torus_L1"), ("toruse", "torus_L2"),
         ("toruse", "torus_eL2"), ("transh", "L2sq"), ("transr", "L2sq")]
DEVICE = torch.device("cuda" if torch.cuda.is_available() else "cpu")


def _triples(n_blocks: int, hot: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """32 positives and n_blocks blocks of negatives (block j corrupts positive i's head or tail in row 32 j + i),
    with a self-loop; `hot`: entity 0 is the head of every row (one segment longer than a reduction block)."""
    g = torch.Generator().manual_seed(5)
    positives = torch.stack((torch.randint(0, N_ENT, (N_POS,), generator=g), torch.randint(0, N_REL, (N_POS,), generator=g),
                             torch.randint(0, N_ENT, (N_POS,), generator=g)), dim=1)
    positives[0, 2] = positives[0, 0]
    negatives = positives.repeat(n_blocks, 1)
    corrupt = torch.randint(0, N_ENT, (negatives.shape[0],), generator=g)
    head = torch.rand(negatives.shape[0], generator=g) < 0.5
    negatives[head, 0] = corrupt[head]
    negatives[~head, 2] = corrupt[~head]
    if hot:
        positives[:, 0] = 0
        negatives[:, 0] = 0
    return positives, negatives


def _params(model: str, dissimilarity: str, dtype=torch.float32) -> tuple[ModelConfig, dict[str, torch.Tensor]]:
    cfg = ModelConfig(model, N_ENT, N_REL, DIM, rel_dim=6 if model == "transr" else None, dissimilarity=dissimilarity)
    params = init_parameters(cfg, seed=7)
    params["entity"] = params["entity"] * 1.7  # not unit-norm: the normalisation's Jacobian matters
    if model == "toruse":
        params["entity"] = params["entity"] * 3 - 1.3  # negative values and values beyond 1 exercise frac
    return cfg, {k: v.to(dtype) for k, v in params.items()}


def _run(backend: str, model: str, dissimilarity: str, positives, negatives, loss: str = "margin",
         row_gradients: bool = False, dtype=torch.float32, scale: float = 1.0):
    """(loss, scores of every row, dense gradient of every table) of one pass on the backend."""
    _, params = _params(model, dissimilarity, dtype)
    sparse = build_model(model, params, N_ENT, N_REL, dissimilarity, backend, row_gradients=row_gradients)
    sparse.to(DEVICE)
    batch = sparse.prepare(positives.to(DEVICE), negatives.to(DEVICE))
    value = sparse.loss(batch, loss, 0.5, 1.0)
    (scale * value).backward()
    with torch.no_grad():
        positive, negative = sparse(batch)
    grads = {name: p.grad for name, p in sparse.named_parameters()}
    return value.detach().cpu(), torch.cat((positive, negative)).cpu(), grads


def _reference(model: str, dissimilarity: str, positives, negatives, loss: str = "margin"):
    """The same pass by the model spec's score (gathers) and autograd, in float64."""
    _, params = _params(model, dissimilarity)
    params = {k: v.double().requires_grad_(True) for k, v in params.items()}
    triples = torch.cat((positives, negatives))
    scores = get_model(model).score(params, dissimilarity, triples[:, 0], triples[:, 1], triples[:, 2])
    value = batch_loss(loss, scores[: N_POS], scores[N_POS:], 0.5, 1.0)
    value.backward()
    return value.detach(), scores.detach(), {k: v.grad for k, v in params.items()}


def _close(ours, reference, what: str, rtol: float = 2e-5, scale_tol: float = 1e-6) -> None:
    """Equal to float32 rounding: within rtol of each element, or within scale_tol of the tensor's scale (max |x|;
    sums of many terms of both signs, as TorusE's relation gradients, leave small elements a few ulps of the
    scale off)."""
    loss, scores, grads = ours
    ref_loss, ref_scores, ref_grads = reference
    assert set(grads) == set(ref_grads)
    pairs = [("loss", loss, ref_loss), ("scores", scores, ref_scores)]
    pairs += [(f"grad({name})", grad.to_dense() if grad.is_sparse else grad, ref_grads[name]) for name, grad in grads.items()]
    for name, value, expected in pairs:
        expected = expected.double()
        atol = scale_tol * max(float(expected.abs().max()), 1.0)
        diff = float((value.cpu().double() - expected).abs().max())
        torch.testing.assert_close(value.cpu().double(), expected, rtol=rtol, atol=atol,
                                   msg=f"{what}: {name} differs by up to {diff:.3e} (atol {atol:.1e})")


@needs_triton
@pytest.mark.parametrize("backend", TRITON_BACKENDS)
@pytest.mark.parametrize("n_blocks", [1, 2])
@pytest.mark.parametrize("model,dissimilarity", CASES)
def test_margin_pass_equals_the_gather_reference_and_the_numba_backend(model, dissimilarity, n_blocks, backend):
    positives, negatives = _triples(n_blocks)
    reference = _reference(model, dissimilarity, positives, negatives)
    assert reference[0] > 0 and (reference[2]["entity"] == 0).any(dim=1).sum() < N_ENT  # hinges active, rows touched
    ours = _run(backend, model, dissimilarity, positives, negatives)
    _close(ours, reference, f"{backend} {model}/{dissimilarity} vs gathers")
    if NUMBA is None:
        _close(ours, _run("fused", model, dissimilarity, positives, negatives), f"{backend} {model} vs numba fused")


@needs_triton
@pytest.mark.parametrize("backend", TRITON_BACKENDS)
@pytest.mark.parametrize("loss", ["softplus", "nssa"])
@pytest.mark.parametrize("model", ["transe", "toruse", "transh", "transr"])
def test_every_other_loss_equals_the_gather_reference(model, loss, backend):
    """softplus and self-adversarial losses: torch's d loss / d score through the coefficient kernels."""
    dissimilarity = MODELS[model].default_dissimilarity
    positives, negatives = _triples(2)
    _close(_run(backend, model, dissimilarity, positives, negatives, loss),
           _reference(model, dissimilarity, positives, negatives, loss), f"{backend} {model} {loss}")


@needs_triton
@pytest.mark.parametrize("backend", TRITON_BACKENDS)
@pytest.mark.parametrize("model", ["transe", "toruse", "transh", "transr"])
def test_row_gradients_hold_exactly_the_touched_rows(model, backend):
    dissimilarity = MODELS[model].default_dissimilarity
    positives, negatives = _triples(1)
    dense = _run(backend, model, dissimilarity, positives, negatives)
    rows = _run(backend, model, dissimilarity, positives, negatives, row_gradients=True)
    triples = torch.cat((positives, negatives))
    for name, grad in rows[2].items():
        assert grad.is_sparse, name  # (autograd's accumulation drops the coalesced flag; the rows are distinct)
        touched = triples[:, [0, 2]].reshape(-1) if name == "entity" else triples[:, 1]
        assert torch.equal(grad._indices()[0].cpu(), torch.unique(touched)), name
    _close(rows, dense, f"{backend} {model} rows vs dense", rtol=1e-6, scale_tol=1e-7)


@needs_triton
@pytest.mark.parametrize("model", ["transe", "transh", "transr"])
def test_a_hot_row_over_several_reduction_blocks_and_reproducible_bits(model):
    """Entity 0 is the head of all 96 rows (a segment longer than one reduction block); the sorted reduction
    gives the same bits on every run, and the same numbers as the atomics."""
    dissimilarity = MODELS[model].default_dissimilarity
    positives, negatives = _triples(2, hot=True)
    first = _run("triton-sorted", model, dissimilarity, positives, negatives)
    again = _run("triton-sorted", model, dissimilarity, positives, negatives)
    for name in first[2]:
        assert torch.equal(first[2][name], again[2][name]), name
    _close(first, _reference(model, dissimilarity, positives, negatives), f"sorted {model} hot row")
    _close(_run("triton", model, dissimilarity, positives, negatives), first, f"atomic vs sorted {model}")


@needs_triton
@pytest.mark.parametrize("model", ["transe", "transr"])
def test_float64_tables_equal_the_reference_to_rounding(model):
    dissimilarity = MODELS[model].default_dissimilarity
    positives, negatives = _triples(2)
    for backend in TRITON_BACKENDS:
        ours = _run(backend, model, dissimilarity, positives, negatives, dtype=torch.float64)
        assert ours[1].dtype == torch.float64
        _close(ours, _reference(model, dissimilarity, positives, negatives), f"{backend} float64", rtol=1e-10,
               scale_tol=1e-12)


@needs_triton
@pytest.mark.parametrize("row_gradients", [False, True])
def test_a_scaled_loss_scales_every_gradient(row_gradients):
    positives, negatives = _triples(1)
    once = _run("triton", "transh", "L2sq", positives, negatives, row_gradients=row_gradients)
    scaled = _run("triton", "transh", "L2sq", positives, negatives, row_gradients=row_gradients, scale=3.0)
    for name, grad in once[2].items():
        torch.testing.assert_close(scaled[2][name].to_dense(), 3.0 * grad.to_dense(), msg=name)


@needs_triton
def test_a_margin_no_pair_violates_gives_zero_loss_and_gradients():
    _, params = _params("transe", "L2sq")
    sparse = build_model("transe", params, N_ENT, N_REL, "L2sq", "triton")
    positives, negatives = _triples(2)
    value = sparse.loss(sparse.prepare(positives, negatives), "margin", -100.0)
    value.backward()
    assert float(value.detach()) == 0.0 and all(torch.count_nonzero(p.grad) == 0 for p in sparse.parameters())


@needs_triton
def test_scores_are_not_differentiable_and_say_so():
    _, params = _params("transe", "L2sq")
    sparse = build_model("transe", params, N_ENT, N_REL, "L2sq", "triton")
    positive, _ = sparse(sparse.prepare(*_triples(1)))
    with pytest.raises(RuntimeError, match="not differentiable"):
        positive.sum().backward()


@needs_triton
@pytest.mark.parametrize("backend", TRITON_BACKENDS)
@pytest.mark.parametrize("model", ["transe", "toruse", "transh", "transr"])
def test_verify_step_passes(model, backend):
    """`sptx verify`'s check (against TorchKGE, and the spec's score) through the existing API, on a tiny
    synthetic graph."""
    if importlib.util.find_spec("torchkge") is None:
        pytest.skip("torchkge (verify's reference for the translation models) is not installed")
    from harness.data import load_dataset
    from harness.verify import verify_step

    dataset = load_dataset("synthetic:entities=40,relations=5,triples=400", None)
    cfg = ModelConfig(model, dataset.n_entities, dataset.n_relations, DIM)
    report = verify_step(cfg, dataset.train, N_POS, "sparse", {"backend": backend}, TrainConfig(num_negatives=2),
                         DEVICE)
    assert report.label == f"sparse[{backend}]"
    assert report.passed, [c for c in report.comparisons if not c.passed]


@needs_triton
@pytest.mark.parametrize("optimizer", ["adam-fused", "adam-lazy", "adagrad-rowwise"])
@pytest.mark.parametrize("model", ["transe", "transh"])
def test_training_steps_equal_the_numba_backend(model, optimizer):
    """Three steps of SparseStep (prepare, loss, backward, optimizer, constraints) end where the numba fused
    backend's end, with a dense and with the row-sparse optimizers (sparse row gradients here, the fused row
    update there)."""
    if NUMBA is not None:
        pytest.skip(NUMBA)
    from baselines.sparse import SparseStep
    from harness.measure.driver import drive_step
    from harness.sampling import BatchStream, make_sampler

    cfg, params = _params(model, MODELS[model].default_dissimilarity)
    train = TrainConfig(num_negatives=2, optimizer=optimizer, lr=0.01)
    g = torch.Generator().manual_seed(1)
    triples = torch.stack((torch.randint(0, N_ENT, (200,), generator=g), torch.randint(0, N_REL, (200,), generator=g),
                           torch.randint(0, N_ENT, (200,), generator=g)), dim=1)
    sampler = make_sampler(train.sampler, triples, N_ENT, N_REL)
    batches = [b for _, b in zip(range(3), BatchStream(triples, N_POS, sampler, 2, 0))]
    ends = []
    for backend in ("triton", "fused"):
        step = SparseStep(cfg, train, params, DEVICE if backend == "triton" else torch.device("cpu"), backend=backend)
        losses = [float(drive_step(step, batch).loss.detach()) for batch in batches]
        ends.append((losses, {k: v.cpu() for k, v in step.canonical_parameters().items()}))
    (losses, ours), (ref_losses, ref) = ends
    assert losses == pytest.approx(ref_losses, rel=1e-5)
    for name, value in ref.items():
        assert not torch.equal(value, params[name]), f"degenerate: {name} did not move"
        torch.testing.assert_close(ours[name], value, rtol=1e-5, atol=1e-6, msg=name)


@pytest.mark.slow
@pytest.mark.skipif(importlib.util.find_spec("triton") is None or "older than" in (REASON or ""),
                    reason=f"no usable triton here: {REASON}")
def test_every_kernel_compiles_for_an_h100_without_one():
    """The interpreter checks the numbers, not that Triton's compiler takes the code: compile the launcher's
    specializations (the paper's GPU sizes, each model's default dissimilarity, both reductions) through to
    a cubin for sm_90 with the bundled LLVM and ptxas, in a process without TRITON_INTERPRET."""
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if k != "TRITON_INTERPRET"}
    done = subprocess.run([sys.executable, "-m", "sparse_impl.backends.triton.compile_check", "--quiet",
                           "--default-dissimilarities"], env=env, capture_output=True, text=True, timeout=540)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    assert ", 0 failed" in done.stdout


# --- what needs no kernel: the registry, the CUDA dispatch of `fused`, the reasons ---

def test_fused_on_a_cuda_device_is_the_triton_backend():
    assert backend_for_device("fused", "cuda") == backend_for_device("fused", torch.device("cuda", 1)) == "triton"
    assert backend_for_device("fused", "cpu") == backend_for_device("fused", None) == "fused"
    assert backend_for_device("segment", "cuda") == "segment"
    if REASON is None:
        assert get_backend("fused", "cuda").name == "triton"
        _, params = _params("transe", "L2sq")
        assert build_model("transe", params, N_ENT, N_REL, "L2sq", "fused", device="cuda").backend.name == "triton"
        with pytest.raises(ValueError, match=r"fused \(on cuda: triton\) has no distmult"):
            build_model("distmult", init_parameters(ModelConfig("distmult", N_ENT, N_REL, DIM)), N_ENT, N_REL, None,
                        "fused", device="cuda")
    else:
        with pytest.raises(BackendUnavailable, match="'triton' is unavailable"):
            get_backend("fused", "cuda")


def test_the_triton_backends_say_why_they_cannot_run_in_one_line(monkeypatch):
    from sparse_impl.backends import triton as backend

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "triton" else real(name, *a))
    for name in TRITON_BACKENDS:
        reason = BACKENDS[name].unavailable_reason()
        assert reason is not None and "triton is not installed" in reason and "\n" not in reason
    monkeypatch.setattr(importlib.util, "find_spec", real)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.delenv("TRITON_INTERPRET", raising=False)
    reason = backend.triton_unavailable_reason()
    if real("triton") is not None and "older than" not in (reason or ""):
        assert reason is not None and "no CUDA device" in reason and "TRITON_INTERPRET=1" in reason


def test_the_triton_backends_have_the_translation_models_and_every_loss():
    pytest.importorskip("triton", reason="the gpu extra (triton) is not installed")
    for name in TRITON_BACKENDS:
        cls = BACKENDS[name]
        assert cls.row_gradients
        assert {m for m, spec in MODELS.items() if cls.supports(m, spec.interaction)} == {
            "transe", "toruse", "transh", "transr"}
        assert cls.supports_loss("transr", "nssa") and not cls.supports_loss("distmult", "margin")
