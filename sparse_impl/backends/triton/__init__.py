"""The GPU fused backend: the numba backend's one-pass training step (backends/fused) as Triton kernels. Per block
of triples the kernels gather the rows, score them, apply the margin loss and send every active row's gradient
straight to the gradient tables (kernels.py). No incidence matrix and no (rows x d) intermediate in the default
form. Models: TransE, TorusE, TransH, TransR (launch.TRITON_MODELS), every dissimilarity they define; every loss
of sparse_impl.loss (the margin loss in one pass; the others from the scores' d loss / d score, kernels.coef_kernel).

Two reductions, two backend names:
- `triton`: gradient rows accumulated with tl.atomic_add (the fast form; additions land in an order that varies
  between runs, so a row shared by several triples can differ in its last bits from run to run);
- `triton-sorted`: deterministic. Every row's contribution is stored, then summed per table row in a fixed order
  by a segmented reduction over the contributions sorted by row (the sort is done in `prepare`): the same bits
  every run, at the cost of (2 B(1 + k) x d) buffers.

`sptx ... --backend fused` on a CUDA device runs `triton` (sparse_impl.backends.backend_for_device): the numba
kernels are CPU-only. Needs the `gpu` extra (`pip install -c constraints.txt -e '.[gpu]'`) and a CUDA device, or
TRITON_INTERPRET=1 set before the first kernel is imported, which runs the kernels on CPU tensors in Triton's
interpreter (slow: for tests on tiny sizes).

Gradients: whole tables, or in row-gradient mode (the row-sparse optimizers) sparse COO tensors of the rows the
batch touches (entity rows; the relation-side tables' touched relations); the optimizers update those rows only
(harness.optim, its torch path on CUDA). Nothing is left pending for a fused optimizer update (that is the numba
backend's).
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import os
from typing import Any

import torch
from packaging.version import Version

from sparse_impl.backends.base import Backend, ModelView, PreparedBatch

__all__ = ["TritonBackend", "TritonSortedBackend", "triton_unavailable_reason"]

MIN_TRITON = (3, 2)  # the `gpu` extra's floor: older interpreters reject the kernels' block sizes (tl.arange)


def triton_unavailable_reason() -> str | None:
    """None where the Triton kernels can run (triton installed, and a CUDA device or TRITON_INTERPRET=1), else why."""
    if importlib.util.find_spec("triton") is None:
        return "triton is not installed (pip install -c constraints.txt -e '.[gpu]')"
    installed = importlib.metadata.version("triton")
    if Version(installed).release < MIN_TRITON:  # a pre-release ('3.2.0rc1') counts as its release
        return (f"triton {installed} is older than {'.'.join(map(str, MIN_TRITON))} "
                "(pip install -c constraints.txt -e '.[gpu]')")
    if not torch.cuda.is_available() and os.environ.get("TRITON_INTERPRET") != "1":
        return ("no CUDA device here (TRITON_INTERPRET=1, set before the kernels are imported, runs them on CPU "
                "tensors in Triton's interpreter, slowly: for tests)")
    return None


def _row_gradient(ids: torch.Tensor, rows: torch.Tensor, shape: torch.Size) -> torch.Tensor:
    """A sparse gradient holding rows `ids` (sorted, distinct: coalesced)."""
    return torch.sparse_coo_tensor(ids.unsqueeze(0), rows, shape, is_coalesced=True, check_invariants=False)


class _TritonScores(torch.autograd.Function):
    """Every row's score (no gradient: training goes through _TritonLoss), as the numba backend's."""

    @staticmethod
    def forward(ctx, model: str, dissimilarity: Any, batch: Any, *tables: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        from sparse_impl.backends.triton.launch import scores

        return scores(model, dissimilarity, batch, tuple(t.detach() for t in tables))

    @staticmethod
    def backward(ctx, grad_scores: torch.Tensor):  # type: ignore[override]
        raise RuntimeError("Triton fused scores are not differentiable; train through the backend's loss")


class _TritonLoss(torch.autograd.Function):
    """The summed loss; its kernels also compute every gradient, which backward scales and returns."""

    @staticmethod
    def forward(ctx, model: str, dissimilarity: Any, batch: Any, loss: str, margin: float, temperature: float,  # type: ignore[override]
                *tables: torch.Tensor) -> torch.Tensor:
        from sparse_impl.backends.triton.launch import loss_and_gradients

        detached = tuple(t.detach() for t in tables)
        value, grads = loss_and_gradients(model, dissimilarity, batch, detached, loss, margin, temperature)
        if batch.entity_ids is not None:  # row-gradient mode
            grads[0] = _row_gradient(batch.entity_ids, grads[0], tables[0].shape)
            rel = batch.relation_ids
            grads[1:] = [_row_gradient(rel, g.index_select(0, rel), t.shape) for g, t in zip(grads[1:], tables[1:])]
        ctx.grads = tuple(grads)
        return value.reshape(())

    @staticmethod
    def backward(ctx, grad_loss: torch.Tensor):  # type: ignore[override]
        out = []
        for g in ctx.grads:  # scaled on the device (no host sync to ask whether the scale is 1)
            if g.is_sparse:
                out.append(_row_gradient(g.indices()[0], g.values() * grad_loss, g.shape))
            else:
                out.append(g * grad_loss)
        del ctx.grads
        return (None, None, None, None, None, None, *out)


class TritonBackend(Backend):
    """Triton kernels for the loss and all gradients of a step; gradient rows accumulated with atomics."""

    name = "triton"
    outside_aten = "the Triton backend's kernels (scores, loss and gradients)"
    row_gradients = True
    sorted_reduction = False  # True: the deterministic segmented reduction instead of atomics

    @classmethod
    def unavailable_reason(cls) -> str | None:
        return triton_unavailable_reason()

    @classmethod
    def supports(cls, model: str, interaction: str) -> bool:
        from sparse_impl.backends.triton.launch import TRITON_MODELS

        return model in TRITON_MODELS

    @classmethod
    def supports_loss(cls, model: str, loss: str) -> bool:
        """Every loss (sparse_impl.loss) for every model it has: the margin loss in one pass, the others through
        the scores' d loss / d score."""
        return cls.supports(model, "")

    def prepare(self, model: ModelView, triples: torch.Tensor, n_positive: int) -> PreparedBatch:
        from sparse_impl.backends.triton import kernels
        from sparse_impl.backends.triton.launch import prepare_batch

        device = model.entity.device
        if device.type != "cuda" and not kernels.INTERPRETED:
            raise RuntimeError(f"the Triton backend runs on CUDA tensors (here {device}), or on CPU tensors when "
                               "TRITON_INTERPRET=1 was set before its kernels were imported")
        batch = prepare_batch(triples.to(device), n_positive, model.row_gradients, self.sorted_reduction)
        return PreparedBatch(batch, triples[:, 1], n_positive)

    @staticmethod
    def _tables(model: ModelView) -> tuple[torch.Tensor, ...]:
        tables = tuple(model.canonical_parameters().values())  # in the order the spec declares them
        return tuple(t if t.is_contiguous() else t.contiguous() for t in tables)

    @torch.compiler.disable
    def scores(self, model: ModelView, batch: PreparedBatch) -> torch.Tensor:
        return _TritonScores.apply(model.name, model.dissimilarity_name, batch.matrix, *self._tables(model))

    @torch.compiler.disable
    def loss(self, model: ModelView, batch: PreparedBatch, loss: str, margin: float,
             temperature: float = 1.0) -> torch.Tensor:
        return _TritonLoss.apply(model.name, model.dissimilarity_name, batch.matrix, loss, float(margin),
                                 float(temperature), *self._tables(model))


class TritonSortedBackend(TritonBackend):
    """The Triton kernels with the deterministic reduction: contributions stored per row, summed per table row in
    a fixed order (segmented reduction over the contributions sorted by row)."""

    name = "triton-sorted"
    outside_aten = "the Triton backend's kernels (scores, loss, gradients and their sorted reduction)"
    sorted_reduction = True
