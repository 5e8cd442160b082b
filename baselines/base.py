"""The uniform adapter every framework implements (as TorchBench does per model), so each phase of a
training step can be timed on its own and every framework can be fed identical work."""

from __future__ import annotations

import importlib.util
from abc import ABC, abstractmethod
from typing import Any, ClassVar, Mapping

import torch

from harness.sampling import Batch
from harness.spec import ModelConfig, TrainConfig

__all__ = ["FrameworkStep"]


class FrameworkStep(ABC):
    """One framework's training step for one model, split into timeable phases.

    Life cycle per step: `prepare(batch)` -> `forward(prepared)` (returns the loss) -> `backward(loss)`
    -> `optimizer_step()` (step, zero the gradients, re-normalise parameters as TorchKGE does).
    Parameters come in and go out under canonical names (harness.spec.parameter_shapes).
    """

    name: ClassVar[str]
    models: ClassVar[frozenset[str]]
    library: ClassVar[str | None] = None  # the importable distribution whose version records carry

    def __init__(self, cfg: ModelConfig, train: TrainConfig, params: Mapping[str, torch.Tensor],
                 device: torch.device) -> None:
        self.cfg = cfg
        self.train = train
        self.device = device

    @classmethod
    def unavailable_reason(cls) -> str | None:
        """None when the framework's library can run here, else a one-line reason."""
        if cls.library is not None and importlib.util.find_spec(cls.library) is None:
            return f"{cls.library} is not installed (pip install -c constraints.txt 'sptx[all]')"
        return None

    @classmethod
    def unsupported_reason(cls, cfg: ModelConfig) -> str | None:
        """None when this framework can train `cfg`, else why not."""
        if cfg.model not in cls.models:
            return f"{cls.name} has no {cfg.model} model (supports: {', '.join(sorted(cls.models))})"
        return None

    @abstractmethod
    def prepare(self, batch: Batch) -> Any:
        """Per-batch work before the forward pass: moving indices to the device, building structures."""

    @abstractmethod
    def scores(self, prepared: Any) -> tuple[torch.Tensor, torch.Tensor]:
        """Scores (higher is better) of positives (B,) and negatives (k*B,)."""

    def forward(self, prepared: Any) -> torch.Tensor:
        """The scalar loss of the batch (margin ranking, summed)."""
        from sparse_impl.loss import margin_ranking_loss

        positive, negative = self.scores(prepared)
        return margin_ranking_loss(positive, negative, self.train.margin)

    def backward(self, loss: torch.Tensor) -> None:
        loss.backward()

    @abstractmethod
    def optimizer_step(self) -> None:
        """Apply the update, zero the gradients and re-normalise the parameters."""

    @abstractmethod
    def canonical_parameters(self) -> dict[str, torch.Tensor]:
        """Current parameters under canonical names and shapes (detached copies or views)."""

    @abstractmethod
    def canonical_gradients(self) -> dict[str, torch.Tensor]:
        """Gradients of the last backward under canonical names and shapes (zeros where none)."""


def adam(parameters: Any, train: TrainConfig) -> torch.optim.Optimizer:
    """The paper's optimizer, shared by every framework in identical mode."""
    return torch.optim.Adam(parameters, lr=train.lr, weight_decay=train.weight_decay)
