"""Our own gather/scatter reference in plain PyTorch: the strongest honest index_select / index_add
implementation of the four models, the baseline the SpMM formulation has to beat on equal terms.

Forward gathers rows with `Tensor.index_select` (one call per table over [positives; negatives]);
autograd's backward of index_select is `zeros.index_add_(0, index, grad)`, i.e. the scatter-add.
No nn.Embedding (whose dense backward sorts the indices), no per-row Python work.

The score functions are exactly those of sparse_impl / TorchKGE (see harness.spec and
sparse_impl.models): entity rows are L2-normalised inside the score (per gathered row, which equals
gathering rows of the normalised table), TransH normalises w_r inside the score, TorusE takes frac()
of h, r, t in value with identity gradient. TransR and TransH use the linearity of their projections
(M_r h - M_r t = M_r (h - t)), as the SpMM models do; only the summation order differs.
"""

from __future__ import annotations

from typing import Any, Mapping

import torch
from torch import nn

from baselines.base import AdapterOption, FrameworkStep, adam
from harness.models import get_model
from harness.sampling import Batch
from harness.spec import ModelConfig, TrainConfig, normalize_canonical
from sparse_impl.dissimilarity import dissimilarity

__all__ = ["GatherStep", "translated_differences"]


def translated_differences(model: str, tables: Mapping[str, torch.Tensor], heads: torch.Tensor,
                           relations: torch.Tensor, tails: torch.Tensor,
                           projection_layout: str = "canonical", normalize_rows: bool = False) -> torch.Tensor:
    """The translated difference per triple (what the dissimilarity is applied to), by gathers.

    tables: canonical names ("entity", "relation", and "projection" / "normal"), rows indexed by the
    given ids; the score function is the model's spec (harness.models). `projection_layout` "canonical"
    means projection rows are (rel_dim, dim) matrices applied as M_r @ e; "transposed" means (dim, rel_dim)
    applied as e @ M (DGL-KE's and PyKEEN's layout). `normalize_rows` applies the entity view (unit rows)
    to every gathered row (TorchKGE's way) instead of to the table once; the values are the same.
    Returns shape (n, d) (n, rel_dim for TransR).
    """
    spec = get_model(model)
    if projection_layout == "transposed" and "projection" in tables:
        tables = {**tables, "projection": tables["projection"].transpose(1, 2)}
    entity = tables["entity"]
    if normalize_rows:
        x = spec.entity_view(entity.index_select(0, heads)) - spec.entity_view(entity.index_select(0, tails))
    else:  # the view of the table, then gathers: equal to the view of every gathered row
        ent = spec.entity_view(entity)
        x = ent.index_select(0, heads) - ent.index_select(0, tails)  # h - t
    return spec.project(tables, x, relations) + spec.translation(tables, relations)


@torch.no_grad()
def renormalize_(model: str, tables: Mapping[str, torch.Tensor]) -> None:
    """TorchKGE's `normalize_parameters`, in place on canonical-layout tables."""
    fresh = normalize_canonical(model, dict(tables))
    for name, value in fresh.items():
        if value is not tables[name]:
            tables[name].copy_(value)


class GatherStep(FrameworkStep):
    """Plain-PyTorch index_select forward, index_add backward (via autograd), Adam on full tables."""

    name = "gather"
    models = frozenset({"transe", "transr", "transh", "toruse"})
    options = (AdapterOption("normalize", "table",
                             "normalise the entity table once per step (table) or every gathered row, as "
                             "TorchKGE does (rows); same numbers, different work", choices=lambda: ("table", "rows")),)

    def __init__(self, cfg: ModelConfig, train: TrainConfig, params: Mapping[str, torch.Tensor],
                 device: torch.device, normalize: str = "table") -> None:
        super().__init__(cfg, train, params, device)
        self.normalize_rows = normalize == "rows"
        assert cfg.dissimilarity is not None
        self._dissimilarity = dissimilarity(cfg.dissimilarity)
        self.tables = nn.ParameterDict(
            {k: nn.Parameter(v.detach().clone().to(device)) for k, v in params.items()})
        self.optimizer = adam(self.tables.parameters(), train)

    def prepare(self, batch: Batch) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, int]:
        triples = torch.cat((batch.positives, batch.negatives), dim=0).to(self.device)
        return triples[:, 0], triples[:, 1], triples[:, 2], batch.size

    def scores(self, prepared: Any) -> tuple[torch.Tensor, torch.Tensor]:
        h, r, t, n_pos = prepared
        x = translated_differences(self.cfg.model, self.tables, h, r, t, normalize_rows=self.normalize_rows)
        scores = -self._dissimilarity(x)
        return scores[:n_pos], scores[n_pos:]

    def optimizer_step(self) -> None:
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        renormalize_(self.cfg.model, self.tables)

    def canonical_parameters(self) -> dict[str, torch.Tensor]:
        return {k: v.detach() for k, v in self.tables.items()}

    def canonical_gradients(self) -> dict[str, torch.Tensor]:
        return {k: v.grad if v.grad is not None else torch.zeros_like(v) for k, v in self.tables.items()}
