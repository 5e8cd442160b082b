"""FLOPs a training step executes, counted at the aten level under one rule for every framework,
beside the profiler's dense count (kept in records, labelled, never charted).

The counter is a TorchDispatchMode, so it sees every aten op below autograd, the backward pass
included. One rule for all frameworks (one count per op call):

- an add or a multiply: 1 per element; a sign (multiplying by +-1) is free;
- gathers (embedding, index_select, index, gather, take): 0, they move data;
- a +-1 incidence product or segment sum (sparse @ dense with +-1 values, embedding_bag without
  weights or with +-1 weights): (nnz - non-empty rows) * d adds;
- a weighted one (any other values): 2 * nnz * d (a multiply and an add per stored element);
- dense mm / bmm / addmm / baddbmm / mv / dot: 2 * M * K * N (a bias add is not counted);
- scatter-adds (embedding_dense_backward, index_add, index_put(accumulate=True), scatter_add,
  scatter_reduce): 1 per source element added;
- elementwise ops on floating tensors (arithmetic, comparisons, where, masked_fill, their backward
  kernels, optimizer `_foreach_*` kernels): 1 per output element;
- reductions (sum, mean, norm, linalg_vector_norm, cumsum, ...): 1 per input element;
- data movement and creation (view, copy, cat, clone, zeros, fill, to, empty, sparse constructors): 0;
- ops touching no floating tensor (index arithmetic, sort, bincount on int64): 0, as they are not FLOPs;
- anything else: 0, with its name collected in `FlopCount.uncounted_ops`.

So identical math costs the same whichever way it is executed: TransE's h + r - t is 2 adds per
element by gathers and adds, and 2 adds per row element by a 3-non-zero +-1 incidence product.
Work done outside aten (e.g. DGL's own C++ kernels) is invisible to the dispatcher and not counted.
The model's analytic FLOPs (the same for every framework) are in harness.measure.model_flops.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Iterable, Mapping

import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_flatten

from harness.measure.driver import Probe, drive_step

if TYPE_CHECKING:
    from baselines.base import FrameworkStep
    from harness.sampling import Batch

__all__ = ["FlopCount", "FlopProbe", "SparseAwareFlopCounter", "count_step_flops", "profiler_flops", "op_flops"]

STEP_PHASES: tuple[str, ...] = ("prepare", "forward", "backward")

_SPARSE_LAYOUTS = frozenset({torch.sparse_coo, torch.sparse_csr, torch.sparse_csc, torch.sparse_bsr,
                             torch.sparse_bsc})

_MATMUL = frozenset({"mm", "addmm", "matmul", "_sparse_mm", "_sparse_addmm", "sspaddmm", "hspmm", "smm",
                     "bmm", "baddbmm", "mv", "addmv", "dot", "vdot"})
# Weighted segment sums (embedding_bag): one SpMM row per bag, so 2 * nnz * d like a sparse @ dense.
_SEGMENT_SUM = frozenset({"_embedding_bag", "_embedding_bag_forward_only"})
_GATHER = frozenset({"embedding", "index_select", "index", "gather", "take", "masked_select",
                     "_unsafe_index"})
_SCATTER_ADD = frozenset({"embedding_dense_backward", "index_add", "index_put", "_index_put_impl",
                          "scatter_add", "scatter_reduce", "scatter", "_unsafe_index_put"})
_ELEMENTWISE = frozenset({
    "add", "sub", "rsub", "mul", "div", "neg", "pow", "clamp", "clamp_min", "clamp_max", "minimum",
    "maximum", "abs", "frac", "cos", "sin", "tan", "sqrt", "rsqrt", "exp", "exp2", "log", "log2", "log1p",
    "expm1", "sigmoid", "tanh", "relu", "where", "sign", "sgn", "reciprocal", "floor", "ceil", "round",
    "trunc", "remainder", "fmod", "square", "lerp", "addcmul", "addcdiv", "masked_fill", "hypot",
    "threshold", "threshold_backward", "sigmoid_backward", "tanh_backward", "hardtanh_backward",
    "softplus", "softplus_backward", "atan2", "copysign", "eq", "ne", "ge", "gt", "le", "lt",
    "isnan", "isinf", "logical_not", "logical_and", "logical_or", "_softmax", "_log_softmax",
    "_softmax_backward_data", "_log_softmax_backward_data", "erf", "mse_loss", "norm_backward",
})
_REDUCTION = frozenset({"sum", "mean", "prod", "norm", "linalg_vector_norm", "amax", "amin", "max", "min",
                        "cumsum", "cumprod", "logsumexp", "var", "std", "var_mean", "std_mean", "any",
                        "all", "argmax", "argmin", "_foreach_norm"})
_MOVEMENT = frozenset({
    "view", "_unsafe_view", "reshape", "_reshape_alias", "expand", "permute", "transpose", "t", "select",
    "slice", "unsqueeze", "squeeze", "as_strided", "detach", "alias", "clone", "copy", "_to_copy",
    "cat", "stack", "zeros", "zeros_like", "ones", "ones_like", "full", "full_like", "empty",
    "empty_like", "empty_strided", "new_zeros", "new_empty", "new_ones", "new_full", "new_empty_strided",
    "fill", "zero", "scalar_tensor", "lift_fresh", "lift_fresh_copy", "slice_backward",
    "select_backward", "repeat", "repeat_interleave", "split", "split_with_sizes", "unbind", "narrow",
    "flip", "roll", "contiguous", "_local_scalar_dense", "set", "resize", "_to_dense", "to_dense",
    "sparse_compressed_tensor", "_sparse_compressed_tensor_unsafe", "sparse_csr_tensor",
    "_sparse_csr_tensor_unsafe", "sparse_coo_tensor", "_sparse_coo_tensor_with_dims_and_tensors",
    "_sparse_coo_tensor_unsafe", "_nnz", "values", "_values", "indices", "_indices", "crow_indices",
    "col_indices", "ccol_indices", "row_indices", "arange", "linspace", "rand", "randn", "randint",
    "randperm", "uniform", "normal", "bernoulli", "random", "_foreach_zero", "_foreach_copy",
    "view_as_real", "view_as_complex", "unfold", "movedim", "diagonal", "tril", "triu", "constant_pad_nd",
    "expand_as", "view_as", "_copy_from", "_copy_from_and_resize", "sort", "argsort", "topk",
    "bincount", "unique", "_unique2", "nonzero", "_assert_async", "is_nonzero", "equal",
})


@dataclass(frozen=True)
class FlopCount:
    """FLOPs of one step. `executed` and `by_op` cover prepare + forward + backward; `optimizer`
    is `optimizer_step()` counted apart; `profiler` is torch.profiler's dense-counting figure."""

    executed: int
    profiler: int | None
    by_op: dict[str, int]
    optimizer: int = 0
    by_phase: dict[str, dict[str, int]] = field(default_factory=dict)
    uncounted_ops: frozenset[str] = frozenset()


def _tensors(values: Iterable[Any]) -> list[torch.Tensor]:
    return [v for v in tree_flatten(list(values))[0] if isinstance(v, torch.Tensor)]


def _is_sparse(t: torch.Tensor) -> bool:
    return t.layout in _SPARSE_LAYOUTS


def _numel(t: torch.Tensor) -> int:
    """Element count; a sparse tensor counts its stored elements (nnz times any dense trailing size)."""
    if _is_sparse(t):
        return t._nnz() * math.prod(t.shape[t.sparse_dim():])
    return math.prod(t.shape)


def _is_sign_only(values: torch.Tensor | None) -> bool:
    """True when every value is +1 or -1 (or there are no weights): multiplying by them is free."""
    return values is None or bool((values.abs() == 1).all())


def _nonempty_segments(starts: torch.Tensor, total: int) -> int:
    """Segments with at least one element, from segment start offsets over `total` elements."""
    ends = torch.cat((starts[1:], starts.new_tensor([total])))
    return int((ends > starts).sum())


def _sparse_values(a: torch.Tensor) -> torch.Tensor:
    return a.values() if a.layout != torch.sparse_coo else a._values()


def _sparse_rows(a: torch.Tensor) -> int:
    """Non-empty rows of a sparse matrix."""
    if a.layout == torch.sparse_csr:
        crow = a.crow_indices()
        return int((crow[1:] > crow[:-1]).sum())
    if a.layout == torch.sparse_coo:
        return int(a._indices()[0].unique().numel())
    return a.shape[0]


def _sparse_product_flops(nnz: int, rows: int, width: int, values: torch.Tensor | None) -> int:
    """(nnz - rows) * width adds for a +-1 matrix, 2 * nnz * width for a weighted one."""
    return (nnz - rows) * width if _is_sign_only(values) else 2 * nnz * width


def _mm_flops(a: torch.Tensor, b: torch.Tensor) -> int:
    """Sparse @ dense under the incidence rule, else 2*M*K*N (batched: times the batch)."""
    if _is_sparse(a):
        width = math.prod(b.shape[1:]) if b.dim() > 1 else 1
        return _sparse_product_flops(a._nnz(), _sparse_rows(a), width, _sparse_values(a))
    if _is_sparse(b):
        return 2 * b._nnz() * (a.shape[-2] if a.dim() > 1 else 1)
    if a.dim() == 1 and b.dim() == 1:
        return 2 * a.shape[0]
    if b.dim() == 1:  # matrix-vector
        return 2 * math.prod(a.shape)
    batch = math.prod(a.shape[:-2])
    return 2 * batch * a.shape[-2] * a.shape[-1] * b.shape[-1]


def _matmul_flops(name: str, args: tuple[Any, ...]) -> int:
    operands = args[1:3] if name in {"addmm", "_sparse_addmm", "sspaddmm", "baddbmm", "addmv"} else args[:2]
    return _mm_flops(operands[0], operands[1])


def _index_put_flops(args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> int:
    """Elements added by index_put(self, indices, values, accumulate): 0 unless accumulate."""
    accumulate = args[3] if len(args) > 3 else kwargs.get("accumulate", False)
    if not accumulate:
        return 0
    self, indices = args[0], args[1]
    index_shapes, covered, trailing = [], 0, 1
    for idx in indices:
        if idx is None:
            trailing *= self.shape[covered]
            covered += 1
        elif idx.dtype == torch.bool:
            index_shapes.append((int(idx.sum()),))
            covered += idx.dim()
        else:
            index_shapes.append(tuple(idx.shape))
            covered += 1
    n_index = math.prod(torch.broadcast_shapes(*index_shapes)) if index_shapes else 1
    return n_index * trailing * math.prod(self.shape[covered:])


def _scatter_flops(name: str, args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> int:
    if name == "embedding_dense_backward":
        return _numel(args[0])
    if name == "index_add":
        return _numel(args[3])
    if name in {"index_put", "_index_put_impl", "_unsafe_index_put"}:
        return _index_put_flops(args, kwargs)
    if name == "scatter":  # plain scatter moves data; scatter(..., reduce="add"/"multiply") computes
        reduce = kwargs.get("reduce", args[4] if len(args) > 4 else None)
        return _numel(args[2]) if reduce is not None else 0
    return _numel(args[2])  # scatter_add / scatter_reduce: one per index element


def _elementwise_flops(name: str, args: tuple[Any, ...], out: Any) -> int:
    if name.startswith("_foreach_"):  # per-tensor-list kernels: one per element of the first list
        return sum(_numel(t) for t in args[0] if isinstance(t, torch.Tensor))
    tensors = _tensors([out])
    return _numel(tensors[0]) if tensors else 0


def _reduction_flops(args: tuple[Any, ...]) -> int:
    first = args[0]
    if isinstance(first, (list, tuple)):
        return sum(_numel(t) for t in first if isinstance(t, torch.Tensor))
    return _numel(first) if isinstance(first, torch.Tensor) else 0


def _base_name(func: Any) -> str:
    """'aten.add_.Tensor' -> 'add'; keeps leading underscores and `_foreach_` prefixes."""
    name = func.overloadpacket.__name__
    return name[:-1] if name.endswith("_") and not name.endswith("__") else name


def _touches_float(args: tuple[Any, ...], kwargs: Mapping[str, Any], out: Any) -> bool:
    return any(t.is_floating_point() or t.is_complex() for t in _tensors([args, kwargs, out]))


def _segment_sum_flops(args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> int:
    """embedding_bag(weight, indices, offsets, ..., per_sample_weights) in sum mode: a segment sum of
    gathered rows, under the incidence rule."""
    weight, indices, offsets = args[0], args[1], args[2]
    weights = args[6] if len(args) > 6 else kwargs.get("per_sample_weights")
    nnz = int(indices.numel())
    return _sparse_product_flops(nnz, _nonempty_segments(offsets, nnz), math.prod(weight.shape[1:]), weights)


def _fused_adam_flops(args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> int:
    """torch's fused Adam counted as the unfused implementation's elementwise ops (7 per element, 8 with
    weight decay: grad + wd * p, lerp, mul, addcmul, sqrt, div, add eps, addcdiv), so fused and unfused
    optimizers compare on the same rule."""
    per_element = 8 if kwargs.get("weight_decay", 0) else 7
    return per_element * sum(_numel(t) for t in args[0] if isinstance(t, torch.Tensor))


def op_flops(func: Any, args: tuple[Any, ...], kwargs: Mapping[str, Any], out: Any) -> int | None:
    """FLOPs of one aten call under the sparse-aware rules; None when the op is unknown."""
    name = _base_name(func)
    if name in ("_fused_adam", "_fused_adamw"):
        return _fused_adam_flops(args, kwargs)
    foreach = name.startswith("_foreach_")
    core = name[len("_foreach_"):] if foreach else name
    if name in _MOVEMENT or name in _GATHER or (foreach and core in _MOVEMENT):
        return 0
    if name in _MATMUL:
        return _matmul_flops(name, args)
    if name in _SEGMENT_SUM:
        return _segment_sum_flops(args, kwargs)
    if not _touches_float(args, kwargs, out):
        return 0
    if name in _SCATTER_ADD:
        return _scatter_flops(name, args, kwargs)
    if name in _REDUCTION:
        return _reduction_flops(args)
    if name in _ELEMENTWISE or (foreach and core in _ELEMENTWISE):
        return _elementwise_flops(name, args, out)
    return None


class SparseAwareFlopCounter(TorchDispatchMode):
    """Counts FLOPs of every aten op it sees (forward and backward) into the current phase."""

    def __init__(self) -> None:
        super().__init__()
        self.phase = "step"
        self.counts: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
        self.uncounted: set[str] = set()

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):  # type: ignore[override]
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        flops = op_flops(func, args, kwargs, out)
        key = f"aten.{_base_name(func)}"
        if flops is None:
            self.uncounted.add(key)
            flops = 0
        self.counts[self.phase][key] += flops
        return out

    def phase_totals(self) -> dict[str, int]:
        """Total FLOPs per phase seen so far."""
        return {phase: sum(ops.values()) for phase, ops in self.counts.items()}

    def by_op(self, phases: Iterable[str] | None = None) -> dict[str, int]:
        """FLOPs per op (keys like 'aten.mm', in-place variants merged), summed over `phases` (all if None)."""
        merged: dict[str, int] = defaultdict(int)
        for phase, ops in self.counts.items():
            if phases is None or phase in phases:
                for op, n in ops.items():
                    merged[op] += n
        return dict(merged)


class FlopProbe(Probe):
    """Counts the FLOPs of each phase of a driven step with a SparseAwareFlopCounter."""

    def __init__(self) -> None:
        self.counter = SparseAwareFlopCounter()

    def step_start(self, index: int) -> None:
        self.counter.__enter__()

    def phase_start(self, phase: str) -> None:
        self.counter.phase = phase

    def step_end(self, index: int, loss: torch.Tensor | None) -> None:
        self.counter.__exit__(None, None, None)


def profiler_flops(fn: Callable[[], object]) -> int | None:
    """torch.profiler(with_flops=True)'s sum of event flops while `fn()` runs: dense-counting (a sparse
    product counts 2*M*K*N) and double-counting nested events (addmm inside addmm); None if it gives none."""
    from torch.profiler import ProfilerActivity, profile

    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if torch.cuda.is_available() else [])
    with profile(activities=activities, with_flops=True) as prof:
        fn()
    total = sum(int(getattr(e, "flops", 0) or 0) for e in prof.events())
    return total or None


def count_step_flops(step: FrameworkStep, batch: Batch, with_profiler: bool = True) -> FlopCount:
    """Drive one full step under the counter (the optimizer counted apart in `optimizer`); then, if
    asked, prepare + forward + backward of a second step under the profiler.

    The step object advances (its parameters and optimizer state are updated once or twice).
    """
    probe = FlopProbe()
    drive_step(step, batch, [probe])
    profiler = None
    if with_profiler:
        profiler = profiler_flops(lambda: drive_step(step, batch, phases=STEP_PHASES))
        step.optimizer_step()
    counter = probe.counter
    totals = counter.phase_totals()
    return FlopCount(
        executed=sum(totals.get(p, 0) for p in STEP_PHASES),
        profiler=profiler,
        by_op=counter.by_op(STEP_PHASES),
        optimizer=totals.get("optimizer", 0),
        by_phase={phase: dict(ops) for phase, ops in counter.counts.items()},
        uncounted_ops=frozenset(counter.uncounted),
    )
