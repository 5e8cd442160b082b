"""The fused backend: each pass of a model's step is one numba kernel over the batch's triples (no
incidence matrix, no (rows x d) intermediates), parallel over threads with per-thread gradient rows.
It needs numba (bundles LLVM; no system compiler) and runs on CPU float32 parameters; elsewhere it
says why it cannot run, and `sparse` is then run with another backend."""

from __future__ import annotations

import importlib.util
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from sparse_impl.backends.base import Backend, PreparedBatch

if TYPE_CHECKING:
    from sparse_impl.models.base import SparseKGEModel

__all__ = ["FusedBackend"]


class _FusedScores(torch.autograd.Function):
    """scores = model kernel(tables); the backward kernel writes every table's gradient directly."""

    @staticmethod
    def forward(ctx, fused: Any, batch: Any, code: int, *tables: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        import numba

        numba.set_num_threads(min(torch.get_num_threads(), numba.config.NUMBA_NUM_THREADS))
        arrays = tuple(t.detach().numpy() for t in tables)
        scores = np.empty(batch.heads.shape[0], np.float32)
        fused.forward(batch, arrays, code, numba.get_num_threads(), scores)
        ctx.fused, ctx.batch, ctx.code = fused, batch, code
        ctx.save_for_backward(*tables)
        return torch.from_numpy(scores)

    @staticmethod
    def backward(ctx, grad_scores: torch.Tensor):  # type: ignore[override]
        import numba

        tables = ctx.saved_tensors
        grads = tuple(torch.zeros_like(t) for t in tables)
        ctx.fused.backward(ctx.batch, tuple(t.detach().numpy() for t in tables), ctx.code,
                           grad_scores.detach().contiguous().numpy(), numba.get_num_threads(),
                           tuple(g.numpy() for g in grads))
        return (None, None, None, *grads)


class FusedBackend(Backend):
    """One numba kernel per pass (forward: gather, normalise, translate, dissimilarity; backward: straight
    into the gradient rows). CPU, float32."""

    name = "fused"

    @classmethod
    def unavailable_reason(cls) -> str | None:
        if importlib.util.find_spec("numba") is None:
            return "numba is not installed (pip install -c constraints.txt numba)"
        return None

    def prepare(self, model: "SparseKGEModel", triples: torch.Tensor, n_positive: int) -> PreparedBatch:
        from sparse_impl.backends.fused.kernels import local_ids
        from sparse_impl.backends.fused.models import FUSED_MODELS, FusedBatch

        if triples.device.type != "cpu" or model.entity.dtype != torch.float32:
            raise RuntimeError("the fused backend runs on CPU float32 parameters only; use backend 'segment'")
        columns = triples.t().contiguous().numpy()
        heads, relations, tails = columns[0], columns[1], columns[2]
        ids, local_h, local_t = local_ids(heads, tails, model.n_entities)
        by_relation = FUSED_MODELS[model.name].visit_by_relation
        order = np.argsort(relations, kind="stable") if by_relation else np.arange(heads.shape[0])
        return PreparedBatch(FusedBatch(heads, relations, tails, ids, local_h, local_t, order), triples[:, 1],
                             n_positive)

    def scores(self, model: "SparseKGEModel", batch: PreparedBatch) -> torch.Tensor:
        from sparse_impl.backends.fused.dissimilarity import DISSIMILARITY_CODES
        from sparse_impl.backends.fused.models import FUSED_MODELS

        fused = FUSED_MODELS[model.name]
        tables = tuple(getattr(model, name) for name in fused.parameters)
        return _FusedScores.apply(fused, batch.matrix, DISSIMILARITY_CODES[model.dissimilarity_name], *tables)
