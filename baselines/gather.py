"""Our own gather/scatter reference in plain PyTorch: the strongest honest index_select / index_add
implementation of every model, the baseline the SpMM formulation has to beat on equal terms.

The score is the model's spec (harness.models), evaluated by gathers: `Tensor.index_select` over
[positives; negatives] (one call per table), whose autograd backward is `zeros.index_add_(0, index,
grad)`, i.e. the scatter-add. No nn.Embedding (whose dense backward sorts the indices), no per-row
Python work. Translation models with a projection use its linearity (M_r h - M_r t = M_r (h - t)), as
the SpMM models do; only the summation order differs.

With a row-sparse optimizer the option `rows` says how the step hands out row gradients:
- `unique` (default): the step first finds the batch's distinct entities and relations (torch.unique),
  gathers those rows of every table (`RowGather`, whose backward is a sparse row gradient with one
  coalesced row per distinct id) and scores on them; sptx's LazyAdam / RowwiseAdagrad move those rows
  and keep the entity rows to the model's constraint in the same pass.
- `embedding`: what a torch user writes: every lookup through F.embedding(sparse=True) (nn.Embedding
  (sparse=True)'s function; its backward is one gradient row per lookup, uncoalesced), then
  torch.optim.SparseAdam for `adam-lazy` where the weight decay is 0 (baselines.base.library_optimizer),
  the touched rows constrained after the step. Row-sparse optimizers only: with a dense one it would be a
  third gather, not this reference.
"""

from __future__ import annotations

from typing import Any, Mapping

import torch
from torch import nn
from torch.nn.functional import embedding

from baselines.base import (AdapterOption, FrameworkStep, dense_gradient, library_optimizer, moves_constrained_rows,
                            table_optimizer)
from harness.models import MODELS, constrain_touched_rows_
from harness.optim import OPTIMIZERS, row_sparse_optimizers
from harness.sampling import Batch
from harness.spec import ModelConfig, TrainConfig

__all__ = ["ROW_PATHS", "GatherStep", "RowGather"]

# How the step hands out row gradients with a row-sparse optimizer (the option `rows`), for the record.
ROW_PATHS: dict[str, str] = {
    "unique": "torch.unique + index_select of the distinct rows (RowGather)",
    "embedding": "F.embedding(sparse=True) per lookup (nn.Embedding(sparse=True))",
}


class RowGather(torch.autograd.Function):
    """table.index_select(0, ids) for sorted distinct ids (torch.unique's), whose gradient is a sparse tensor of
    those rows only, coalesced as built."""

    @staticmethod
    def forward(ctx, table: torch.Tensor, ids: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        ctx.ids, ctx.shape = ids, table.shape
        return table.index_select(0, ids)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):  # type: ignore[override]
        return torch.sparse_coo_tensor(ctx.ids.unsqueeze(0), grad, ctx.shape, is_coalesced=True), None


class GatherStep(FrameworkStep):
    """Plain-PyTorch index_select forward, index_add backward (via autograd), Adam on full tables."""

    name = "gather"
    options = (AdapterOption("normalize", "table",
                             "apply the entity view (unit rows) to the table once per step "
                             "(table) or to every gathered row, as TorchKGE does (rows); same numbers, "
                             "different work", choices=lambda: ("table", "rows")),
               AdapterOption("rows", "unique", "row-sparse optimizers: gather the batch's distinct rows once "
                             "(unique) or every lookup by F.embedding(sparse=True) with torch.optim.SparseAdam, "
                             "as nn.Embedding(sparse=True) users do (embedding)", choices=lambda: tuple(ROW_PATHS)))

    def __init__(self, cfg: ModelConfig, train: TrainConfig, params: Mapping[str, torch.Tensor],
                 device: torch.device, normalize: str = "table", rows: str = "unique") -> None:
        super().__init__(cfg, train, params, device)
        self.check_optimizer(train.optimizer, self.resolve_options({"normalize": normalize, "rows": rows}))
        self.normalize_rows = normalize == "rows"
        self.spec = cfg.spec
        self.row_sparse = OPTIMIZERS[train.optimizer].row_sparse
        self.per_lookup = rows == "embedding"
        self.row_gradients = ROW_PATHS[rows] if self.row_sparse else None
        self._index = self.spec.table_index(params)  # which ids pick each table's rows
        self._shapes = {k: tuple(v.shape) for k, v in params.items()}
        # F.embedding takes 2-D tables (its sparse gradient cannot be reshaped): rows=embedding keeps them flat
        self.tables = nn.ParameterDict(
            {k: nn.Parameter(self._stored(v.detach().clone().to(device))) for k, v in params.items()})
        self.optimizer = (library_optimizer(self.tables.values(), train) if self.per_lookup
                          else table_optimizer(self.tables, self.spec, train))

    @classmethod
    def supported_models(cls, options: Mapping[str, Any]) -> frozenset[str]:
        """Every registered model: the step is the spec's own score, evaluated by gathers."""
        return frozenset(MODELS)

    @classmethod
    def supported_optimizers(cls, options: Mapping[str, Any]) -> frozenset[str]:
        """Every optimizer with `rows=unique`; only the row-sparse ones with `rows=embedding`."""
        return row_sparse_optimizers() if options.get("rows") == "embedding" else frozenset(OPTIMIZERS)

    def prepare(self, batch: Batch) -> Any:
        """The batch's (h, r, t) columns; with a row-sparse optimizer, its distinct entity and relation ids and
        (h, r, t) as indices into them."""
        triples = torch.cat((batch.positives, batch.negatives), dim=0).to(self.device)
        h, r, t = triples[:, 0], triples[:, 1], triples[:, 2]
        if not self.row_sparse:
            return h, r, t, batch.size, None
        if self.per_lookup:  # one row per lookup: entity rows [h; t], relation rows r
            n = h.shape[0]
            local = torch.arange(2 * n, device=h.device)
            return local[:n], local[:n], local[n:], batch.size, {"entity": torch.cat((h, t)), "relation": r}
        entities, local_ht = torch.unique(torch.cat((h, t)), return_inverse=True)
        relations, local_r = torch.unique(r, return_inverse=True)
        local_h, local_t = local_ht.split(h.shape[0])
        return local_h, local_r, local_t, batch.size, {"entity": entities, "relation": relations}

    def scores(self, prepared: Any) -> tuple[torch.Tensor, torch.Tensor]:
        h, r, t, n_pos, rows = prepared
        tables: Mapping[str, torch.Tensor] = self.tables
        if rows is not None and self.per_lookup:  # every lookup's row, as nn.Embedding(sparse=True) gathers
            tables = {name: embedding(rows[self._index[name]], table, sparse=True).view(-1, *self._shapes[name][1:])
                      for name, table in self.tables.items()}
        elif rows is not None:  # score on the batch's rows of every table
            tables = {name: RowGather.apply(table, rows[self._index[name]]) for name, table in self.tables.items()}
        scores = self.spec.score(tables, self.cfg.dissimilarity, h, r, t, view_rows=self.normalize_rows)
        return scores[:n_pos], scores[n_pos:]

    def optimizer_step(self) -> None:
        self.optimizer.step()
        # before zero_grad: row gradients say which rows moved; sptx's row optimizers kept the entity rows they moved
        entities_done = self.row_sparse and moves_constrained_rows(self.optimizer)
        constrain_touched_rows_(self.spec, self.tables, entities_done=entities_done)
        self.optimizer.zero_grad(set_to_none=True)

    def _stored(self, table: torch.Tensor) -> torch.Tensor:
        """A canonical table as the step stores it: (rows, elements) for F.embedding, else as it is."""
        return table.reshape(table.shape[0], -1) if self.per_lookup else table

    def canonical_parameters(self) -> dict[str, torch.Tensor]:
        return {k: v.detach().view(self._shapes[k]) for k, v in self.tables.items()}

    def canonical_gradients(self) -> dict[str, torch.Tensor]:
        return {k: dense_gradient(v).view(self._shapes[k]) for k, v in self.tables.items()}
