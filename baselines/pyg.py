"""PyTorch Geometric's `torch_geometric.nn.kge.TransE` behind the uniform adapter.

What runs: PyG's own TransE module (two nn.Embedding tables, gather, per-row F.normalize of h and t
with p = p_norm, then -||h + r - t||_p), called once for the positives and once for the negatives
as PyG's own `TransE.loss` does; the loss is torch's `F.margin_ranking_loss` (the one PyG uses) with
reduction "sum" instead of PyG's "mean", so the loss is the shared margin ranking sum.

Parameter mapping: canonical `entity` -> `node_emb.weight`, `relation` -> `rel_emb.weight` (same shapes).

Matching the shared score function (entity rows L2-normalised in the score, then the dissimilarity):
- "L2": p_norm=2 is exactly the function (L2 row normalisation, true L2 distance).
- "L2sq": p_norm=2 and the glue `score = -(pyg_score ** 2)`, i.e. -||h + r - t||_2^2, computed as
  the square of PyG's norm exactly as sparse_impl / TorchKGE compute it (norm ** 2).
- "L1": not supported. PyG ties the row normalisation to the distance (F.normalize(p=p_norm)), so
  p_norm=1 would L1-normalise the entity rows, a different function from TorchKGE's / ours (L2 rows,
  L1 distance); reproducing it would mean replacing PyG's forward entirely.
Other models: PyG has no TransR, TransH or TorusE (only TransE, DistMult, ComplEx, RotatE).

After each Adam step the entity rows are re-normalised in place (TorchKGE's normalize_parameters),
which PyG itself does not do; it is part of the shared training step, not of the score. With a row-sparse
optimizer only the rows the step moved are re-normalised (the glue is ours, so it does no O(entities) work).

Row-sparse optimizers: PyG's own sparse path, `TransE(..., sparse=True)` (its nn.Embedding tables hand out
sparse row gradients), with torch.optim.SparseAdam for `adam-lazy` where the weight decay is 0, sptx's
LazyAdam / RowwiseAdagrad otherwise (baselines.base.library_optimizer).
"""

from __future__ import annotations

from typing import Any, Mapping

import torch

from baselines.base import FrameworkStep, dense_gradient, library_optimizer
from harness.models import constrain_touched_rows_
from harness.optim import OPTIMIZERS, row_sparse_optimizers
from harness.sampling import Batch
from harness.spec import ModelConfig, TrainConfig

__all__ = ["PyGStep"]


class PyGStep(FrameworkStep):
    """torch_geometric.nn.kge.TransE with p_norm=2 (squared for L2sq), margin ranking sum, Adam."""

    name = "pyg"
    losses = frozenset({"margin"})  # its library's margin ranking loss
    models = frozenset({"transe"})
    library = "torch_geometric"
    row_optimizers = row_sparse_optimizers()
    row_gradients = "torch_geometric.nn.kge.TransE(sparse=True)"

    @classmethod
    def unsupported_reason(cls, cfg: ModelConfig, options: Mapping[str, Any] | None = None,
                           optimizer: str | None = None, loss: str | None = None) -> str | None:
        reason = super().unsupported_reason(cfg, options, optimizer, loss)
        if reason is None and cfg.dissimilarity == "L1":
            reason = ("pyg transe cannot compute the L1 dissimilarity with L2-normalised entities: "
                      "PyG's TransE normalises h and t with the same p as its distance (p_norm)")
        return reason

    def __init__(self, cfg: ModelConfig, train: TrainConfig, params: Mapping[str, torch.Tensor],
                 device: torch.device) -> None:
        super().__init__(cfg, train, params, device)  # no `native` kwarg: no native variant
        from torch_geometric.nn.kge import TransE

        reason = self.unsupported_reason(cfg)
        if reason is not None:
            raise ValueError(reason)
        self.check_optimizer(train.optimizer, {})
        self.squared = cfg.dissimilarity == "L2sq"
        self.model = TransE(cfg.n_entities, cfg.n_relations, cfg.dim, margin=train.margin, p_norm=2.0,
                            sparse=OPTIMIZERS[train.optimizer].row_sparse)
        with torch.no_grad():
            self.model.node_emb.weight.copy_(params["entity"])
            self.model.rel_emb.weight.copy_(params["relation"])
        self.model.to(device)
        self.optimizer = library_optimizer(self.model.parameters(), train)

    def prepare(self, batch: Batch) -> tuple[torch.Tensor, ...]:
        pos = batch.positives.to(self.device)
        neg = batch.negatives.to(self.device)
        return pos[:, 0], pos[:, 1], pos[:, 2], neg[:, 0], neg[:, 1], neg[:, 2]

    def _score(self, h: torch.Tensor, r: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        score = self.model(h, r, t)  # -||normalize(h) + r - normalize(t)||_2
        return -(score**2) if self.squared else score

    def scores(self, prepared: Any) -> tuple[torch.Tensor, torch.Tensor]:
        h, r, t, nh, nr, nt = prepared
        return self._score(h, r, t), self._score(nh, nr, nt)

    def forward(self, prepared: Any) -> torch.Tensor:
        positive, negative = self.scores(prepared)
        k = negative.shape[0] // positive.shape[0]
        positive = positive.repeat(k) if k > 1 else positive
        return torch.nn.functional.margin_ranking_loss(
            positive, negative, target=torch.ones_like(positive), margin=self.train.margin, reduction="sum")

    def optimizer_step(self) -> None:
        """The update, then the entity rows kept to unit norm: those it moved (row gradients), else the table."""
        self.optimizer.step()
        constrain_touched_rows_(self.cfg.spec, self._tables())  # before zero_grad: row gradients say which rows
        self.optimizer.zero_grad(set_to_none=True)

    def _tables(self) -> dict[str, torch.Tensor]:
        """PyG's weights under canonical names (the same shapes)."""
        return {"entity": self.model.node_emb.weight, "relation": self.model.rel_emb.weight}

    def canonical_parameters(self) -> dict[str, torch.Tensor]:
        return {k: v.detach() for k, v in self._tables().items()}

    def canonical_gradients(self) -> dict[str, torch.Tensor]:
        return {"entity": dense_gradient(self.model.node_emb.weight),
                "relation": dense_gradient(self.model.rel_emb.weight)}
