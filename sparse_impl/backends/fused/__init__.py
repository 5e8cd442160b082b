"""The fused backend: a model's training step is one numba kernel over the batch's triples that computes
the margin loss and, in the same pass, every parameter gradient (no incidence matrix, no (rows x d)
intermediates), parallel over threads with per-thread gradient rows; scoring alone is another kernel.
It needs numba (bundles LLVM; no system compiler) and runs on CPU (float32 or float64); elsewhere it says
why it cannot run."""

from __future__ import annotations

import importlib.util
from typing import Any

import numpy as np
import torch

from sparse_impl.backends.base import Backend, ModelView, PreparedBatch
from sparse_impl.backends.fused.losses import LossCode
from sparse_impl.backends.fused.threads import match_torch_threads
from sparse_impl.loss import get_loss

__all__ = ["FusedBackend"]


def _arrays(tables: tuple[torch.Tensor, ...]) -> tuple[np.ndarray, ...]:
    return tuple(t.detach().numpy() for t in tables)


class _FusedScores(torch.autograd.Function):
    """Every row's score (no gradient: training goes through _FusedLoss)."""

    @staticmethod
    def forward(ctx, fused: Any, batch: Any, code: int, *tables: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        scores = np.empty(batch.heads.shape[0], tables[0].detach().numpy().dtype)
        fused.score(batch, _arrays(tables), code, match_torch_threads(), scores)
        return torch.from_numpy(scores)

    @staticmethod
    def backward(ctx, grad_scores: torch.Tensor):  # type: ignore[override]
        raise RuntimeError("fused scores are not differentiable; train through the fused margin loss")


def _row_gradient(ids: np.ndarray, rows: torch.Tensor, table: torch.Tensor) -> torch.Tensor:
    """The gradient of `table` as a sparse tensor holding only the given rows (sorted and distinct: coalesced)."""
    return torch.sparse_coo_tensor(torch.from_numpy(ids).unsqueeze(0), rows, table.shape, is_coalesced=True,
                                   check_invariants=False)


class _FusedLoss(torch.autograd.Function):
    """The summed margin loss; its kernel also computes the gradients, which backward scales and returns: dense
    tables, or in row-gradient mode sparse ones holding the batch's relation rows, while the entity gradient
    stays in the kernel's per-thread rows for the optimizer's fused update (backward commits it to the
    workspace; FusedBackend.take_pending_rows hands it over)."""

    @staticmethod
    def forward(ctx, fused: Any, batch: Any, code: int, margin: Any, *tables: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        entity, relation_side = tables[0], tables[1:]
        row_mode = batch.slot is None
        relation_grads = tuple(torch.empty_like(t) for t in relation_side)
        g_entity = None if row_mode else torch.empty_like(entity)
        value = fused.loss(batch, _arrays(tables), code, margin, match_torch_threads(),
                           (None if g_entity is None else g_entity.numpy(), *(g.numpy() for g in relation_grads)))
        if row_mode:
            relations = np.flatnonzero(np.bincount(batch.relations, minlength=relation_side[0].shape[0]))
            rel_index = torch.from_numpy(relations)
            relation_grads = tuple(_row_gradient(relations, g.index_select(0, rel_index), t)
                                   for g, t in zip(relation_grads, relation_side))
        ctx.grads = (g_entity, *relation_grads)
        ctx.workspace = batch.workspace
        return torch.tensor(value, dtype=tables[0].dtype)

    @staticmethod
    def backward(ctx, grad_loss: torch.Tensor):  # type: ignore[override]
        scale = float(grad_loss)
        grads = ctx.grads if scale == 1.0 else tuple(None if g is None else g * grad_loss for g in ctx.grads)
        if ctx.workspace is not None:
            ctx.workspace.commit(scale)
        del ctx.grads, ctx.workspace
        return (None, None, None, None, *grads)


class FusedBackend(Backend):
    """One numba kernel for the loss and all gradients of a step (gather, normalise, translate, project,
    dissimilarity, margin, and each active row's gradient straight into the gradient rows). CPU."""

    name = "fused"
    outside_aten = "the fused backend's numba kernels (loss and gradients)"
    row_gradients = True

    def __init__(self) -> None:
        from sparse_impl.backends.fused.workspace import RowWorkspace

        self.workspace = RowWorkspace()

    @classmethod
    def unavailable_reason(cls) -> str | None:
        if importlib.util.find_spec("numba") is None:
            return "numba is not installed (pip install -c constraints.txt numba)"
        return None

    @classmethod
    def supports(cls, model: str, interaction: str) -> bool:
        """The models that have kernels here (backends/fused/models.py)."""
        from sparse_impl.backends.fused.models import FUSED_MODELS

        return model in FUSED_MODELS

    def prepare(self, model: ModelView, triples: torch.Tensor, n_positive: int) -> PreparedBatch:
        from sparse_impl.backends.fused.kernels import local_ids
        from sparse_impl.backends.fused.models import FUSED_MODELS, FusedBatch

        if triples.device.type != "cpu" or model.entity.device.type != "cpu":
            raise RuntimeError("the fused backend runs on CPU only; use backend 'segment' on other devices")
        columns = triples.t().contiguous().numpy()
        heads, relations, tails = columns[0], columns[1], columns[2]
        workspace = self.workspace if model.row_gradients else None
        if workspace is not None:  # ids sorted: rows are read in table order and the row gradient is coalesced
            ids, local_h, local_t = workspace.distinct_ids(heads, tails, model.n_entities)
            slot = None
        else:
            ids, local_h, local_t, slot = local_ids(heads, tails, model.n_entities)
        positive_relations = relations[:n_positive]
        order = (np.argsort(positive_relations, kind="stable") if FUSED_MODELS[model.name].visit_by_relation
                 else np.arange(n_positive))
        batch = FusedBatch(heads, relations, tails, n_positive, ids, local_h, local_t, slot, order, workspace)
        return PreparedBatch(batch, triples[:, 1], n_positive)

    def _fused(self, model: ModelView) -> tuple[Any, int, tuple[torch.Tensor, ...]]:
        from sparse_impl.backends.fused.dissimilarity import DISSIMILARITY_CODES
        from sparse_impl.backends.fused.models import FUSED_MODELS

        tables = tuple(model.canonical_parameters().values())  # in the order the spec declares them
        code = DISSIMILARITY_CODES.get(model.dissimilarity_name, -1)  # -1: the score has no dissimilarity
        return FUSED_MODELS[model.name], code, tables

    # torch.compile cannot trace numba kernels (torch 2.2's dynamo even tries, and fails on numpy `out=`):
    # a compiled step runs them eagerly, between its graphs.
    @torch.compiler.disable
    def scores(self, model: ModelView, batch: PreparedBatch) -> torch.Tensor:
        fused, code, tables = self._fused(model)
        return _FusedScores.apply(fused, batch.matrix, code, *tables)

    @classmethod
    def supports_loss(cls, model: str, loss: str) -> bool:
        """The losses the model's kernels compute (FusedModel.losses)."""
        from sparse_impl.backends.fused.models import FUSED_MODELS

        return model in FUSED_MODELS and loss in FUSED_MODELS[model].losses

    @torch.compiler.disable
    def loss(self, model: ModelView, batch: PreparedBatch, loss: str, margin: float,
             temperature: float = 1.0) -> torch.Tensor:
        fused, code, tables = self._fused(model)
        if loss not in fused.losses:
            raise ValueError(f"the fused {model.name} kernels compute the {', '.join(sorted(fused.losses))} loss, "
                             f"not {loss}")
        return _FusedLoss.apply(fused, batch.matrix, code, LossCode(get_loss(loss).code, margin, temperature),
                                *tables)

    def take_pending_rows(self) -> Any:
        """The entity gradient the last backward left in the kernel's per-thread rows (a workspace.PendingRows the
        next loss pass overwrites), or None."""
        return self.workspace.take()

    def peek_pending_rows(self) -> Any:
        """As take_pending_rows, leaving it for the optimizer."""
        return self.workspace.pending
