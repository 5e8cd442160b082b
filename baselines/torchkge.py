"""TorchKGE's own model classes (TransEModel, TransRModel, TransHModel, TorusEModel, DistMultModel, ComplExModel)
behind the uniform adapter: gather with nn.Embedding, scatter-add in its backward, TorchKGE's losses.

Models beyond translation: DistMultModel is the spec's DistMult as it stands (it normalises the gathered entity
rows in its score and the entity table in normalize_parameters); ComplExModel keeps separate real and imaginary
tables of emb_dim = d/2 (re_ent_emb / im_ent_emb, re_rel_emb / im_rel_emb): canonical [re | im] rows are split
going in and the gradients concatenated coming out; its score is Re(<h, r, conj t>), no constraint. TorchKGE has
no RotatE.

Losses (`--loss`), summed: margin is TorchKGE's MarginLoss (MarginRankingLoss(reduction="sum") on its forward's
positives, repeated k times, and the negatives: sparse_impl.loss's margin). softplus and nssa are sparse_impl.loss's
on TorchKGE's scores (each positive once: the forward's first B scores). TorchKGE has no self-adversarial loss, and
its LogisticLoss (SoftMarginLoss(reduction="sum") on positives and negatives of the same shape) takes the forward's
positives repeated k times, so it counts each positive k times: sparse_impl's softplus only for k = 1.

ComplEx and `adagrad-rowwise` are refused: a row-wise Adagrad keeps one accumulator per table row, and TorchKGE's
split tables would give each complex row two (one per half); every other optimizer is element-wise, so the split
changes nothing.

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
from harness.errors import SptxError
from harness.optim import OPTIMIZERS, row_sparse_optimizers
from harness.sampling import Batch
from harness.spec import ModelConfig, TrainConfig, parameter_shapes
from sparse_impl.loss import LOSSES, batch_loss

__all__ = ["TorchKGEStep", "build_torchkge_model", "split_rows_refusal"]

# Our dissimilarity names -> TorchKGE's ("L2" in TorchKGE is the squared norm).
_TORCHKGE_DISSIMILARITY = {"L1": "L1", "L2sq": "L2", "torus_L1": "torus_L1", "torus_L2": "torus_L2",
                           "torus_eL2": "torus_eL2"}


def _true_l2(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return (a - b).norm(p=2, dim=-1)


# Canonical name -> TorchKGE's nn.Embedding attribute(s), per model: one table, or the (real, imaginary) tables of
# canonical [re | im] rows.
_TABLES: dict[str, dict[str, tuple[str, ...]]] = {
    "transe": {"entity": ("ent_emb",), "relation": ("rel_emb",)},
    "transr": {"entity": ("ent_emb",), "relation": ("rel_emb",), "projection": ("proj_mat",)},
    "transh": {"entity": ("ent_emb",), "relation": ("rel_emb",), "normal": ("norm_vect",)},
    "toruse": {"entity": ("ent_emb",), "relation": ("rel_emb",)},
    "distmult": {"entity": ("ent_emb",), "relation": ("rel_emb",)},
    "complex": {"entity": ("re_ent_emb", "im_ent_emb"), "relation": ("re_rel_emb", "im_rel_emb")},
}


def _embedding_tables(model: Any, cfg: ModelConfig) -> dict[str, tuple[torch.nn.Parameter, ...]]:
    """TorchKGE's parameter tensors under canonical names (the real and imaginary parts of a complex table)."""
    return {name: tuple(getattr(model, a).weight for a in attributes)
            for name, attributes in _TABLES[cfg.model].items()}


def split_rows_refusal(framework: str, model: str, split: bool, optimizer: str | None) -> str | None:
    """Why a library that keeps a complex row's real and imaginary parts in two tables cannot run a row-wise
    Adagrad as everyone else does (one accumulator per canonical row; its tables give one per half row), else None."""
    if not split or optimizer != "adagrad-rowwise":
        return None
    return (f"{framework} cannot run optimizer adagrad-rowwise for {model}: its real and imaginary tables would each "
            "hold an accumulator per half row, not one per row")


def _canonical(parts: tuple[torch.Tensor, ...], shape: tuple[int, ...]) -> torch.Tensor:
    """A canonical table from TorchKGE's tensors of it: reshaped, or its real and imaginary parts side by side."""
    return (parts[0] if len(parts) == 1 else torch.cat(parts, dim=1)).reshape(shape)


def _construct(cfg: ModelConfig) -> Any:
    """TorchKGE's model class of the same kind and dissimilarity, freshly initialised."""
    from torchkge.models import ComplExModel, DistMultModel, TorusEModel, TransEModel, TransHModel, TransRModel

    n_ent, n_rel, dim = cfg.n_entities, cfg.n_relations, cfg.dim
    constructors = {
        "transe": lambda: TransEModel(dim, n_ent, n_rel, dissimilarity_type="L1" if cfg.dissimilarity == "L1" else "L2"),
        "transr": lambda: TransRModel(dim, cfg.rel_dim, n_ent, n_rel),
        "transh": lambda: TransHModel(dim, n_ent, n_rel),
        "toruse": lambda: TorusEModel(dim, n_ent, n_rel, dissimilarity_type=_TORCHKGE_DISSIMILARITY[cfg.dissimilarity]),
        "distmult": lambda: DistMultModel(dim, n_ent, n_rel),
        "complex": lambda: ComplExModel(dim // 2, n_ent, n_rel),  # emb_dim complex = d/2
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
    for attributes in _TABLES[cfg.model].values():
        for attribute in attributes:
            getattr(model, attribute).sparse = sparse
    with torch.no_grad():
        for name, tables in _embedding_tables(model, cfg).items():
            parts = params[name].chunk(len(tables), dim=1) if len(tables) > 1 else (params[name],)  # [re | im]
            for table, part in zip(tables, parts, strict=True):
                table.copy_(part.reshape(table.shape))
    return model


class TorchKGEStep(FrameworkStep):
    """TorchKGE's model forward (gathers + per-row normalisation) and its MarginLoss (sparse_impl.loss's softplus
    and nssa), the run's optimizer as everywhere."""

    name = "torchkge"
    losses = frozenset(LOSSES)  # its MarginLoss; sparse_impl.loss's softplus and nssa (module docstring)
    models = frozenset(_TABLES)
    library = "torchkge"
    row_optimizers = row_sparse_optimizers()
    row_gradients = "TorchKGE's nn.Embedding tables with sparse=True"

    @classmethod
    def unsupported_reason(cls, cfg: ModelConfig, options: Mapping[str, Any] | None = None,
                           optimizer: str | None = None, loss: str | None = None) -> str | None:
        """As FrameworkStep's, and no row-wise Adagrad for ComplEx (split_rows_refusal)."""
        reason = super().unsupported_reason(cfg, options, optimizer, loss)
        split = any(len(a) > 1 for a in _TABLES.get(cfg.model, {}).values())
        return reason or split_rows_refusal(cls.name, cfg.model, split, optimizer)

    def __init__(self, cfg: ModelConfig, train: TrainConfig, params: Mapping[str, torch.Tensor],
                 device: torch.device) -> None:
        super().__init__(cfg, train, params, device)
        from torchkge.utils import MarginLoss

        self.check_optimizer(train.optimizer, {})
        if (reason := self.unsupported_reason(cfg, None, train.optimizer)) is not None:
            raise SptxError(reason)
        on_device = {k: v.to(device) for k, v in params.items()}  # at their own precision (float64 for verify)
        self.model = build_torchkge_model(cfg, on_device, evaluation=False,
                                          sparse=OPTIMIZERS[train.optimizer].row_sparse)
        self.criterion = MarginLoss(train.margin) if train.loss == "margin" else None  # else sparse_impl.loss's
        self.optimizer = library_optimizer([p for p in self.model.parameters() if p.requires_grad], train)

    def prepare(self, batch: Batch) -> tuple[torch.Tensor, ...]:
        pos = batch.positives.to(self.device)
        neg = batch.negatives.to(self.device)
        return pos[:, 0], pos[:, 2], pos[:, 1], neg[:, 0], neg[:, 2]

    def scores(self, prepared: Any) -> tuple[torch.Tensor, torch.Tensor]:
        positive, negative = self.model(*prepared)
        return positive[: prepared[0].shape[0]], negative  # TorchKGE repeats positives k times

    def forward(self, prepared: Any) -> torch.Tensor:
        positive, negative = self.model(*prepared)  # positives repeated k times, as TorchKGE's MarginLoss takes them
        if self.train.loss == "margin":
            return self.criterion(positive, negative)
        positive = positive[: prepared[0].shape[0]]  # each positive once
        return batch_loss(self.train.loss, positive, negative, self.train.margin, self.train.adversarial_temperature)

    def optimizer_step(self) -> None:
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        self.model.normalize_parameters()

    def canonical_parameters(self) -> dict[str, torch.Tensor]:
        shapes = self._canonical_shapes()
        return {k: _canonical(tuple(p.detach() for p in v), shapes[k])
                for k, v in _embedding_tables(self.model, self.cfg).items()}

    def canonical_gradients(self) -> dict[str, torch.Tensor]:
        shapes = self._canonical_shapes()
        return {k: _canonical(tuple(dense_gradient(p) for p in v), shapes[k])
                for k, v in _embedding_tables(self.model, self.cfg).items()}

    def _canonical_shapes(self) -> dict[str, tuple[int, ...]]:
        return parameter_shapes(self.cfg)
