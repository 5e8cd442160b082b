"""The rivals' row-sparse paths (issue 19): each framework that runs `adam-lazy` / `adagrad-rowwise` does so from its
library's own sparse row gradients, ends a few steps where a dense-gradient reference written here ends (dense
autograd over whole tables, the gradient of the touched rows handed to the optimizer, the touched rows constrained),
says in the record which implementation ran, and refuses in one line what it cannot run."""

from __future__ import annotations

import itertools

import pytest
import torch

from baselines import FRAMEWORKS
from baselines.base import library_optimizer, optimizer_kind
from harness.errors import SptxError
from harness.measure.driver import drive_step
from harness.models import MODELS
from harness.optim import LazyAdam, RowwiseAdagrad, build_optimizer, row_sparse_optimizers
from harness.sampling import BatchStream, make_sampler
from harness.spec import ModelConfig, TrainConfig, init_parameters
from sparse_impl.loss import margin_ranking_loss

N_ENT, N_REL, DIM, REL_DIM, N_TRAIN, BATCH, NEGATIVES, STEPS = 60, 5, 8, 6, 200, 16, 2, 3
LR = 0.05
ATOL = {torch.float64: 1e-7, torch.float32: 2e-5}  # float64 steps amplify rounding of cancelling gradients a little

# (framework, options): every rival's row-sparse path, gather's two.
ROW_PATHS = [("gather", {}), ("gather", {"rows": "embedding"}), ("torchkge", {}), ("pyg", {}), ("pykeen", {}),
             ("dglke", {})]


def _cfg(model: str) -> ModelConfig:
    return ModelConfig(model, N_ENT, N_REL, DIM, rel_dim=REL_DIM if model == "transr" else None,
                       dissimilarity=MODELS[model].default_dissimilarity)


def _batches(train: TrainConfig) -> list:
    gen = torch.Generator().manual_seed(1)
    h = torch.randint(0, N_ENT // 2, (N_TRAIN,), generator=gen)  # rows N_ENT // 2.. only as negatives, if at all
    t = (h + torch.randint(1, N_ENT // 2, (N_TRAIN,), generator=gen)) % (N_ENT // 2)
    triples = torch.stack((h, torch.randint(0, N_REL, (N_TRAIN,), generator=gen), t), dim=1)
    sampler = make_sampler(train.sampler, triples, N_ENT, N_REL)
    return list(itertools.islice(iter(BatchStream(triples, BATCH, sampler, NEGATIVES, train.seed)), STEPS))


def _cases() -> list:
    out = []
    for (framework, options), model, optimizer in itertools.product(ROW_PATHS, MODELS, sorted(row_sparse_optimizers())):
        cls = FRAMEWORKS[framework]
        if cls.unsupported_reason(_cfg(model), options, optimizer) is None:
            out.append(pytest.param(framework, options, model, optimizer,
                                    id=f"{cls.label(cls.resolve_options(options))}-{model}-{optimizer}"))
    return out


def _sparse_adam(tables: list[torch.Tensor], train: TrainConfig) -> torch.optim.Optimizer:
    """torch.optim.SparseAdam with the registry's LazyAdam hyper-parameters (no weight decay)."""
    d = build_optimizer(tables, train).defaults
    return torch.optim.SparseAdam(tables, lr=d["lr"], betas=d["betas"], eps=d["eps"])


@torch.no_grad()
def _touched_rows(grad: torch.Tensor, ids: torch.Tensor) -> torch.Tensor:
    """The dense gradient's rows `ids` as a sparse row gradient: what a row-sparse path hands the optimizer."""
    return torch.sparse_coo_tensor(ids.unsqueeze(0), grad.index_select(0, ids), grad.shape)


def _reference(cfg: ModelConfig, train: TrainConfig, batches: list, implementation: str = "sptx") -> dict:
    """Dense autograd over whole float64 tables; each step hands the optimizer the gradient of the rows the batch
    touched, then constrains those rows (the spec's constraints): the row-sparse update, written plainly."""
    spec = cfg.spec
    tables = {k: v.double().requires_grad_(True) for k, v in init_parameters(cfg, seed=train.seed).items()}
    index = spec.table_index(tables)
    optimizer = (_sparse_adam(list(tables.values()), train) if implementation == "torch"
                 else build_optimizer(tables.values(), train))
    for batch in batches:
        triples = torch.cat((batch.positives, batch.negatives))
        h, r, t = triples[:, 0], triples[:, 1], triples[:, 2]
        scores = spec.score(tables, cfg.dissimilarity, h, r, t)
        margin_ranking_loss(scores[:batch.size], scores[batch.size:], train.margin).backward()
        rows = {"entity": torch.unique(torch.cat((h, t))), "relation": torch.unique(r)}
        for name, table in tables.items():
            table.grad = _touched_rows(table.grad, rows[index[name]])
        optimizer.step()
        spec.constrain_rows_({k: v.detach() for k, v in tables.items()}, rows)
        optimizer.zero_grad(set_to_none=True)
    return {k: v.detach() for k, v in tables.items()}


def _train(framework: str, options: dict, cfg: ModelConfig, train: TrainConfig, batches: list):
    """The framework's step (built as the harness builds it) after the batches, from float64 parameters."""
    params = {k: v.double() for k, v in init_parameters(cfg, seed=train.seed).items()}
    step = FRAMEWORKS[framework].build(cfg, train, params, torch.device("cpu"), options)
    for batch in batches:
        drive_step(step, batch)
    return step


@pytest.mark.parametrize("weight_decay", [0.0, 1e-2])
@pytest.mark.parametrize("framework,options,model,optimizer", _cases())
def test_row_sparse_path_ends_where_the_dense_gradient_reference_does(framework, options, model, optimizer,
                                                                      weight_decay) -> None:
    cls = FRAMEWORKS[framework]
    if (reason := cls.unavailable_reason()) is not None:
        pytest.skip(reason)
    cfg = _cfg(model)
    train = TrainConfig(num_negatives=NEGATIVES, optimizer=optimizer, lr=LR, weight_decay=weight_decay)
    batches = _batches(train)
    start = {k: v.double() for k, v in init_parameters(cfg, seed=train.seed).items()}
    reference = _reference(cfg, train, batches)
    ours = _train(framework, options, cfg, train, batches).canonical_parameters()
    for name, value in reference.items():
        assert (value - start[name]).abs().max() > 1e-3, f"degenerate test: {name} did not train"
        got = ours[name].double()
        torch.testing.assert_close(got, value, rtol=0, atol=ATOL[ours[name].dtype], msg=lambda m: f"{name}: {m}")
    touched = torch.cat([torch.cat((b.positives, b.negatives))[:, [0, 2]].reshape(-1) for b in batches]).unique()
    untouched = torch.ones(N_ENT, dtype=torch.bool).index_fill_(0, touched, False)
    assert untouched.any(), "degenerate test: every entity row was touched"
    torch.testing.assert_close(ours["entity"][untouched].double(), start["entity"][untouched], rtol=0,
                               atol=ATOL[ours["entity"].dtype])  # lazily: untouched rows never move


def test_the_reference_is_torch_sparse_adam_without_weight_decay() -> None:
    """The reference's LazyAdam and torch.optim.SparseAdam move the same rows the same way (weight decay 0)."""
    cfg = _cfg("transh")
    train = TrainConfig(num_negatives=NEGATIVES, optimizer="adam-lazy", lr=LR, weight_decay=0.0)
    batches = _batches(train)
    ours, torch_ = _reference(cfg, train, batches), _reference(cfg, train, batches, implementation="torch")
    for name, value in torch_.items():
        torch.testing.assert_close(ours[name], value, rtol=0, atol=1e-12)


@pytest.mark.parametrize("framework,options", ROW_PATHS)
def test_the_library_hands_out_sparse_row_gradients(framework: str, options: dict) -> None:
    cls = FRAMEWORKS[framework]
    if (reason := cls.unavailable_reason()) is not None:
        pytest.skip(reason)
    cfg = _cfg("transe")
    train = TrainConfig(num_negatives=NEGATIVES, optimizer="adagrad-rowwise")
    params = init_parameters(cfg, seed=train.seed)
    step = cls.build(cfg, train, params, torch.device("cpu"), options)
    prepared = step.prepare(_batches(train)[0])
    step.backward(step.forward(prepared))
    grads = [p.grad for group in step.optimizer.param_groups for p in group["params"]]
    assert grads and all(g is not None and g.is_sparse for g in grads), [None if g is None else g.layout for g in grads]


@pytest.mark.parametrize("framework,options", [p for p in ROW_PATHS if p[0] != "dglke"])
def test_the_record_names_the_implementation_that_ran(framework: str, options: dict) -> None:
    """adam-lazy is torch.optim.SparseAdam without weight decay, sptx's LazyAdam with it (SparseAdam has none);
    the note says which and where the row gradients came from; dense runs add no note."""
    cls = FRAMEWORKS[framework]
    if (reason := cls.unavailable_reason()) is not None:
        pytest.skip(reason)
    cfg, params = _cfg("transe"), init_parameters(_cfg("transe"))
    by_rows = framework == "gather" and not options  # gather's own path: sptx's optimizers, constraint fused
    for weight_decay, implementation in ((0.0, "sptx LazyAdam" if by_rows else "torch.optim.SparseAdam"),
                                         (1e-5, "sptx LazyAdam")):
        step = cls.build(cfg, TrainConfig(optimizer="adam-lazy", weight_decay=weight_decay), params,
                         torch.device("cpu"), options)
        assert optimizer_kind(step.optimizer) == "adam-lazy"  # so the worker notes no fallback
        note = step.optimizer_note()
        assert note.startswith(f"optimizer: adam-lazy ({implementation}") and "row gradients: " in note, note
    if options.get("rows") != "embedding":
        assert cls.build(cfg, TrainConfig(), params, torch.device("cpu"), options).optimizer_note() is None


def test_dglke_native_mode_says_it_runs_dgl_kes_own_update() -> None:
    step = FRAMEWORKS["dglke"].build(_cfg("transe"), TrainConfig(optimizer="adagrad-rowwise"),
                                     init_parameters(_cfg("transe")), torch.device("cpu"), {}, native=True)
    assert "DGL-KE's row-wise Adagrad" in step.optimizer_note()


def test_library_optimizer_keeps_the_registry_hyper_parameters() -> None:
    table = torch.nn.Parameter(torch.zeros(4, 2))
    sparse_adam = library_optimizer([table], TrainConfig(optimizer="adam-lazy", lr=0.3, weight_decay=0.0))
    lazy = build_optimizer([table], TrainConfig(optimizer="adam-lazy", lr=0.3, weight_decay=0.0))
    assert isinstance(sparse_adam, torch.optim.SparseAdam) and isinstance(lazy, LazyAdam)
    assert {k: sparse_adam.defaults[k] for k in ("lr", "betas", "eps")} == {k: lazy.defaults[k] for k in
                                                                            ("lr", "betas", "eps")}
    assert isinstance(library_optimizer([table], TrainConfig(optimizer="adam-lazy", weight_decay=1e-5)), LazyAdam)
    assert isinstance(library_optimizer([table], TrainConfig(optimizer="adagrad-rowwise")), RowwiseAdagrad)


@pytest.mark.parametrize("framework,options,optimizer", [
    ("dglke", {}, "adam-lazy"),  # DGL-KE has no lazy Adam
    ("gather", {"rows": "embedding"}, "adam-fused"),  # F.embedding(sparse=True) needs a row-sparse optimizer
    ("gather", {"rows": "embedding"}, "adam"),
    ("sparse", {"backend": "segment"}, "adagrad-rowwise"),  # an SpMM backend hands out dense gradients
])
def test_an_unsupported_optimizer_is_refused_in_one_line(framework: str, options: dict, optimizer: str) -> None:
    cls = FRAMEWORKS[framework]
    cfg = _cfg("transe")
    reason = cls.unsupported_reason(cfg, options, optimizer)
    assert reason is not None and optimizer in reason and "\n" not in reason
    with pytest.raises(SptxError, match=f"cannot run optimizer {optimizer}") as caught:
        cls.build(cfg, TrainConfig(optimizer=optimizer), init_parameters(cfg), torch.device("cpu"), options)
    assert "\n" not in str(caught.value)


def test_torchkge_builds_only_what_its_step_trains() -> None:
    """No evaluation buffer (TorchKGE's TransH / TransR projected_entities, n_rel x n_ent x dim) and the given
    parameters loaded exactly; the evaluation build keeps the buffer for TorchKGE's own evaluator."""
    from baselines.torchkge import build_torchkge_model

    cfg = _cfg("transh")
    params = {k: v.double() for k, v in init_parameters(cfg).items()}
    step = FRAMEWORKS["torchkge"].build(cfg, TrainConfig(), params, torch.device("cpu"), {})
    assert step.model.projected_entities.numel() == 0
    for name, value in step.canonical_parameters().items():
        assert torch.equal(value, params[name])
    assert build_torchkge_model(cfg, params).projected_entities.shape == (N_REL, N_ENT, DIM)
