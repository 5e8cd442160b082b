"""The row-sparse optimizers against their references: LazyAdam against torch.optim.SparseAdam, RowwiseAdagrad
against the update written out row by row; and row-gradient training (sparse[fused], gather) against each other
and against dense gradients."""

from __future__ import annotations

import pytest
import torch

from baselines import FRAMEWORKS
from harness.measure.driver import drive_step
from harness.models import get_model
from harness.optim import OPTIMIZERS, LazyAdam, RowwiseAdagrad, build_optimizer, optimizer_kind
from harness.sampling import BatchStream, make_sampler
from harness.spec import ModelConfig, TrainConfig, init_parameters
from sparse_impl.backends import BACKENDS

N_ROWS, DIM = 20, 6


def _row_gradient(rows: list[int], seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.sparse_coo_tensor(torch.tensor([rows]), torch.randn(len(rows), DIM, generator=g, dtype=torch.float64),
                                   (N_ROWS, DIM))


STEPS = ([1, 4, 7], [4, 19, 0, 2], [7, 8], [1, 4, 7, 11])


def test_lazy_adam_is_sparse_adam_without_weight_decay() -> None:
    start = torch.randn(N_ROWS, DIM, dtype=torch.float64)
    ours, ref = start.clone().requires_grad_(), start.clone().requires_grad_()
    lazy, sparse_adam = LazyAdam([ours], lr=0.01), torch.optim.SparseAdam([ref], lr=0.01)
    for i, rows in enumerate(STEPS):
        ours.grad, ref.grad = _row_gradient(rows, i), _row_gradient(rows, i)
        lazy.step()
        sparse_adam.step()
        torch.testing.assert_close(ours, ref, rtol=1e-12, atol=1e-14)
    untouched = sorted(set(range(N_ROWS)) - {r for rows in STEPS for r in rows})
    assert torch.equal(ours.detach()[untouched], start[untouched])


def test_lazy_adam_decays_only_the_touched_rows() -> None:
    start = torch.randn(N_ROWS, DIM, dtype=torch.float64)
    with_decay, without = start.clone().requires_grad_(), start.clone().requires_grad_()
    a, b = LazyAdam([with_decay], lr=0.01, weight_decay=0.1), LazyAdam([without], lr=0.01)
    grad = _row_gradient([3, 5], 0)
    with_decay.grad = grad
    without.grad = torch.sparse_coo_tensor(grad._indices(), grad._values() + 0.1 * start[[3, 5]], grad.shape)
    a.step()
    b.step()
    torch.testing.assert_close(with_decay, without)
    assert torch.equal(with_decay.detach()[0], start[0])


def test_rowwise_adagrad_follows_the_row_by_row_update() -> None:
    start = torch.randn(N_ROWS, DIM, dtype=torch.float64)
    ours = start.clone().requires_grad_()
    opt = RowwiseAdagrad([ours], lr=0.1, eps=1e-10)
    expected, state = start.clone(), torch.zeros(N_ROWS, dtype=torch.float64)
    for i, rows in enumerate(STEPS):
        ours.grad = _row_gradient(rows, i)
        opt.step()
        values = _row_gradient(rows, i)._values()
        for row, g in zip(rows, values):
            state[row] += (g * g).mean()
            expected[row] -= 0.1 * g / (state[row].sqrt() + 1e-10)
        torch.testing.assert_close(ours.detach(), expected, rtol=1e-12, atol=1e-14)
    assert opt.state[ours]["sum"].shape == (N_ROWS,)  # one float of state per row


def test_a_dense_gradient_touches_every_row() -> None:
    start = torch.randn(N_ROWS, DIM)
    p = start.clone().requires_grad_()
    opt = RowwiseAdagrad([p], lr=0.1)
    p.grad = torch.ones(N_ROWS, DIM)
    opt.step()
    assert (p.detach() != start).all()


@pytest.mark.parametrize("name", list(OPTIMIZERS))
def test_every_optimizer_builds_and_says_what_it_is(name: str) -> None:
    opt = build_optimizer([torch.zeros(3, 2, requires_grad=True)], TrainConfig(optimizer=name))
    assert optimizer_kind(opt) in (name, "adam")  # adam-fused may fall back where torch has no fused kernel


def _train(framework: str, options: dict, model: str, optimizer: str, steps: int = 4) -> dict[str, torch.Tensor]:
    cfg = ModelConfig(model, 40, 5, 8)
    train = TrainConfig(optimizer=optimizer, lr=0.05, num_negatives=2)
    g = torch.Generator().manual_seed(0)
    triples = torch.stack((torch.randint(40, (60,), generator=g), torch.randint(5, (60,), generator=g),
                           torch.randint(40, (60,), generator=g)), 1)
    params = {k: v.double() for k, v in init_parameters(cfg).items()}
    step = FRAMEWORKS[framework].build(cfg, train, params, torch.device("cpu"), options)
    batches = iter(BatchStream(triples, 16, make_sampler(train.sampler, triples, 40, 5), 2, 0))
    for _ in range(steps):
        drive_step(step, next(batches))
    return step.canonical_parameters()


@pytest.mark.parametrize("model", ["transe", "transr", "transh", "toruse"])
@pytest.mark.parametrize("optimizer", ["adam-lazy", "adagrad-rowwise"])
def test_fused_row_gradients_train_as_gather_does(model: str, optimizer: str) -> None:
    if (reason := BACKENDS["fused"].unavailable_reason()) is not None:
        pytest.skip(reason)
    fused = _train("sparse", {"backend": "fused"}, model, optimizer)
    gather = _train("gather", {}, model, optimizer)
    for name in gather:
        torch.testing.assert_close(fused[name], gather[name], rtol=1e-9, atol=1e-11)


def test_row_gradients_leave_untouched_rows_alone_and_constrain_touched_ones() -> None:
    if (reason := BACKENDS["fused"].unavailable_reason()) is not None:
        pytest.skip(reason)
    cfg = ModelConfig("transe", 1000, 3, 8)
    start = init_parameters(cfg)
    step = FRAMEWORKS["sparse"].build(cfg, TrainConfig(optimizer="adam-lazy", lr=0.1), start, torch.device("cpu"),
                                      {"backend": "fused"})
    triples = torch.tensor([[0, 0, 1], [2, 1, 3], [4, 2, 5]])
    batches = iter(BatchStream(triples, 3, make_sampler("uniform", triples, 6, 3), 1, 0))
    batch = next(batches)
    batch = type(batch)(batch.positives, batch.positives[:, [2, 1, 0]])  # negatives within entities 0..5
    drive_step(step, batch)
    after = step.canonical_parameters()["entity"]
    assert torch.equal(after[6:], start["entity"][6:])
    assert not torch.equal(after[:6], start["entity"][:6])
    torch.testing.assert_close(after[:6].norm(dim=1), torch.ones(6))
    assert get_model("transe").constrain({"entity": after, "relation": start["relation"]})["entity"].sub(after).abs().max() < 1e-6


def test_sparse_on_an_spmm_backend_refuses_a_row_sparse_optimizer() -> None:
    cfg = ModelConfig("transe", 10, 2, 4)
    reason = FRAMEWORKS["sparse"].unsupported_reason(cfg, {"backend": "segment"}, "adam-lazy")
    assert reason is not None and "adam-lazy" in reason
    assert FRAMEWORKS["sparse"].unsupported_reason(cfg, {"backend": "fused"}, "adagrad-rowwise") is None


@pytest.mark.parametrize("cls,kwargs", [(LazyAdam, {"lr": 0.01, "weight_decay": 0.1}),
                                        (RowwiseAdagrad, {"lr": 0.1, "weight_decay": 0.1})])
@pytest.mark.parametrize("constraint", ["none", "unit", "frac"])
def test_the_numba_rows_equal_the_torch_rows(cls, kwargs, constraint, monkeypatch) -> None:
    import harness.optim as optim

    if optim._kernels() is None:
        pytest.skip("numba is not installed")
    start = torch.randn(N_ROWS, DIM, dtype=torch.float64)
    results = []
    for kernels in (optim._kernels(), None):
        monkeypatch.setattr(optim, "_kernels", lambda k=kernels: k)
        p = start.clone().requires_grad_()
        opt = cls([{"params": [p], "row_constraint": constraint}], **kwargs)
        for i, rows in enumerate(STEPS):
            p.grad = _row_gradient(rows, i)
            opt.step()
        results.append(p.detach())
    torch.testing.assert_close(results[0], results[1], rtol=1e-12, atol=1e-13)


@pytest.mark.parametrize("cls,kwargs", [(LazyAdam, {"lr": 0.01, "weight_decay": 0.1}),
                                        (RowwiseAdagrad, {"lr": 0.1, "weight_decay": 0.1})])
@pytest.mark.parametrize("model", ["transe", "toruse"])
def test_the_fused_update_from_the_kernels_rows_equals_the_update_from_their_gradient(cls, kwargs, model) -> None:
    """step_pending (reduce and update in one pass, from the loss kernel's per-thread rows) against step() on the
    same gradient made a sparse tensor, over three steps of a scaled loss."""
    if (reason := BACKENDS["fused"].unavailable_reason()) is not None:
        pytest.skip(reason)
    from sparse_impl.models import build_model

    cfg = ModelConfig(model, 30, 4, 6)
    start = {k: v.double() for k, v in init_parameters(cfg).items()}
    g = torch.Generator().manual_seed(3)
    positives = torch.stack((torch.randint(30, (12,), generator=g), torch.randint(4, (12,), generator=g),
                             torch.randint(30, (12,), generator=g)), 1)
    negatives = positives[:, [2, 1, 0]]
    constraint = get_model(model).entity_constraint
    results = []
    for fused in (True, False):
        sparse = build_model(model, start, 30, 4, "L2sq" if model == "transe" else "torus_L2", "fused",
                             row_gradients=True)
        opt = cls([{"params": [sparse.entity], "row_constraint": constraint}], **kwargs)
        for _ in range(3):
            (2.5 * sparse.loss(sparse.prepare(positives, negatives), "margin", 0.5)).backward()
            [(table, pending)] = sparse.take_pending_rows()
            if fused:
                opt.step_pending(table, pending)
            else:
                table.grad = torch.sparse_coo_tensor(torch.from_numpy(pending.ids).unsqueeze(0),
                                                     torch.from_numpy(pending.gradient()), table.shape)
                opt.step()
                table.grad = None
        results.append(sparse.entity.detach().clone())
    assert not torch.equal(results[0], start["entity"])
    torch.testing.assert_close(results[0], results[1], rtol=1e-12, atol=1e-13)
