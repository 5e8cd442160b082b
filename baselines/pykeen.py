"""PyKEEN's own model machinery behind the uniform adapter.

What runs: `pykeen.models.ERModel` (the class pykeen.models.TransE / TransR / TransH / TorusE / DistMult /
ComplEx / RotatE are thin wrappers of) with PyKEEN's `Embedding` representations (gather from nn.Embedding,
optional in-forward `normalizer`, post-step `constrainer`) and PyKEEN's interaction modules, scored with
`model.score_hrt` on the positives and on the negatives separately (as PyKEEN's sLCWA loop does), and
PyKEEN's own loss for the run's loss (`--loss`) on (B, 1) positive and (B, k) negative scores (`process_slcwa_scores`,
as its sLCWA loop calls it), each with reduction="sum":
- margin: `MarginRankingLoss(margin)`: sum max(0, margin - pos + neg) over (positive, its negative) pairs, as
  sparse_impl.loss's `margin`.
- softplus: `SoftplusLoss()`: sum softplus(-pos) + sum softplus(neg), as sparse_impl.loss's `softplus`.
- nssa: `NSSALoss(margin, adversarial_temperature)`: PyKEEN's terms are sparse_impl.loss's (-logsigmoid(margin + pos)
  = softplus(-(margin + pos)), -logsigmoid(-neg - margin) = softplus(margin + neg), weights softmax(alpha * neg)
  detached), but PyKEEN applies the RotatE code's 1/2 only with mean reduction (`AdversarialLoss.factor` is 0.5 for
  "mean", 1.0 for "sum"), so with sum it is twice sparse_impl's. The step sets the loss's `factor` to 0.5: PyKEEN's
  own loss code computes the value, halved as PyKEEN halves its mean (glue: one attribute).
The model classes are built through ERModel rather than pykeen.models.TransE etc. only because those
wrappers do not forward representation `normalizer` kwargs; the interactions and representations are
the same objects they create.

Per model (canonical -> PyKEEN, and how the score function is matched):
- TransE: `entity` -> entity Embedding (normalizer = F.normalize, constrainer = F.normalize),
  `relation` -> relation Embedding. TransEInteraction with p=1 ("L1"), p=2 ("L2"),
  p=2 + power_norm=True ("L2sq" = ||.||_2^2). Exact.
- TransR: `entity` as TransE; relation representations [relation (constrainer F.normalize, as
  TorchKGE's normalize_parameters), projection]. PyKEEN stores M_r as (dim, rel_dim), applied e @ M,
  so projection -> canonical.transpose(1, 2) flattened (dim * rel_dim per row).
  TransRInteraction(p=2, power_norm=True, max_projection_norm=1e30): PyKEEN clamps the projected h
  and t to norm <= max_projection_norm (TorchKGE does not clamp); with 1e30 the clamp is the identity
  (value and gradient: its mask is 1 everywhere). Otherwise exact: PyKEEN computes M h + r - M t.
- TransH: relation representations [normal w_r (normalizer and constrainer F.normalize), translation
  d_r]; TransHInteraction takes (w_r, d_r) in that order. p=2, power_norm=True. PyKEEN's own TransH
  normalises w_r only after each step (constrainer); the normalizer adds TorchKGE's in-score
  normalisation. After each step d_r is projected onto w_r's hyperplane (TorchKGE's
  normalize_parameters; a per-representation constrainer cannot express it): glue.
- TorusE: `entity`, `relation` -> Embeddings with constrainer frac (TorchKGE's normalize_parameters,
  so stored values are always frac'd and frac in the score is the identity in value).
  PyKEEN's TorusEInteraction is NOT the same function: it wraps d = h + r - t to [0, 1), takes
  min(d, 1 - d) and an L_p norm (a true torus distance), while TorchKGE's torus_L2 is
  4 * sum(min(x^2, 1 - x^2)) and torus_L1 2 * sum(min(|x|, 1 - |x|)) on the unwrapped x (agreeing
  with PyKEEN's only for |x| <= 1), and torus_eL2 has no PyKEEN counterpart. So for TorusE the
  interaction is a small PyKEEN `Interaction` subclass computing TorchKGE's formula on h + r - t;
  the representations (the gather / scatter work) are PyKEEN's. Documented glue, not PyKEEN's TorusE
  function.
- DistMult: `entity` -> entity Embedding (normalizer = F.normalize, constrainer = F.normalize: PyKEEN's DistMult
  has the constrainer; the normalizer adds TorchKGE's in-score normalisation, as for TransE), `relation` ->
  relation Embedding. DistMultInteraction. Exact.
- ComplEx: PyKEEN's complex Embeddings (dtype complex, as pykeen.models.ComplEx builds them), shape d/2: PyKEEN
  stores a complex row as a real nn.Embedding row of d values interleaved (re_0, im_0, re_1, im_1, ...; its
  forward is torch.view_as_complex of (d/2, 2)), so canonical [re | im] rows are interleaved going in and
  their gradients de-interleaved coming out. ComplExInteraction (Re(sum h * r * conj t)). No constraint. Exact.
- RotatE: entities as ComplEx's. PyKEEN's RotatE holds a complex relation r (init_phases, then re-normalised to
  |r_i| = 1 by its complex_normalize constrainer after every step); the spec's parameter is the phase theta.
  So the relation representation is PyKEEN's `TransformedRepresentation` over a real phase Embedding
  (d/2 phases per row) with a one-line transformation theta -> cos theta + i sin theta (glue, `_Rotation`):
  PyKEEN's forward gathers the phases and maps them to unit complex numbers, the trained parameter is the
  phase, and no constrainer is needed (|r_i| = 1 by construction; PyKEEN infers unique=True for a transformed
  representation, so the batch's distinct relations are rotated once and then indexed). L2: PyKEEN's `RotatEInteraction` (the
  norm of the whole complex vector |h * r - t|, computed as |h - t * conj r|, the same function for |r| = 1).
  L1: RotatEInteraction's forward computes the L2 norm whatever `p` it was given, so L1 (the sum of the
  coordinates' moduli, the paper's) is a small subclass whose forward takes p=1 of the same complex vector
  (`_RotatEInteractionL1`, glue).

Row-sparse optimizers: PyKEEN's `Embedding` takes no `sparse` keyword, but it holds a plain
nn.Embedding (`_embeddings`; for RotatE's phases, the transformed representation's base Embedding's) that its
forward calls with the batch's indices, so `.sparse = True` on it makes PyKEEN's own forward hand out sparse row
gradients; torch.optim.SparseAdam then runs `adam-lazy`
where the weight decay is 0, sptx's LazyAdam / RowwiseAdagrad otherwise (baselines.base.library_optimizer).
PyKEEN's constrainers (post_parameter_update) still rewrite whole tables after every step: PyKEEN's step.
"""

from __future__ import annotations

from typing import Any, Mapping

import torch

from baselines.base import FrameworkStep, dense_gradient, library_optimizer
from harness.models.complex_ import complex_halves
from harness.models.transh import TransH
from harness.optim import OPTIMIZERS, row_sparse_optimizers
from harness.sampling import Batch
from harness.spec import ModelConfig, TrainConfig, parameter_shapes
from sparse_impl.loss import LOSSES

__all__ = ["PyKEENStep", "build_pykeen_model"]

_NO_CLAMP = 1e30  # TransRInteraction's max_projection_norm: never reached, so clamp_norm is the identity


def _torchkge_torus_interaction(name: str) -> Any:
    """A PyKEEN Interaction scoring -torus_dissimilarity(h + r - t) with TorchKGE's formulas."""
    from pykeen.nn.modules import Interaction

    from sparse_impl.dissimilarity import dissimilarity

    func = dissimilarity(name)

    class TorchKGETorusInteraction(Interaction):
        entity_shape = ("d",)
        relation_shape = ("d",)

        def forward(self, h: torch.Tensor, r: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
            return -func(h + r - t)

    return TorchKGETorusInteraction()


class _Rotation(torch.nn.Module):
    """RotatE's relation as PyKEEN's interaction takes it: phases theta -> the unit complex numbers exp(i theta)
    (the transformation of a TransformedRepresentation over the phase Embedding; glue)."""

    def forward(self, theta: torch.Tensor) -> torch.Tensor:
        return torch.complex(torch.cos(theta), torch.sin(theta))


def _rotate_l1_interaction() -> Any:
    """PyKEEN's RotatEInteraction with the sum of the coordinates' moduli, -sum_i |h_i r_i - t_i| (its own forward
    takes the L2 norm of the complex vector whatever p it is given)."""
    from pykeen.nn.modules import RotatEInteraction
    from pykeen.utils import ensure_complex, negative_norm

    class _RotatEInteractionL1(RotatEInteraction):
        def forward(self, h: torch.Tensor, r: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
            h, r, t = ensure_complex(h, r, t)
            return negative_norm(h * r - t, p=1, power_norm=False)

    return _RotatEInteractionL1()


def _parts(cfg: ModelConfig) -> tuple[Any, Any, Any, Any]:
    """(interaction, interaction kwargs, entity representation kwargs, relation representation kwargs) per model."""
    from pykeen.nn.modules import (ComplExInteraction, DistMultInteraction, RotatEInteraction, TransEInteraction,
                                   TransHInteraction, TransRInteraction)
    from pykeen.nn.representation import Embedding, TransformedRepresentation
    from torch.nn.functional import normalize

    unit = dict(normalizer=normalize, constrainer=normalize)
    dim, rel_dim = cfg.dim, cfg.rel_dim

    def transe() -> tuple[Any, Any, Any, Any]:
        p, power = {"L1": (1, False), "L2": (2, False), "L2sq": (2, True)}[cfg.dissimilarity]
        return TransEInteraction, dict(p=p, power_norm=power), dict(shape=dim, **unit), dict(shape=dim)

    def transr() -> tuple[Any, Any, Any, Any]:
        return (TransRInteraction, dict(p=2, power_norm=True, max_projection_norm=_NO_CLAMP), dict(shape=dim, **unit),
                [dict(shape=(rel_dim,), constrainer=normalize), dict(shape=(dim, rel_dim))])

    def transh() -> tuple[Any, Any, Any, Any]:  # relation representations (w_r, d_r)
        return (TransHInteraction, dict(p=2, power_norm=True), dict(shape=dim, **unit),
                [dict(shape=dim, **unit), dict(shape=dim)])

    def toruse() -> tuple[Any, Any, Any, Any]:
        return (_torchkge_torus_interaction(cfg.dissimilarity), None, dict(shape=dim, constrainer=torch.frac),
                dict(shape=dim, constrainer=torch.frac))

    def distmult() -> tuple[Any, Any, Any, Any]:
        return DistMultInteraction, None, dict(shape=dim, **unit), dict(shape=dim)

    complex_rows = dict(shape=dim // 2, dtype=torch.cfloat)  # d real = d/2 complex, stored interleaved

    def complex_() -> tuple[Any, Any, Any, Any]:
        return ComplExInteraction, None, dict(complex_rows), dict(complex_rows)

    def rotate() -> tuple[Any, Any, Any, Any]:
        interaction = RotatEInteraction if cfg.dissimilarity == "L2" else _rotate_l1_interaction()
        phases = dict(representations=TransformedRepresentation,
                      kwargs=dict(transformation=_Rotation(), base=Embedding,
                                  base_kwargs=dict(max_id=cfg.n_relations, shape=dim // 2)))
        return interaction, None, dict(complex_rows), phases

    return {"transe": transe, "transr": transr, "transh": transh, "toruse": toruse, "distmult": distmult,
            "complex": complex_, "rotate": rotate}[cfg.model]()


# Canonical names of PyKEEN's relation representations, in order (the entity representation is `entity`).
_RELATION_TABLES: dict[str, tuple[str, ...]] = {
    "transe": ("relation",), "transr": ("relation", "projection"), "transh": ("normal", "relation"),
    "toruse": ("relation",), "distmult": ("relation",), "complex": ("relation",), "rotate": ("relation",),
}

# Canonical tables PyKEEN stores as complex Embeddings: [re | im] rows <-> interleaved (re_0, im_0, re_1, ...).
_COMPLEX_TABLES: dict[str, frozenset[str]] = {"complex": frozenset({"entity", "relation"}),
                                              "rotate": frozenset({"entity"})}


def _loss(name: str, margin: float, temperature: float) -> Any:
    """PyKEEN's loss for sparse_impl.loss's `name`, with sum reduction (module docstring: nssa's factor)."""
    from pykeen.losses import MarginRankingLoss, NSSALoss, SoftplusLoss

    if name == "margin":
        return MarginRankingLoss(margin=margin, reduction="sum")
    if name == "softplus":
        return SoftplusLoss(reduction="sum")
    assert name == "nssa", name
    loss = NSSALoss(margin=margin, adversarial_temperature=temperature, reduction="sum")
    loss.factor = 0.5  # PyKEEN's 1/2 (RotatE's code's), which it applies with mean reduction only
    return loss


def build_pykeen_model(cfg: ModelConfig, params: Mapping[str, torch.Tensor], margin: float, loss: str = "margin",
                       adversarial_temperature: float = 1.0) -> Any:
    """A PyKEEN ERModel computing the shared score function and PyKEEN's `loss` (sparse_impl.loss's name), loaded
    with canonical parameters at their dtype (float64 parameters give a float64 / complex128 model)."""
    from pykeen.models import ERModel
    from pykeen.triples import KGInfo
    from pykeen.utils import NoRandomSeedNecessary

    info = KGInfo(num_entities=cfg.n_entities, num_relations=cfg.n_relations, create_inverse_triples=False)
    interaction, interaction_kwargs, entity_kwargs, relation_kwargs = _parts(cfg)
    relations: dict[str, Any] = {"relation_representations_kwargs": relation_kwargs}
    if isinstance(relation_kwargs, dict) and "representations" in relation_kwargs:  # a representation class of its own
        relations = {"relation_representations": relation_kwargs["representations"],
                     "relation_representations_kwargs": relation_kwargs["kwargs"]}
    model = ERModel(triples_factory=info, interaction=interaction, interaction_kwargs=interaction_kwargs,
                    entity_representations_kwargs=entity_kwargs, **relations,
                    loss=_loss(loss, margin, adversarial_temperature),
                    random_seed=NoRandomSeedNecessary)  # weights are overwritten; keep global RNG
    model.to(dtype=params["entity"].dtype)
    with torch.no_grad():
        for name, table in _tables(model, cfg).items():
            table.copy_(_to_pykeen(cfg, name, params[name]))
    return model


def _embedding(representation: Any) -> torch.nn.Embedding:
    """The nn.Embedding a representation's forward gathers from (a transformed representation's: its base's)."""
    while not hasattr(representation, "_embeddings"):
        representation = representation.base
    return representation._embeddings


def _tables(model: Any, cfg: ModelConfig) -> dict[str, torch.nn.Parameter]:
    """PyKEEN's weight tensors under canonical names."""
    relations = [_embedding(rep).weight for rep in model.relation_representations]
    return {"entity": _embedding(model.entity_representations[0]).weight,
            **dict(zip(_RELATION_TABLES[cfg.model], relations, strict=True))}


def _to_pykeen(cfg: ModelConfig, name: str, value: torch.Tensor) -> torch.Tensor:
    if name == "projection":  # canonical (n_rel, rel_dim, dim) M_r @ e -> PyKEEN (n_rel, dim, rel_dim) e @ M
        value = value.transpose(1, 2)
    if name in _COMPLEX_TABLES.get(cfg.model, ()):  # [re | im] -> (re_0, im_0, re_1, im_1, ...)
        value = torch.stack(complex_halves(value), dim=-1)
    return value.reshape(value.shape[0], -1)


def _to_canonical(cfg: ModelConfig, name: str, value: torch.Tensor) -> torch.Tensor:
    shape = parameter_shapes(cfg)[name]
    if name == "projection":
        return value.reshape(shape[0], shape[2], shape[1]).transpose(1, 2)
    if name in _COMPLEX_TABLES.get(cfg.model, ()):  # (re_0, im_0, ...) -> [re | im]
        pairs = value.reshape(shape[0], -1, 2)
        return torch.cat((pairs[..., 0], pairs[..., 1]), dim=1)
    return value.reshape(shape)


class PyKEENStep(FrameworkStep):
    """PyKEEN ERModel + interaction (score_hrt), PyKEEN's loss (sum), the run's optimizer, constrainers."""

    name = "pykeen"
    losses = frozenset(LOSSES)  # PyKEEN's own MarginRankingLoss, SoftplusLoss and NSSALoss (module docstring)
    models = frozenset({"transe", "transr", "transh", "toruse", "distmult", "complex", "rotate"})
    library = "pykeen"
    row_optimizers = row_sparse_optimizers()
    row_gradients = "PyKEEN Embedding's nn.Embedding with sparse=True"

    def __init__(self, cfg: ModelConfig, train: TrainConfig, params: Mapping[str, torch.Tensor],
                 device: torch.device) -> None:
        super().__init__(cfg, train, params, device)  # no `native` kwarg: no native variant
        self.check_optimizer(train.optimizer, {})
        self.model = build_pykeen_model(cfg, params, train.margin, train.loss,
                                        train.adversarial_temperature).to(device)
        if OPTIMIZERS[train.optimizer].row_sparse:
            for representation in (*self.model.entity_representations, *self.model.relation_representations):
                _embedding(representation).sparse = True
        self._tables = _tables(self.model, cfg)
        self.optimizer = library_optimizer(self.model.parameters(), train)

    def prepare(self, batch: Batch) -> tuple[torch.Tensor, torch.Tensor]:
        return batch.positives.to(self.device), batch.negatives.to(self.device)

    def scores(self, prepared: Any) -> tuple[torch.Tensor, torch.Tensor]:
        positives, negatives = prepared
        return self.model.score_hrt(positives).view(-1), self.model.score_hrt(negatives).view(-1)

    def forward(self, prepared: Any) -> torch.Tensor:
        positive, negative = self.scores(prepared)
        b = positive.shape[0]
        negative = negative.view(-1, b).t().contiguous()  # row j*B + i corrupts positive i -> (B, k), as PyKEEN lays it
        return self.model.loss.process_slcwa_scores(positive.view(b, 1), negative)

    def optimizer_step(self) -> None:
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        self.model.post_parameter_update()  # PyKEEN's constrainers (they replace .data)
        self._tables = _tables(self.model, self.cfg)
        if isinstance(self.cfg.spec, TransH):  # the part of TorchKGE's constraint PyKEEN's constrainers lack
            with torch.no_grad():
                d = self._tables["relation"]
                d.copy_(TransH.onto_hyperplane(d, self._tables["normal"]))

    def canonical_parameters(self) -> dict[str, torch.Tensor]:
        return {k: _to_canonical(self.cfg, k, v.detach()) for k, v in _tables(self.model, self.cfg).items()}

    def canonical_gradients(self) -> dict[str, torch.Tensor]:
        return {k: _to_canonical(self.cfg, k, dense_gradient(v)) for k, v in _tables(self.model, self.cfg).items()}
