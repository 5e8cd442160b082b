"""The optimizers a run can choose (`--optimizer`), one registry: the paper's dense Adam (torch's fused
kernel or its default implementation) and two row-sparse optimizers for big graphs, which move only the
rows a step touched and take a sparse (row) gradient:

- `adam-lazy`: torch.optim.SparseAdam's update (moments and values of touched rows only; one step count
  per table), with weight decay added to the touched rows' gradient (SparseAdam has none).
- `adagrad-rowwise`: one accumulator per row (PyTorch-BigGraph, DGL-KE, FBGEMM): sum_r += mean(g_r^2),
  row -= lr * g_r / (sqrt(sum_r) + eps); 1 float of state per row instead of 2 per element.

A framework says which optimizers its step can run (`FrameworkStep.supported_optimizers`); a row-sparse
one needs the step to hand it sparse gradients (torch.sparse_coo_tensor with one index per row).
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from typing import Any, Callable, Iterable

import torch

from harness.errors import SptxError
from harness.models.base import ROW_CONSTRAINTS

__all__ = ["OPTIMIZERS", "LazyAdam", "OptimizerKind", "RowwiseAdagrad", "build_optimizer", "optimizer_kind",
           "row_sparse_optimizers"]


def _rows(grad: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(row ids, their gradient rows) of a sparse row gradient (coalesced here unless it says it is), or every
    row of a dense one."""
    if grad.is_sparse:
        grad = grad if grad.is_coalesced() else grad.coalesce()
        return grad.indices()[0], grad.values()
    return torch.arange(grad.shape[0], device=grad.device), grad


def _kernels() -> Any:
    """The numba row kernels (sparse_impl.backends.fused.optimizers), on torch's thread count, or None where numba is
    not installed."""
    if importlib.util.find_spec("numba") is None:
        return None
    from sparse_impl.backends.fused import optimizers
    from sparse_impl.backends.fused.threads import match_torch_threads

    match_torch_threads()
    return optimizers


def _numba_ready(p: torch.Tensor, ids: torch.Tensor, g: torch.Tensor) -> bool:
    """Whether a row kernel can update `p` in place: CPU, contiguous, float32/64, gradient rows of its dtype."""
    return (p.device.type == "cpu" and p.is_contiguous() and p.dtype in (torch.float32, torch.float64)
            and g.dtype == p.dtype and ids.dtype == torch.int64 and p.dim() >= 2)


def _flat(t: torch.Tensor) -> Any:
    """A row-major (rows, elements) numpy view of a tensor, sharing its memory."""
    return t.detach().reshape(t.shape[0], -1).numpy()


class _RowOptimizer(torch.optim.Optimizer):
    """What both row-sparse optimizers share: per parameter, the touched rows and their gradient, a numba
    kernel where it can run (one pass per row, constraint included), else the torch arithmetic; a param
    group's `row_constraint` (ROW_CONSTRAINTS) is applied to every row it moves."""

    def _begin(self, p: torch.Tensor, group: dict, state: dict) -> None:
        """Create the parameter's state on its first step and count the step."""

    def _numba(self, p: torch.Tensor, ids: torch.Tensor, g: torch.Tensor, group: dict, state: dict, kernels: Any,
               constraint: int) -> None:
        """Move rows `ids` of `p` and their state, then constrain them, in one numba pass."""

    def _torch(self, p: torch.Tensor, ids: torch.Tensor, g: torch.Tensor, group: dict, state: dict) -> None:
        """Move rows `ids` of `p` and their state with torch ops (the reference arithmetic)."""

    def _partial(self, p: torch.Tensor, pending: Any, group: dict, state: dict, kernels: Any, constraint: int) -> None:
        """Move `p`'s rows from a fused loss kernel's per-thread gradient rows (`pending`), in one numba pass."""

    @torch.no_grad()
    def step_pending(self, p: torch.Tensor, pending: Any) -> None:
        """Move the rows of `p` whose gradient a fused backward left in its per-thread rows (sparse_impl's
        workspace.PendingRows): reduced and applied in one pass, the gradient never a tensor. The rest of the
        parameters move in `step`."""
        group = next(g for g in self.param_groups if any(q is p for q in g["params"]))
        state = self.state[p]
        self._begin(p, group, state)
        kernels = _kernels()
        self._partial(p, pending, group, state, kernels, kernels.CONSTRAINT_CODES[group.get("row_constraint", "none")])

    @torch.no_grad()
    def step(self, closure: Callable[[], Any] | None = None) -> None:  # type: ignore[override]
        assert closure is None, f"{type(self).__name__} takes no closure"
        kernels = _kernels()
        for group in self.param_groups:
            constraint = group.get("row_constraint", "none")
            for p in group["params"]:
                if p.grad is None:
                    continue
                ids, g = _rows(p.grad)
                state = self.state[p]
                self._begin(p, group, state)
                if kernels is not None and _numba_ready(p, ids, g):
                    self._numba(p, ids, g.contiguous(), group, state, kernels, kernels.CONSTRAINT_CODES[constraint])
                    continue
                self._torch(p, ids, g, group, state)
                if constraint != "none":
                    p.index_copy_(0, ids, ROW_CONSTRAINTS[constraint](p.index_select(0, ids)))


class LazyAdam(_RowOptimizer):
    """Adam on touched rows only (torch.optim.SparseAdam's arithmetic), plus L2 weight decay on those rows.

    A dense gradient counts every row as touched (the update is then dense Adam's, with SparseAdam's eps).
    """

    def __init__(self, params: Iterable[Any], lr: float, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 0.0) -> None:
        super().__init__(params, {"lr": lr, "betas": betas, "eps": eps, "weight_decay": weight_decay,
                                  "row_constraint": "none"})

    def _begin(self, p, group, state) -> None:
        if not state:
            state["step"] = 0
            state["exp_avg"] = torch.zeros_like(p, memory_format=torch.contiguous_format)
            state["exp_avg_sq"] = torch.zeros_like(p, memory_format=torch.contiguous_format)
        state["step"] += 1

    @staticmethod
    def _step_size(group: dict, step: int) -> float:
        beta1, beta2 = group["betas"]
        return group["lr"] * (1 - beta2**step) ** 0.5 / (1 - beta1**step)

    def _numba(self, p, ids, g, group, state, kernels, constraint) -> None:
        beta1, beta2 = group["betas"]
        kernels.lazy_adam_rows(_flat(p), _flat(state["exp_avg"]), _flat(state["exp_avg_sq"]), ids.numpy(), _flat(g),
                               self._step_size(group, state["step"]), beta1, beta2, group["eps"],
                               group["weight_decay"], constraint)

    def _partial(self, p, pending, group, state, kernels, constraint) -> None:
        beta1, beta2 = group["betas"]
        kernels.lazy_adam_partial(_flat(p), _flat(state["exp_avg"]), _flat(state["exp_avg_sq"]), *pending.kernel_arguments(),
                                  self._step_size(group, state["step"]), beta1, beta2, group["eps"], group["weight_decay"],
                                  constraint)

    def _torch(self, p, ids, g, group, state) -> None:
        beta1, beta2 = group["betas"]
        if group["weight_decay"]:
            g = g + group["weight_decay"] * p.index_select(0, ids)
        m = state["exp_avg"].index_select(0, ids).lerp_(g, 1 - beta1)
        v = state["exp_avg_sq"].index_select(0, ids).mul_(beta2).addcmul_(g, g, value=1 - beta2)
        state["exp_avg"].index_copy_(0, ids, m)
        state["exp_avg_sq"].index_copy_(0, ids, v)
        p.index_add_(0, ids, m.div_(v.sqrt_().add_(group["eps"])), alpha=-self._step_size(group, state["step"]))


class RowwiseAdagrad(_RowOptimizer):
    """Adagrad with one accumulator per row (the mean of the row's squared gradient), on touched rows only."""

    def __init__(self, params: Iterable[Any], lr: float, eps: float = 1e-10, weight_decay: float = 0.0,
                 initial_accumulator: float = 0.0) -> None:
        super().__init__(params, {"lr": lr, "eps": eps, "weight_decay": weight_decay,
                                  "initial_accumulator": initial_accumulator, "row_constraint": "none"})

    def _begin(self, p, group, state) -> None:
        if not state:
            state["sum"] = torch.full((p.shape[0],), group["initial_accumulator"], dtype=p.dtype, device=p.device)

    def _numba(self, p, ids, g, group, state, kernels, constraint) -> None:
        kernels.adagrad_rowwise_rows(_flat(p), state["sum"].numpy(), ids.numpy(), _flat(g), group["lr"], group["eps"],
                                     group["weight_decay"], constraint)

    def _partial(self, p, pending, group, state, kernels, constraint) -> None:
        kernels.adagrad_rowwise_partial(_flat(p), state["sum"].numpy(), *pending.kernel_arguments(), group["lr"],
                                        group["eps"], group["weight_decay"], constraint)

    def _torch(self, p, ids, g, group, state) -> None:
        total = state["sum"]
        if group["weight_decay"]:
            g = g + group["weight_decay"] * p.index_select(0, ids)
        flat = g.reshape(g.shape[0], -1)
        total.index_add_(0, ids, (flat * flat).mean(dim=1))
        std = total.index_select(0, ids).sqrt_().add_(group["eps"])
        shape = (-1,) + (1,) * (g.dim() - 1)
        p.index_add_(0, ids, g / std.view(shape), alpha=-group["lr"])


Builder = Callable[[list[torch.Tensor], Any], torch.optim.Optimizer]


@dataclass(frozen=True)
class OptimizerKind:
    """One `--optimizer` choice: what it is, whether it needs row (sparse) gradients, and how it is built
    from the parameters and the TrainConfig (lr, weight decay)."""

    help: str
    row_sparse: bool
    build: Builder


def _adam_fused(params: list[torch.Tensor], train: Any) -> torch.optim.Optimizer:
    try:
        return torch.optim.Adam(params, lr=train.lr, weight_decay=train.weight_decay, fused=True)
    except (RuntimeError, ValueError):  # e.g. torch < 2.4 on CPU has no fused Adam: optimizer_kind says so
        return torch.optim.Adam(params, lr=train.lr, weight_decay=train.weight_decay)


OPTIMIZERS: dict[str, OptimizerKind] = {
    "adam-fused": OptimizerKind("dense Adam, torch's fused kernel where the device has one (the paper's)", False,
                                _adam_fused),
    "adam": OptimizerKind("dense Adam, torch's default implementation", False,
                          lambda params, train: torch.optim.Adam(params, lr=train.lr, weight_decay=train.weight_decay)),
    "adam-lazy": OptimizerKind("Adam on the rows a step touched (torch.optim.SparseAdam's update, with weight decay)",
                               True, lambda params, train: LazyAdam(params, lr=train.lr, weight_decay=train.weight_decay)),
    "adagrad-rowwise": OptimizerKind("Adagrad with one accumulator per row, on the rows a step touched (PBG, DGL-KE)",
                                     True, lambda params, train: RowwiseAdagrad(params, lr=train.lr,
                                                                                weight_decay=train.weight_decay)),
}


def row_sparse_optimizers() -> frozenset[str]:
    """The optimizers that need row gradients and move only touched rows."""
    return frozenset(name for name, kind in OPTIMIZERS.items() if kind.row_sparse)


def build_optimizer(parameters: Iterable[torch.Tensor], train: Any) -> torch.optim.Optimizer:
    """The optimizer `train.optimizer` names, with `train.lr` and `train.weight_decay`."""
    try:
        kind = OPTIMIZERS[train.optimizer]
    except KeyError:
        raise SptxError(f"unknown optimizer {train.optimizer!r}; choose one of {', '.join(OPTIMIZERS)}") from None
    return kind.build(list(parameters), train)


def optimizer_kind(optimizer: torch.optim.Optimizer) -> str:
    """Which registered optimizer actually runs (e.g. 'adam' where 'adam-fused' was asked but is unavailable)."""
    if isinstance(optimizer, LazyAdam):
        return "adam-lazy"
    if isinstance(optimizer, RowwiseAdagrad):
        return "adagrad-rowwise"
    return "adam-fused" if optimizer.defaults.get("fused") else "adam"
