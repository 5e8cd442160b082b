"""Our own gather/scatter reference in plain PyTorch: the strongest honest index_select / index_add
implementation of every model, the baseline the SpMM formulation has to beat on equal terms.

The score is the model's spec (harness.models), evaluated by gathers: `Tensor.index_select` over
[positives; negatives] (one call per table), whose autograd backward is `zeros.index_add_(0, index,
grad)`, i.e. the scatter-add. No nn.Embedding (whose dense backward sorts the indices), no per-row
Python work. Translation models with a projection use its linearity (M_r h - M_r t = M_r (h - t)), as
the SpMM models do; only the summation order differs.

With a row-sparse optimizer the step first finds the batch's distinct entities and relations
(torch.unique), gathers those rows of every table (`RowGather`, whose backward is a sparse row gradient,
what nn.Embedding(sparse=True) hands SparseAdam) and scores on them.
"""

from __future__ import annotations

from typing import Any, Mapping

import torch
from torch import nn

from baselines.base import AdapterOption, FrameworkStep, dense_gradient, table_optimizer
from harness.models import MODELS, constrain_touched_rows_
from harness.optim import OPTIMIZERS
from harness.sampling import Batch
from harness.spec import ModelConfig, TrainConfig

__all__ = ["GatherStep", "RowGather"]


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
                             "different work", choices=lambda: ("table", "rows")),)

    def __init__(self, cfg: ModelConfig, train: TrainConfig, params: Mapping[str, torch.Tensor],
                 device: torch.device, normalize: str = "table") -> None:
        super().__init__(cfg, train, params, device)
        self.normalize_rows = normalize == "rows"
        self.spec = cfg.spec
        self.row_sparse = OPTIMIZERS[train.optimizer].row_sparse
        self._index = self.spec.table_index(params)  # which ids pick each table's rows
        self.tables = nn.ParameterDict(
            {k: nn.Parameter(v.detach().clone().to(device)) for k, v in params.items()})
        self.optimizer = table_optimizer(self.tables, self.spec, train)

    @classmethod
    def supported_models(cls, options: Mapping[str, Any]) -> frozenset[str]:
        """Every registered model: the step is the spec's own score, evaluated by gathers."""
        return frozenset(MODELS)

    @classmethod
    def supported_optimizers(cls, options: Mapping[str, Any]) -> frozenset[str]:
        return frozenset(OPTIMIZERS)

    def prepare(self, batch: Batch) -> Any:
        """The batch's (h, r, t) columns; with a row-sparse optimizer, its distinct entity and relation ids and
        (h, r, t) as indices into them."""
        triples = torch.cat((batch.positives, batch.negatives), dim=0).to(self.device)
        h, r, t = triples[:, 0], triples[:, 1], triples[:, 2]
        if not self.row_sparse:
            return h, r, t, batch.size, None
        entities, local_ht = torch.unique(torch.cat((h, t)), return_inverse=True)
        relations, local_r = torch.unique(r, return_inverse=True)
        local_h, local_t = local_ht.split(h.shape[0])
        return local_h, local_r, local_t, batch.size, {"entity": entities, "relation": relations}

    def scores(self, prepared: Any) -> tuple[torch.Tensor, torch.Tensor]:
        h, r, t, n_pos, rows = prepared
        tables: Mapping[str, torch.Tensor] = self.tables
        if rows is not None:  # score on the batch's rows of every table
            tables = {name: RowGather.apply(table, rows[self._index[name]]) for name, table in self.tables.items()}
        scores = self.spec.score(tables, self.cfg.dissimilarity, h, r, t, view_rows=self.normalize_rows)
        return scores[:n_pos], scores[n_pos:]

    def optimizer_step(self) -> None:
        self.optimizer.step()
        # before zero_grad: row gradients say which rows moved; the optimizer kept the entity rows it moved
        constrain_touched_rows_(self.spec, self.tables, entities_done=self.row_sparse)
        self.optimizer.zero_grad(set_to_none=True)

    def canonical_parameters(self) -> dict[str, torch.Tensor]:
        return {k: v.detach() for k, v in self.tables.items()}

    def canonical_gradients(self) -> dict[str, torch.Tensor]:
        return {k: dense_gradient(v) for k, v in self.tables.items()}
