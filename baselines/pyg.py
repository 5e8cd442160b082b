"""PyTorch Geometric's knowledge-graph models (`torch_geometric.nn.kge`: TransE, DistMult, ComplEx, RotatE) behind
the uniform adapter.

What runs: PyG's own module (nn.Embedding tables, gather, its score), called once for the positives and once for
the negatives as PyG's own `KGEModel.loss` does. PyG's `loss()` draws its own negatives, so identical mode feeds
the harness's negatives to the module's forward and computes the run's loss (`--loss`) on PyG's scores, summed:
- margin: torch's `F.margin_ranking_loss` (the one PyG's TransE / DistMult / RotatE loss uses) with reduction
  "sum" instead of PyG's "mean": the shared margin ranking sum;
- softplus: torch's `F.binary_cross_entropy_with_logits` on [positives; negatives] with targets [1; 0] (the one
  PyG's ComplEx / RotatE loss uses), reduction "sum": sum softplus(-pos) + sum softplus(neg), sparse_impl.loss's;
- nssa: PyG has no self-adversarial loss: sparse_impl.loss's on PyG's scores.

Parameter mapping (canonical -> PyG):
- TransE, DistMult: `entity` -> `node_emb.weight`, `relation` -> `rel_emb.weight` (same shapes).
- ComplEx: PyG keeps separate real and imaginary tables of hidden_channels = d/2: canonical [re | im] rows split,
  `entity` -> (`node_emb`, `node_emb_im`), `relation` -> (`rel_emb`, `rel_emb_im`); gradients concatenated back.
- RotatE: `entity` -> (`node_emb`, `node_emb_im`) as ComplEx; `relation` -> `rel_emb.weight`, the d/2 phases
  (PyG stores RotatE relations as phases, as the spec does).

Matching the shared score function:
- TransE (entity rows L2-normalised in the score, then the dissimilarity): PyG normalises h and t per row
  with p = p_norm, then -||h + r - t||_p.
  - "L2": p_norm=2 is exactly the function (L2 row normalisation, true L2 distance).
  - "L2sq": p_norm=2 and the glue `score = -(pyg_score ** 2)`, i.e. -||h + r - t||_2^2, computed as
    the square of PyG's norm exactly as sparse_impl / TorchKGE compute it (norm ** 2).
  - "L1": not supported. PyG ties the row normalisation to the distance (F.normalize(p=p_norm)), so
    p_norm=1 would L1-normalise the entity rows, a different function from TorchKGE's / ours (L2 rows,
    L1 distance); reproducing it would mean replacing PyG's forward entirely.
- DistMult: PyG's scores sum(h * r * t) on the stored rows; the spec (TorchKGE's DistMultModel) normalises the
  gathered entity rows in the score. The glue: a forward hook on PyG's `node_emb` that L2-normalises the rows it
  returns (F.normalize, per gathered row as TorchKGE does), so PyG's own forward scores unit h and t.
- ComplEx: PyG's Re(<h, r, conj t>) on its four tables: exact, no glue.
- RotatE: PyG scores `margin - ||h * r - t||` with the L2 norm of the whole complex vector (re and im parts of
  every coordinate, torch.linalg.vector_norm): built with margin=0, its score is exactly the spec's "L2"
  (-||h * r - t||). "L1" (the sum of the coordinates' moduli) is not supported: it is another reduction inside
  PyG's forward, so reproducing it would mean replacing that forward.
Other models: PyG has no TransR, TransH or TorusE.

Constraints after each step (TorchKGE's normalize_parameters, part of the shared training step, not of the score;
PyG itself has none): TransE's and DistMult's entity rows are re-normalised in place; with a row-sparse optimizer
only the rows the step moved (the glue is ours, so it does no O(entities) work). ComplEx and RotatE have none.

Row-sparse optimizers: PyG's own sparse path, `Model(..., sparse=True)` (its nn.Embedding tables hand out
sparse row gradients), with torch.optim.SparseAdam for `adam-lazy` where the weight decay is 0, sptx's
LazyAdam / RowwiseAdagrad otherwise (baselines.base.library_optimizer). ComplEx and RotatE refuse `adagrad-rowwise`:
their split real / imaginary tables would hold one accumulator per half row, not one per row.
"""

from __future__ import annotations

from typing import Any, Mapping

import torch
from torch.nn.functional import binary_cross_entropy_with_logits, margin_ranking_loss, normalize

from baselines.base import FrameworkStep, dense_gradient, library_optimizer
from baselines.torchkge import split_rows_refusal
from harness.errors import SptxError
from harness.models import constrain_touched_rows_
from harness.optim import OPTIMIZERS, row_sparse_optimizers
from harness.sampling import Batch
from harness.spec import ModelConfig, TrainConfig
from sparse_impl.loss import LOSSES, batch_loss

__all__ = ["PyGStep"]

# Canonical table -> PyG's nn.Embedding attribute(s): one table, or (real part, imaginary part) of [re | im] rows.
_TABLES: dict[str, dict[str, tuple[str, ...]]] = {
    "transe": {"entity": ("node_emb",), "relation": ("rel_emb",)},
    "distmult": {"entity": ("node_emb",), "relation": ("rel_emb",)},
    "complex": {"entity": ("node_emb", "node_emb_im"), "relation": ("rel_emb", "rel_emb_im")},
    "rotate": {"entity": ("node_emb", "node_emb_im"), "relation": ("rel_emb",)},
}

_L1_REASONS = {
    "transe": "PyG's TransE normalises h and t with the same p as its distance (p_norm)",
    "rotate": "PyG's RotatE takes the L2 norm of the whole complex vector h * r - t (the spec's L2), not the sum of "
              "the coordinates' moduli",
}


def _unit_rows(module: torch.nn.Module, inputs: Any, rows: torch.Tensor) -> torch.Tensor:
    """Forward hook on PyG's DistMult `node_emb`: the gathered entity rows, L2-normalised (module docstring)."""
    return normalize(rows, p=2, dim=-1)


def _construct(cfg: ModelConfig, sparse: bool) -> torch.nn.Module:
    """PyG's model class for `cfg` (hidden_channels = d/2 for the complex models)."""
    from torch_geometric.nn.kge import ComplEx, DistMult, RotatE, TransE

    n_ent, n_rel, dim = cfg.n_entities, cfg.n_relations, cfg.dim
    if cfg.model == "transe":  # margin only enters PyG's own loss(), which identical mode does not call
        return TransE(n_ent, n_rel, dim, p_norm=2.0, sparse=sparse)
    if cfg.model == "distmult":
        model = DistMult(n_ent, n_rel, dim, sparse=sparse)
        model.node_emb.register_forward_hook(_unit_rows)
        return model
    if cfg.model == "complex":
        return ComplEx(n_ent, n_rel, dim // 2, sparse=sparse)
    assert cfg.model == "rotate", cfg.model
    return RotatE(n_ent, n_rel, dim // 2, margin=0.0, sparse=sparse)  # score: 0 - ||h * r - t||_2


class PyGStep(FrameworkStep):
    """torch_geometric.nn.kge's TransE (p_norm=2, squared for L2sq), DistMult (unit entity rows), ComplEx or RotatE
    (L2, margin 0), the run's loss on its scores (summed), the run's optimizer."""

    name = "pyg"
    losses = frozenset(LOSSES)  # margin and softplus by torch's functions PyG uses, nssa by sparse_impl.loss
    models = frozenset(_TABLES)
    library = "torch_geometric"
    row_optimizers = row_sparse_optimizers()
    row_gradients = "torch_geometric.nn.kge's model(sparse=True)"  # the step names its class

    @classmethod
    def unsupported_reason(cls, cfg: ModelConfig, options: Mapping[str, Any] | None = None,
                           optimizer: str | None = None, loss: str | None = None) -> str | None:
        reason = super().unsupported_reason(cfg, options, optimizer, loss)
        if reason is None and cfg.dissimilarity == "L1" and cfg.model in _L1_REASONS:
            reason = f"pyg {cfg.model} cannot compute the L1 dissimilarity: {_L1_REASONS[cfg.model]}"
        split = any(len(a) > 1 for a in _TABLES.get(cfg.model, {}).values())
        return reason or split_rows_refusal(cls.name, cfg.model, split, optimizer)

    def __init__(self, cfg: ModelConfig, train: TrainConfig, params: Mapping[str, torch.Tensor],
                 device: torch.device) -> None:
        super().__init__(cfg, train, params, device)  # no `native` kwarg: no native variant
        reason = self.unsupported_reason(cfg)
        if reason is not None:
            raise ValueError(reason)
        self.check_optimizer(train.optimizer, {})
        if (reason := self.unsupported_reason(cfg, None, train.optimizer)) is not None:
            raise SptxError(reason)
        self.squared = cfg.dissimilarity == "L2sq"
        entity = params["entity"]
        self.model = _construct(cfg, sparse=OPTIMIZERS[train.optimizer].row_sparse).to(dtype=entity.dtype)
        self.row_gradients = f"torch_geometric.nn.kge.{type(self.model).__name__}(sparse=True)"
        with torch.no_grad():
            for name, attributes in _TABLES[cfg.model].items():
                parts = params[name].chunk(len(attributes), dim=1)  # [re | im] -> re, im
                for attribute, part in zip(attributes, parts, strict=True):
                    getattr(self.model, attribute).weight.copy_(part)
        self.model.to(device)
        # constraints as TorchKGE's normalize_parameters: TransE's and DistMult's unit entity rows (PyG's tables are
        # the canonical ones); ComplEx and RotatE have none
        self._constrained = cfg.spec.entity_constraint != "none"
        assert not self._constrained or all(len(a) == 1 for a in _TABLES[cfg.model].values())
        self.optimizer = library_optimizer(self.model.parameters(), train)

    def prepare(self, batch: Batch) -> tuple[torch.Tensor, ...]:
        pos = batch.positives.to(self.device)
        neg = batch.negatives.to(self.device)
        return pos[:, 0], pos[:, 1], pos[:, 2], neg[:, 0], neg[:, 1], neg[:, 2]

    def _score(self, h: torch.Tensor, r: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        score = self.model(h, r, t)  # TransE: -||normalize(h) + r - normalize(t)||_2
        return -(score**2) if self.squared else score

    def scores(self, prepared: Any) -> tuple[torch.Tensor, torch.Tensor]:
        h, r, t, nh, nr, nt = prepared
        return self._score(h, r, t), self._score(nh, nr, nt)

    def forward(self, prepared: Any) -> torch.Tensor:
        positive, negative = self.scores(prepared)
        if self.train.loss == "margin":
            k = negative.shape[0] // positive.shape[0]
            positive = positive.repeat(k) if k > 1 else positive
            return margin_ranking_loss(positive, negative, target=torch.ones_like(positive), margin=self.train.margin,
                                       reduction="sum")
        if self.train.loss == "softplus":
            scores = torch.cat((positive, negative))
            target = torch.cat((torch.ones_like(positive), torch.zeros_like(negative)))
            return binary_cross_entropy_with_logits(scores, target, reduction="sum")
        return batch_loss(self.train.loss, positive, negative, self.train.margin, self.train.adversarial_temperature)

    def optimizer_step(self) -> None:
        """The update, then the entity rows kept to unit norm (TransE, DistMult): those it moved (row gradients),
        else the table."""
        self.optimizer.step()
        if self._constrained:  # before zero_grad: row gradients say which rows moved
            constrain_touched_rows_(self.cfg.spec, {name: getattr(self.model, attributes[0]).weight
                                                    for name, attributes in _TABLES[self.cfg.model].items()})
        self.optimizer.zero_grad(set_to_none=True)

    def _canonical(self, part: Any) -> dict[str, torch.Tensor]:
        """`part(weight)` of PyG's tables under canonical names, real and imaginary parts side by side."""
        out = {}
        for name, attributes in _TABLES[self.cfg.model].items():
            parts = [part(getattr(self.model, attribute).weight) for attribute in attributes]
            out[name] = parts[0] if len(parts) == 1 else torch.cat(parts, dim=1)
        return out

    def canonical_parameters(self) -> dict[str, torch.Tensor]:
        return self._canonical(lambda weight: weight.detach())

    def canonical_gradients(self) -> dict[str, torch.Tensor]:
        return self._canonical(dense_gradient)
