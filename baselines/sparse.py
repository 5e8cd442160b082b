"""Our SpMM models (sparse_impl) behind the uniform adapter."""

from __future__ import annotations

from typing import Any, Mapping

import torch

from baselines.base import AdapterOption, FrameworkStep, dense_gradient, table_optimizer
from harness.models import MODELS
from harness.optim import OPTIMIZERS
from harness.sampling import Batch
from harness.spec import ModelConfig, TrainConfig
from sparse_impl.models import build_model
from sparse_impl.backends import BACKENDS, DEFAULT_BACKEND, Backend
from sparse_impl.models import PreparedBatch

__all__ = ["SparseStep"]


def _backend(options: Mapping[str, Any]) -> type[Backend]:
    """The backend class the step's options name."""
    return BACKENDS[options.get("backend", DEFAULT_BACKEND)]


class SparseStep(FrameworkStep):
    """sparse_impl's model: incidence built in prepare, one SpMM forward, one SpMM backward."""

    name = "sparse"
    options = (AdapterOption("backend", DEFAULT_BACKEND, "SpMM backend", choices=lambda: tuple(BACKENDS),
                             in_label=True),)

    @classmethod
    def supported_models(cls, options: Mapping[str, Any]) -> frozenset[str]:
        """The models the chosen backend runs (every model while the backend is unavailable here: then
        `unavailable_reason_for` says why, not a missing model)."""
        backend = _backend(options)
        if backend.unavailable_reason() is not None:
            return frozenset(MODELS)
        return frozenset(name for name, spec in MODELS.items() if backend.supports(name, spec.interaction))

    @classmethod
    def unsupported_reason(cls, cfg: ModelConfig, options: Mapping[str, Any] | None = None,
                           optimizer: str | None = None, loss: str | None = None) -> str | None:
        """As FrameworkStep's, and the backend must train this model with this loss (Backend.supports_loss)."""
        reason = super().unsupported_reason(cfg, options, optimizer, loss)
        if reason is None and loss is not None:
            resolved = cls.resolve_options(options or {})
            backend = _backend(resolved)
            if backend.unavailable_reason() is None and not backend.supports_loss(cfg.model, loss):
                return f"{cls.label(resolved)} has no {loss} loss for {cfg.model} (its kernels compute the margin loss)"
        return reason

    @classmethod
    def supported_optimizers(cls, options: Mapping[str, Any]) -> frozenset[str]:
        """Every optimizer on a backend that hands out row gradients (fused), the dense ones elsewhere."""
        return frozenset(OPTIMIZERS) if _backend(options).row_gradients else super().supported_optimizers(options)

    @classmethod
    def unavailable_reason_for(cls, options: Mapping[str, Any]) -> str | None:
        """Why this step cannot run here with these options (its backend's reason), else None."""
        return _backend(options).unavailable_reason()

    def __init__(self, cfg: ModelConfig, train: TrainConfig, params: Mapping[str, torch.Tensor],
                 device: torch.device, backend: str = DEFAULT_BACKEND) -> None:
        super().__init__(cfg, train, params, device)
        self.backend = backend
        self.model = build_model(cfg.model, params, cfg.n_entities, cfg.n_relations, cfg.dissimilarity, backend,
                                 row_gradients=OPTIMIZERS[train.optimizer].row_sparse, device=device)
        self.model.to(device)
        ran = self.model.backend.name  # `fused` on CUDA runs `triton` (sparse_impl.backends.backend_for_device)
        self.kernel = None if ran == backend else f"{ran} (backend {backend} on {device.type})"  # noted in records
        self.optimizer = table_optimizer(self.model.canonical_parameters(), cfg.spec, train)

    def work_outside_aten(self) -> str | None:
        return self.model.backend.outside_aten

    def prepare(self, batch: Batch) -> PreparedBatch:
        return self.model.prepare(batch.positives.to(self.device), batch.negatives.to(self.device))

    def scores(self, prepared: Any) -> tuple[torch.Tensor, torch.Tensor]:
        return self.model(prepared)

    def forward(self, prepared: Any) -> torch.Tensor:
        return self.model.loss(prepared, self.train.loss, self.train.margin, self.train.adversarial_temperature)

    def optimizer_step(self) -> None:
        for table, pending in self.model.take_pending_rows():  # the entity rows, straight from the kernel's rows
            self.optimizer.step_pending(table, pending)
        self.optimizer.step()
        self.model.normalize_parameters()  # before zero_grad: row gradients say which rows moved
        self.optimizer.zero_grad(set_to_none=True)

    def canonical_parameters(self) -> dict[str, torch.Tensor]:
        return {k: v.detach() for k, v in self.model.canonical_parameters().items()}

    def canonical_gradients(self) -> dict[str, torch.Tensor]:
        pending = self.model.pending_gradients()
        return {k: pending.get(k, dense_gradient(v)) for k, v in self.model.canonical_parameters().items()}
