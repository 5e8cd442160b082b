"""What is trained, and how: the model and training settings shared by every framework, and the
canonical initial parameters that make "identical work" possible across frameworks."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import torch

from harness.errors import SptxError
from harness.models import ModelSpec, TableSpec, get_model

__all__ = [
    "ModelConfig",
    "TrainConfig",
    "OwnedParameters",
    "init_parameters",
    "parameter_shapes",
    "parameter_tables",
]

@dataclass(frozen=True)
class ModelConfig:
    """One model on one graph: its kind, sizes and score function.

    `rel_dim` is TransR's relation-space dimension (defaults to `dim`); other models ignore it.
    """

    model: str
    n_entities: int
    n_relations: int
    dim: int
    rel_dim: int | None = None
    dissimilarity: str | None = None

    def __post_init__(self) -> None:
        spec = get_model(self.model)  # SptxError for an unknown model
        if self.dissimilarity is None:
            object.__setattr__(self, "dissimilarity", spec.default_dissimilarity)
        if self.dissimilarity is not None and self.dissimilarity not in spec.dissimilarities:
            choices = ", ".join(spec.dissimilarities)
            raise SptxError(f"dissimilarity {self.dissimilarity!r} is not defined for {self.model}; "
                            + (f"choose one of {choices}" if choices else "its score has none"))
        object.__setattr__(self, "rel_dim", self.spec.relation_dim(self.dim, self.rel_dim))
        if self.dim < 1 or self.n_entities < 1 or self.n_relations < 1:
            raise SptxError("dim, n_entities and n_relations must be positive")

    def with_dim(self, dim: int) -> "ModelConfig":
        """The same model at another embedding dimension."""
        return replace(self, dim=dim, rel_dim=None)

    @property
    def spec(self) -> ModelSpec:
        """The model's spec (harness.models): shapes, constraints, score function."""
        return get_model(self.model)


@dataclass(frozen=True)
class TrainConfig:
    """Loss, negatives and optimizer settings; the defaults are the paper's (see paper_reference.md) and are
    written only here: the run settings (harness.settings), `sptx train`'s and `sptx verify`'s options and the
    paper grid read them."""

    margin: float = 0.5
    lr: float = 4e-4
    weight_decay: float = 1e-5
    num_negatives: int = 1
    sampler: str = "bernoulli"
    seed: int = 0
    optimizer: str = "adam-fused"  # one of harness.optim.OPTIMIZERS
    loss: str = "margin"  # one of sparse_impl.loss.LOSSES
    adversarial_temperature: float = 1.0  # alpha of the self-adversarial loss (nssa)
    extra: dict[str, str] = field(default_factory=dict)


def parameter_tables(cfg: ModelConfig) -> dict[str, TableSpec]:
    """Canonical parameter tables of a model (shape, which ids pick rows), as its spec declares them."""
    return cfg.spec.tables(cfg.n_entities, cfg.n_relations, cfg.dim, cfg.rel_dim)


def parameter_shapes(cfg: ModelConfig) -> dict[str, tuple[int, ...]]:
    """Canonical parameter names and shapes of a model, the common language of all adapters (see harness.models)."""
    return {name: table.shape for name, table in parameter_tables(cfg).items()}


class OwnedParameters(dict):
    """Initial parameters nobody else holds or reads again: a step may adopt these tensors instead of copying
    them (at 4M entities x 128 floats the copy alone would add 2 GiB to the process's peak memory)."""


def init_parameters(cfg: ModelConfig, seed: int = 0) -> dict[str, torch.Tensor]:
    """Seeded initial parameters in canonical form, normalised as TorchKGE's constructors leave them.

    Every framework loads these, so the first step of every framework starts from the same point.
    """
    gen = torch.Generator().manual_seed(seed)
    params = cfg.spec.initial(parameter_shapes(cfg), gen)
    with torch.no_grad():
        cfg.spec.constrain_(params)  # in place: a big entity table is never held twice
    return params

