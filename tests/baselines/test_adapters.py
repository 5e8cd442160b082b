"""Adapter contracts beyond numerical agreement: reasons for unsupported models, lazy imports,
canonical shapes, and DGL-KE's native mode (chunked shared negatives, row-wise Adagrad)."""

from __future__ import annotations

import itertools
import math
import os
import subprocess
import sys

import pytest
import torch

from baselines import FRAMEWORKS
from baselines.dglke import DGLKENativeStep, DGLKEStep, dgl_unavailable_reason
from harness.models import MODELS, get_model
from harness.sampling import Batch, BatchStream, make_sampler
from harness.spec import ModelConfig, TrainConfig, init_parameters, parameter_shapes
from sparse_impl.backends import DEFAULT_BACKEND
from sparse_impl.dissimilarity import dissimilarity

N_ENT, N_REL, DIM, REL_DIM, BATCH = 50, 5, 8, 6, 64


def _triples(n: int = 400, seed: int = 0) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    h = torch.randint(0, N_ENT, (n,), generator=gen)
    r = torch.randint(0, N_REL, (n,), generator=gen)
    t = (h + torch.randint(1, N_ENT, (n,), generator=gen)) % N_ENT
    return torch.stack((h, r, t), dim=1)


def _cfg(model: str, dis: str | None = None) -> ModelConfig:
    return ModelConfig(model, N_ENT, N_REL, DIM, rel_dim=REL_DIM if model == "transr" else None, dissimilarity=dis)


def _batch(train: TrainConfig):
    triples = _triples()
    sampler = make_sampler(train.sampler, triples, N_ENT, N_REL)
    return next(iter(BatchStream(triples, BATCH, sampler, train.num_negatives, train.seed)))


@pytest.mark.parametrize("framework", list(FRAMEWORKS))
def test_unsupported_models_have_a_reason_naming_the_model(framework: str) -> None:
    cls = FRAMEWORKS[framework]
    for model in tuple(MODELS):
        cfg = _cfg(model)
        reason = cls.unsupported_reason(cfg)
        if model in cls.supported_models(cls.resolve_options({})):  # e.g. PyG's RotatE has L2, not the default L1
            assert reason is None or (cfg.dissimilarity in reason and model in reason), reason
        else:
            assert reason is not None and model in reason


def test_pyg_l1_is_unsupported_with_a_reason() -> None:
    reason = FRAMEWORKS["pyg"].unsupported_reason(_cfg("transe", "L1"))
    assert reason is not None and "L1" in reason


@pytest.mark.parametrize("framework,model,dis", [("pyg", "rotate", "L1"), ("dglke", "rotate", "L2")])
def test_a_rotate_norm_a_library_lacks_is_unsupported_in_one_line(framework: str, model: str, dis: str) -> None:
    reason = FRAMEWORKS[framework].unsupported_reason(_cfg(model, dis))
    assert reason is not None and dis in reason and model in reason and "\n" not in reason


@pytest.mark.parametrize("framework", ["torchkge", "pyg"])
def test_split_complex_tables_refuse_a_row_wise_accumulator(framework: str) -> None:
    """TorchKGE's and PyG's ComplEx keep re and im in two tables: a row-wise Adagrad would hold two accumulators per
    row, so it is refused in one line; the element-wise optimizers run."""
    from harness.errors import SptxError

    cls, cfg = FRAMEWORKS[framework], _cfg("complex")
    reason = cls.unsupported_reason(cfg, None, "adagrad-rowwise")
    assert reason is not None and "adagrad-rowwise" in reason and "\n" not in reason
    assert cls.unsupported_reason(cfg, None, "adam-lazy") is None
    if cls.unavailable_reason() is None:
        with pytest.raises(SptxError, match="adagrad-rowwise"):
            cls.build(cfg, TrainConfig(optimizer="adagrad-rowwise"), init_parameters(cfg), torch.device("cpu"), {})


def test_import_baselines_does_not_import_the_libraries() -> None:
    code = ("import sys, baselines; "
            "print(','.join(m for m in ('torch_geometric', 'pykeen', 'torchkge', 'dgl') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120)
    assert out.stdout.strip() == ""


@pytest.mark.parametrize("framework", list(FRAMEWORKS))
@pytest.mark.parametrize("model", tuple(MODELS))
def test_canonical_shapes(framework: str, model: str) -> None:
    cls = FRAMEWORKS[framework]
    cfg = _cfg(model)
    if (reason := cls.unavailable_reason() or cls.unsupported_reason(cfg)) is not None:
        pytest.skip(reason)
    params = init_parameters(cfg)
    step = cls(cfg, TrainConfig(), params, torch.device("cpu"))
    shapes = parameter_shapes(cfg)
    got = step.canonical_parameters()
    assert {k: tuple(v.shape) for k, v in got.items()} == shapes
    for k, v in got.items():
        torch.testing.assert_close(v, params[k])
    assert {k: tuple(v.shape) for k, v in step.canonical_gradients().items()} == shapes


def test_dglke_records_its_kernel() -> None:
    cfg = _cfg("transe")
    step = DGLKEStep(cfg, TrainConfig(), init_parameters(cfg), torch.device("cpu"))
    assert step.kernel == ("dgl" if dgl_unavailable_reason() is None else "torch-gather")
    forced = DGLKEStep(cfg, TrainConfig(), init_parameters(cfg), torch.device("cpu"), kernel="torch-gather")
    assert forced.kernel == "torch-gather"


@pytest.mark.dgl
@pytest.mark.parametrize("model,dis", [("transe", "L2sq"), ("transe", "L1"), ("transr", "L2sq")])
def test_dglke_dgl_kernel_matches_torch_gather(model: str, dis: str) -> None:
    if (reason := dgl_unavailable_reason()) is not None:
        if os.environ.get("SPTX_REQUIRE_DGL"):  # the tox environment `dgl`
            pytest.fail(f"SPTX_REQUIRE_DGL is set but {reason}")
        pytest.skip(reason)
    cfg, train = _cfg(model, dis), TrainConfig(num_negatives=2)
    batch = _batch(train)
    results = []
    for kernel in ("dgl", "torch-gather"):
        step = DGLKEStep(cfg, train, init_parameters(cfg), torch.device("cpu"), kernel=kernel)
        loss = step.forward(step.prepare(batch))
        step.backward(loss)
        results.append((loss.detach(), step.canonical_gradients()))
    torch.testing.assert_close(results[0][0], results[1][0], rtol=1e-5, atol=1e-5)
    for k in results[1][1]:
        torch.testing.assert_close(results[0][1][k], results[1][1][k], rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("model,dis", [("transe", "L2sq"), ("transe", "L1"), ("transe", "L2"), ("transr", "L2sq"),
                                       ("distmult", None), ("complex", None), ("rotate", "L1")])
def test_dglke_native_chunked_negatives_score_the_shared_entities(model: str, dis: str | None) -> None:
    """Each positive of a chunk is scored against all of its chunk's entities, on the alternating side
    (tail first), with the model's function; chunk 24 leaves a smaller final chunk of 16 (B = 64)."""
    cfg, train = _cfg(model, dis), TrainConfig()
    params = init_parameters(cfg)
    step = DGLKENativeStep(cfg, train, params, torch.device("cpu"), neg_sample_size=10, chunk_size=24)
    batch = _batch(train)
    pos = batch.positives
    for corrupt_head in (False, True):
        prepared = step.prepare(batch)
        assert prepared.corrupt_head is corrupt_head
        positive, negative = step.scores(prepared)
        assert positive.shape == (BATCH,) and negative.shape == (10 * BATCH,)
        shared = prepared.entity_ids[prepared.neg_local]  # (n_chunks, 10) global ids
        assert shared.shape == (3, 10)
        chunk_of = torch.arange(BATCH) // 24
        rows = []
        for j in range(10):  # block j: negative j of every positive, as the Batch layout
            neg = pos.clone()
            neg[:, 0 if corrupt_head else 2] = shared[chunk_of, j]
            rows.append(neg)
        explicit = torch.cat(rows)
        expected = get_model(model).score(params, dis, explicit[:, 0], explicit[:, 1], explicit[:, 2])
        torch.testing.assert_close(negative.detach(), expected, rtol=1e-4, atol=1e-5)
        step.forward(prepared).backward()  # keeps the trace consistent; no update


@pytest.mark.parametrize("model", ["transe", "transr", "distmult", "complex", "rotate"])
def test_dglke_native_mode_trains(model: str) -> None:
    cfg, train = _cfg(model), TrainConfig(lr=0.05)
    step = DGLKENativeStep(cfg, train, init_parameters(cfg), torch.device("cpu"), neg_sample_size=16, chunk_size=24)
    batch = _batch(train)
    before = {k: v.clone() for k, v in step.canonical_parameters().items()}
    losses = []
    for _ in range(8):
        prepared = step.prepare(batch)
        loss = step.forward(prepared)
        step.backward(loss)
        grads = step.canonical_gradients()
        assert all(torch.isfinite(g).all() for g in grads.values())
        losses.append(float(loss.detach()))
        step.optimizer_step()
    assert all(math.isfinite(x) for x in losses)
    assert sum(losses[-2:]) < sum(losses[:2]), losses
    after = step.canonical_parameters()
    assert any(not torch.equal(before[k], after[k]) for k in before)
    # row-wise Adagrad: one state value per row of every table
    assert all(s.shape == (step.tables[k].shape[0],) for k, s in step.state.items())
    assert float(step.state["entity"].sum()) > 0


def test_dglke_native_adagrad_is_row_wise() -> None:
    """One step from zero state: each touched row moves by -lr * g / sqrt(mean(g^2)) (+1e-10)."""
    cfg, train = _cfg("transe"), TrainConfig(lr=0.01)
    params = init_parameters(cfg)
    step = DGLKENativeStep(cfg, train, params, torch.device("cpu"), neg_sample_size=8, chunk_size=32)
    prepared = step.prepare(_batch(train))
    step.backward(step.forward(prepared))
    grad = step.canonical_gradients()["relation"]  # relations are not re-normalised
    step.optimizer_step()
    # relation leaves are per edge: sum of squares over duplicates is what the state accumulates
    state = step.state["relation"]
    assert state.shape == (N_REL,)
    moved = step.canonical_parameters()["relation"] - params["relation"]
    touched = grad.abs().sum(1) > 0
    assert touched.any()
    assert torch.all(moved[~touched] == 0)
    assert torch.all((moved[touched] * grad[touched]).sum(1) < 0)  # a descent direction per row


def test_options_are_declared_resolved_and_labelled():
    from baselines import FRAMEWORKS
    from harness.errors import SptxError

    sparse, gather = FRAMEWORKS["sparse"], FRAMEWORKS["gather"]
    assert sparse.resolve_options({}) == {"backend": DEFAULT_BACKEND, "compile": False}
    assert sparse.label(sparse.resolve_options({"backend": "torch"})) == "sparse[torch]"
    assert gather.label({}) == "gather" and gather.label({"compile": True}) == "gather[compiled]"
    assert gather.label({"normalize": "rows"}) == "gather[normalize=rows]"
    assert sparse.label({"compile": True}) == f"sparse[{DEFAULT_BACKEND},compiled]"
    with pytest.raises(SptxError, match="gather has no option"):
        gather.resolve_options({"backend": "torch"})
    with pytest.raises(SptxError, match="choose one of"):
        gather.resolve_options({"normalize": "sometimes"})


def test_dglke_declares_its_kernel_and_chunk_options():
    from harness.errors import SptxError

    dglke = FRAMEWORKS["dglke"]
    assert dglke.resolve_options({}) == {"kernel": "auto", "neg_sample_size": 256, "chunk_size": 256,
                                         "compile": False}
    assert dglke.label(dglke.resolve_options({})) == "dglke"
    assert dglke.label(dglke.resolve_options({"kernel": "torch-gather"})) == "dglke[kernel=torch-gather]"
    assert dglke.resolve_options({"chunk_size": "64"})["chunk_size"] == 64  # as `--option chunk_size=64` gives it
    with pytest.raises(SptxError, match="expected a number"):
        dglke.resolve_options({"chunk_size": "many"})
    with pytest.raises(SptxError, match="choose one of"):
        dglke.resolve_options({"kernel": "cuda"})
    assert dglke.unavailable_reason_for({"kernel": "torch-gather"}) is None
    assert dglke.unavailable_reason_for({"kernel": "dgl"}) == dgl_unavailable_reason()


def test_dglke_options_enter_the_cell_key_and_label():
    from harness.runner.cell import make_cell

    plain = make_cell("dglke", model="transe", dataset="synthetic:WN18RR", code_version="x")
    chunked = make_cell("dglke", {"chunk_size": 64}, model="transe", dataset="synthetic:WN18RR", code_version="x")
    assert plain.framework_label == "dglke" and chunked.framework_label == "dglke[chunk_size=64]"
    assert plain.key != chunked.key


def test_dglke_builds_its_identical_or_native_step_by_mode():
    from harness.errors import SptxError

    cfg, train = _cfg("transe"), TrainConfig()
    dglke = FRAMEWORKS["dglke"]
    identical = dglke.build(cfg, train, init_parameters(cfg), torch.device("cpu"), {"kernel": "torch-gather"})
    native = dglke.build(cfg, train, init_parameters(cfg), torch.device("cpu"), {"chunk_size": 32}, native=True)
    assert type(identical) is DGLKEStep and identical.kernel == "torch-gather"
    assert type(native) is DGLKENativeStep and native.chunk_size == 32 and native.neg_sample_size == 256
    assert type(identical).has_native and type(native).has_native
    with pytest.raises(SptxError, match="chunk_size do nothing in identical mode"):
        dglke.build(cfg, train, init_parameters(cfg), torch.device("cpu"), {"chunk_size": 32})


@pytest.mark.slow
@pytest.mark.parametrize("framework", ["sparse", "gather"])
def test_a_compiled_step_computes_what_the_eager_one_does(framework):
    from baselines import FRAMEWORKS

    cfg = ModelConfig("transe", 50, 5, 8)
    gen = torch.Generator().manual_seed(0)
    heads, tails = torch.randint(0, 50, (2, 16), generator=gen)
    positives = torch.stack([heads, torch.randint(0, 5, (16,), generator=gen), tails], dim=1)
    negatives = positives.clone()
    negatives[:, 2] = torch.randint(0, 50, (16,), generator=gen)
    losses = {}
    for compiled in (False, True):
        step = FRAMEWORKS[framework].build(cfg, TrainConfig(), init_parameters(cfg), torch.device("cpu"),
                                           {"compile": compiled})
        out = []
        for _ in range(2):
            loss = step.forward(step.prepare(Batch(positives, negatives)))
            step.backward(loss)
            step.optimizer_step()
            out.append(float(loss.detach()))
        losses[compiled] = out
    assert losses[True] == pytest.approx(losses[False], rel=1e-5)
