"""SpMM with DGL's g-SpMM kernel (dgl.ops.gspmm): the incidence becomes a bipartite graph from
columns (table rows) to incidence rows, with the signs as edge weights."""

from __future__ import annotations

from typing import Any

import torch

from sparse_impl.backends.base import BackendUnavailable, SpMMBackend
from sparse_impl.incidence import IncidencePattern

__all__ = ["DGLBackend"]


def _import_dgl() -> Any:
    try:
        import dgl  # noqa: PLC0415
    except Exception as exc:  # dgl raises several kinds of errors when its C++ parts do not match torch
        raise BackendUnavailable(
            f"dgl does not import beside torch {torch.__version__} ({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}); "
            "use the tox environment `dgl` (torch 2.2.1, dgl 2.1.0)"
        ) from exc
    return dgl


class DGLBackend(SpMMBackend):
    """dgl.ops.gspmm(graph, 'mul', 'sum', X, w): sum over incoming edges of X[src] * w."""

    name = "dgl"
    outside_aten = "DGL's g-SpMM kernels"

    @classmethod
    def unavailable_reason(cls) -> str | None:
        try:
            _import_dgl()
        except BackendUnavailable as exc:
            return str(exc)
        return None

    def build(self, pattern: IncidencePattern) -> Any:
        dgl = _import_dgl()
        n_rows, n_cols = pattern.shape
        graph = dgl.heterograph(
            {("col", "to", "row"): (pattern.cols, pattern.rows)},
            num_nodes_dict={"col": n_cols, "row": n_rows},
            device=pattern.cols.device,
        )
        return graph, pattern.values.unsqueeze(1)

    def spmm(self, matrix: Any, dense: torch.Tensor) -> torch.Tensor:
        dgl = _import_dgl()
        graph, weights = matrix
        return dgl.ops.gspmm(graph, "mul", "sum", dense, weights)
