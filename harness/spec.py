"""What is trained, and how: the model and training settings shared by every framework, and the
canonical initial parameters that make "identical work" possible across frameworks."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import torch

from harness.errors import SptxError

__all__ = [
    "MODEL_NAMES",
    "DEFAULT_DISSIMILARITY",
    "DISSIMILARITIES",
    "ModelConfig",
    "TrainConfig",
    "init_parameters",
    "normalize_canonical",
    "parameter_shapes",
]

MODEL_NAMES: tuple[str, ...] = ("transe", "transr", "transh", "toruse")

# Dissimilarity names: "L2sq" is squared L2 (what TorchKGE calls "L2"); "L2" is the true norm.
DISSIMILARITIES: dict[str, tuple[str, ...]] = {
    "transe": ("L1", "L2", "L2sq"),
    "transr": ("L2sq",),
    "transh": ("L2sq",),
    "toruse": ("torus_L1", "torus_L2", "torus_eL2"),
}
DEFAULT_DISSIMILARITY: dict[str, str] = {
    "transe": "L2sq",
    "transr": "L2sq",
    "transh": "L2sq",
    "toruse": "torus_L2",
}


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
        if self.model not in MODEL_NAMES:
            raise SptxError(f"unknown model {self.model!r}; choose one of {', '.join(MODEL_NAMES)}")
        if self.dissimilarity is None:
            object.__setattr__(self, "dissimilarity", DEFAULT_DISSIMILARITY[self.model])
        if self.dissimilarity not in DISSIMILARITIES[self.model]:
            raise SptxError(
                f"dissimilarity {self.dissimilarity!r} is not defined for {self.model}; "
                f"choose one of {', '.join(DISSIMILARITIES[self.model])}"
            )
        if self.model == "transr" and self.rel_dim is None:
            object.__setattr__(self, "rel_dim", self.dim)
        if self.dim < 1 or self.n_entities < 1 or self.n_relations < 1:
            raise SptxError("dim, n_entities and n_relations must be positive")

    def with_dim(self, dim: int) -> "ModelConfig":
        """The same model at another embedding dimension."""
        return replace(self, dim=dim, rel_dim=dim if self.model == "transr" else None)


@dataclass(frozen=True)
class TrainConfig:
    """Loss, negatives and optimizer settings; the defaults are the paper's (see paper_reference.md)."""

    margin: float = 0.5
    lr: float = 4e-4
    weight_decay: float = 1e-5
    num_negatives: int = 1
    sampler: str = "bernoulli"
    seed: int = 0
    optimizer: str = "adam-fused"  # "adam-fused": torch's fused Adam kernel where the device has one; "adam"
    extra: dict[str, str] = field(default_factory=dict)


def parameter_shapes(cfg: ModelConfig) -> dict[str, tuple[int, ...]]:
    """Canonical parameter names and shapes of a model, the common language of all adapters.

    TransR's `projection[r]` is the (rel_dim, dim) matrix M_r applied as M_r @ e, as in TorchKGE.
    TransH's `normal[r]` is the hyperplane normal w_r.
    """
    shapes: dict[str, tuple[int, ...]] = {"entity": (cfg.n_entities, cfg.dim)}
    if cfg.model == "transr":
        assert cfg.rel_dim is not None
        shapes["relation"] = (cfg.n_relations, cfg.rel_dim)
        shapes["projection"] = (cfg.n_relations, cfg.rel_dim, cfg.dim)
    else:
        shapes["relation"] = (cfg.n_relations, cfg.dim)
    if cfg.model == "transh":
        shapes["normal"] = (cfg.n_relations, cfg.dim)
    return shapes


def _xavier_uniform(shape: tuple[int, ...], generator: torch.Generator) -> torch.Tensor:
    """Xavier-uniform over the 2-D view (rows, row length), as torch.nn.init does for an Embedding table."""
    rows = shape[0]
    cols = 1
    for s in shape[1:]:
        cols *= s
    bound = (6.0 / (rows + cols)) ** 0.5
    return (torch.rand((rows, cols), generator=generator) * 2 - 1).mul_(bound).reshape(shape)


def init_parameters(cfg: ModelConfig, seed: int = 0) -> dict[str, torch.Tensor]:
    """Seeded initial parameters in canonical form, normalised as TorchKGE's constructors leave them.

    Every framework loads these, so the first step of every framework starts from the same point.
    """
    gen = torch.Generator().manual_seed(seed)
    params = {name: _xavier_uniform(shape, gen) for name, shape in parameter_shapes(cfg).items()}
    if cfg.model == "transe":  # TorchKGE's TransE constructor also makes relations unit-norm, once
        params["relation"] = torch.nn.functional.normalize(params["relation"], p=2, dim=1)
    return normalize_canonical(cfg.model, params)


def normalize_canonical(model: str, params: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """TorchKGE's `normalize_parameters` on canonical tensors (returns new tensors)."""
    out = dict(params)
    unit = torch.nn.functional.normalize
    if model == "toruse":
        out["entity"] = params["entity"].frac()
        out["relation"] = params["relation"].frac()
        return out
    out["entity"] = unit(params["entity"], p=2, dim=1)
    if model == "transr":
        out["relation"] = unit(params["relation"], p=2, dim=1)
    elif model == "transh":
        w = unit(params["normal"], p=2, dim=1)
        r = params["relation"]
        out["normal"] = w
        out["relation"] = r - (r * w).sum(dim=1, keepdim=True) * w
    return out
