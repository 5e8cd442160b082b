"""TorchKGE's own model classes (TransEModel, TransRModel, TransHModel, TorusEModel) behind the
uniform adapter: gather with nn.Embedding, scatter-add in its backward, TorchKGE's MarginLoss.

What the step builds is only what it trains: no KnowledgeGraph (negatives come from the harness's
sampler, so TorchKGE's per-triple dictionaries are never made), and the models are constructed on
torch's meta device, then only their embedding tables are allocated and loaded with the given
parameters: TorchKGE's TransH / TransR constructors otherwise allocate `projected_entities`, an
evaluation-only (n_relations, n_entities, dim) buffer (512 GB at 1M entities, 1,000 relations, d=128),
and initialise tables that are overwritten at once.

Row-sparse optimizers: TorchKGE's tables are plain nn.Embedding modules called in its forward, so
setting `.sparse = True` on them makes TorchKGE's own forward hand out sparse row gradients;
torch.optim.SparseAdam then runs `adam-lazy` where the weight decay is 0, sptx's LazyAdam /
RowwiseAdagrad otherwise (baselines.base.library_optimizer). TorchKGE's normalize_parameters still
re-normalises whole tables after every step: that is TorchKGE's own step.
"""

from __future__ import annotations

from typing import Any, Mapping

import torch

from baselines.base import FrameworkStep, dense_gradient, library_optimizer
from harness.optim import OPTIMIZERS, row_sparse_optimizers
from harness.sampling import Batch
from harness.spec import ModelConfig, TrainConfig, parameter_shapes

__all__ = ["TorchKGEStep", "build_torchkge_model"]

# Our dissimilarity names -> TorchKGE's ("L2" in TorchKGE is the squared norm).
_TORCHKGE_DISSIMILARITY = {"L1": "L1", "L2sq": "L2", "torus_L1": "torus_L1", "torus_L2": "torus_L2",
                           "torus_eL2": "torus_eL2"}


def _true_l2(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return (a - b).norm(p=2, dim=-1)


# Canonical name -> TorchKGE's nn.Embedding attribute, per model.
_TABLES: dict[str, dict[str, str]] = {
    "transe": {"entity": "ent_emb", "relation": "rel_emb"},
    "transr": {"entity": "ent_emb", "relation": "rel_emb", "projection": "proj_mat"},
    "transh": {"entity": "ent_emb", "relation": "rel_emb", "normal": "norm_vect"},
    "toruse": {"entity": "ent_emb", "relation": "rel_emb"},
}


def _embedding_tables(model: Any, cfg: ModelConfig) -> dict[str, torch.nn.Parameter]:
    """TorchKGE's parameter tensors under canonical names."""
    return {name: getattr(model, attribute).weight for name, attribute in _TABLES[cfg.model].items()}


def _construct(cfg: ModelConfig) -> Any:
    """TorchKGE's model class of the same kind and dissimilarity, freshly initialised."""
    from torchkge.models import TorusEModel, TransEModel, TransHModel, TransRModel

    n_ent, n_rel, dim = cfg.n_entities, cfg.n_relations, cfg.dim
    constructors = {
        "transe": lambda: TransEModel(dim, n_ent, n_rel, dissimilarity_type="L1" if cfg.dissimilarity == "L1" else "L2"),
        "transr": lambda: TransRModel(dim, cfg.rel_dim, n_ent, n_rel),
        "transh": lambda: TransHModel(dim, n_ent, n_rel),
        "toruse": lambda: TorusEModel(dim, n_ent, n_rel, dissimilarity_type=_TORCHKGE_DISSIMILARITY[cfg.dissimilarity]),
    }
    model = constructors[cfg.model]()
    if cfg.dissimilarity == "L2":  # TorchKGE's "L2" is squared: the true norm is swapped in
        model.dissimilarity = _true_l2
    return model


def build_torchkge_model(cfg: ModelConfig, params: Mapping[str, torch.Tensor], evaluation: bool = True,
                         sparse: bool = False) -> Any:
    """A TorchKGE model of the same kind and dissimilarity, loaded with the given canonical parameters (on their
    device, at their dtype). Built on the meta device, so only the tables it keeps are allocated and none is
    initialised twice; `evaluation=False` leaves out TorchKGE's evaluation buffer (`projected_entities`, which
    its link-prediction evaluator of TransH / TransR fills), `sparse=True` makes its tables hand out sparse row
    gradients (nn.Embedding.sparse)."""
    with torch.device("meta"):
        model = _construct(cfg)
    if not evaluation and hasattr(model, "projected_entities"):  # an empty stand-in: the step never evaluates
        shape = model.projected_entities.shape
        model.projected_entities = torch.nn.Parameter(torch.empty(shape[0], 0, shape[2], device="meta"),
                                                      requires_grad=False)
    entity = params["entity"]
    model.to_empty(device=entity.device).to(dtype=entity.dtype)
    for attribute in _TABLES[cfg.model].values():
        getattr(model, attribute).sparse = sparse
    with torch.no_grad():
        for name, table in _embedding_tables(model, cfg).items():
            table.copy_(params[name].reshape(table.shape))
    return model


class TorchKGEStep(FrameworkStep):
    """TorchKGE's model forward (gathers + per-row normalisation) and MarginLoss, Adam as everywhere."""

    name = "torchkge"
    losses = frozenset({"margin"})  # its library's margin ranking loss
    models = frozenset({"transe", "transr", "transh", "toruse"})
    library = "torchkge"
    row_optimizers = row_sparse_optimizers()
    row_gradients = "TorchKGE's nn.Embedding tables with sparse=True"

    def __init__(self, cfg: ModelConfig, train: TrainConfig, params: Mapping[str, torch.Tensor],
                 device: torch.device) -> None:
        super().__init__(cfg, train, params, device)
        from torchkge.utils import MarginLoss

        self.check_optimizer(train.optimizer, {})
        on_device = {k: v.to(device) for k, v in params.items()}  # at their own precision (float64 for verify)
        self.model = build_torchkge_model(cfg, on_device, evaluation=False,
                                          sparse=OPTIMIZERS[train.optimizer].row_sparse)
        self.criterion = MarginLoss(train.margin)
        self.optimizer = library_optimizer([p for p in self.model.parameters() if p.requires_grad], train)

    def prepare(self, batch: Batch) -> tuple[torch.Tensor, ...]:
        pos = batch.positives.to(self.device)
        neg = batch.negatives.to(self.device)
        return pos[:, 0], pos[:, 2], pos[:, 1], neg[:, 0], neg[:, 2]

    def scores(self, prepared: Any) -> tuple[torch.Tensor, torch.Tensor]:
        positive, negative = self.model(*prepared)
        return positive[: prepared[0].shape[0]], negative  # TorchKGE repeats positives k times

    def forward(self, prepared: Any) -> torch.Tensor:
        return self.criterion(*self.model(*prepared))

    def optimizer_step(self) -> None:
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        self.model.normalize_parameters()

    def canonical_parameters(self) -> dict[str, torch.Tensor]:
        shapes = self._canonical_shapes()
        return {k: v.detach().reshape(shapes[k]) for k, v in _embedding_tables(self.model, self.cfg).items()}

    def canonical_gradients(self) -> dict[str, torch.Tensor]:
        shapes = self._canonical_shapes()
        return {k: dense_gradient(v).reshape(shapes[k]) for k, v in _embedding_tables(self.model, self.cfg).items()}

    def _canonical_shapes(self) -> dict[str, tuple[int, ...]]:
        return parameter_shapes(self.cfg)
