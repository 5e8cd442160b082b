"""The backend interface. A backend turns a batch of triples into a prepared batch once per step, then
computes the score of every row from the model's parameters, differentiably.

Two kinds: an `SpMMBackend` builds the batch's incidence matrix and computes the model's translated
differences as one sparse-dense product A @ X (autograd gives A^T @ grad), the model doing the rest;
a fused backend (backends/fused) computes whole scores in one kernel per pass.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, Callable, ClassVar, Protocol

import torch

from sparse_impl.incidence import IncidencePattern, compact_entities, entity_incidence, translation_incidence
from sparse_impl.loss import batch_loss

__all__ = ["Backend", "BackendUnavailable", "ModelView", "PreparedBatch", "SpMMBackend"]


class BackendUnavailable(RuntimeError):
    """Raised when a backend's library cannot be loaded here; the message says why."""


@dataclass(frozen=True)
class PreparedBatch:
    """A batch ready for the forward pass: the backend-native form of [positives; negatives] (`matrix`),
    their relation ids (for relation-specific projections), and how many rows are positives."""

    matrix: Any
    relations: torch.Tensor
    n_positive: int
    pattern: IncidencePattern | None = None  # the incidence (SpMM backends)
    entity_ids: torch.Tensor | None = None  # the entity rows the matrix's entity columns stand for (None: all)


class ModelView(Protocol):
    """The attributes a backend reads from a model (a SparseKGEModel has them all), so backends never import
    sparse_impl.models."""

    name: str
    n_entities: int
    n_relations: int
    uses_relation_columns: bool
    row_gradients: bool  # True: gradients are sparse tensors of the rows a batch touches (row-sparse optimizers)
    dissimilarity_name: str
    dissimilarity: Callable[[torch.Tensor], torch.Tensor]

    @property
    def entity(self) -> torch.Tensor:
        """The entity table (n_entities, d): its dtype and device decide the batch's."""

    def differences(self, batch: PreparedBatch) -> torch.Tensor:
        """The translated difference per row of a prepared batch: shape (rows, d)."""

    def canonical_parameters(self) -> dict[str, torch.Tensor]:
        """The parameter tables under their canonical names, in the order the model's spec declares them."""


class Backend(ABC):
    """One way of executing a model's batch: prepare it, then score every row."""

    name: ClassVar[str]
    # what of the step runs in kernels torch's dispatcher never sees (so FLOP counters cannot), or None
    outside_aten: ClassVar[str | None] = None
    # True: it can hand the optimizer row gradients (the touched rows only), as row-sparse optimizers need
    row_gradients: ClassVar[bool] = False

    @classmethod
    def unavailable_reason(cls) -> str | None:
        """None when the backend can run here, else a one-line reason."""
        return None

    @classmethod
    @abstractmethod
    def supports(cls, model: str, interaction: str) -> bool:
        """Whether this backend runs the named model, whose score is of the `interaction` family (harness.models)."""

    @abstractmethod
    def prepare(self, model: ModelView, triples: torch.Tensor, n_positive: int) -> PreparedBatch:
        """The prepared form of `triples` ((B + k*B, 3), positives first), done in the preparation phase."""

    @abstractmethod
    def scores(self, model: ModelView, batch: PreparedBatch) -> torch.Tensor:
        """Scores (higher is better) of every row of the batch, differentiable in the model's parameters."""

    @classmethod
    def supports_loss(cls, model: str, loss: str) -> bool:
        """Whether the backend trains the named model with the named loss (every loss, on differentiable scores)."""
        return True

    def loss(self, model: ModelView, batch: PreparedBatch, loss: str, margin: float,
             temperature: float = 1.0) -> torch.Tensor:
        """The batch's summed loss (sparse_impl.loss), differentiable."""
        scores = self.scores(model, batch)
        return batch_loss(loss, scores[: batch.n_positive], scores[batch.n_positive :], margin, temperature)

    def take_pending_rows(self) -> Any:
        """The entity gradient a row-gradient backward left for the optimizer's fused update instead of in
        `.grad` (fused: a workspace.PendingRows, valid until the next loss pass), or None: most backends leave none."""
        return None

    def peek_pending_rows(self) -> Any:
        """As take_pending_rows, without taking it (to read the gradient it holds)."""
        return None


class SpMMBackend(Backend):
    """One way of computing A @ X (and its gradient) for a sparse incidence A and a dense X."""

    @classmethod
    def supports(cls, model: str, interaction: str) -> bool:
        """Every translation model: its P_r(h) + t_r - P_r(t) is linear in the rows the incidence selects."""
        return interaction == "translation"

    def prepare(self, model: ModelView, triples: torch.Tensor, n_positive: int) -> PreparedBatch:
        """Build the batch incidence.

        When the batch touches few of the entities, its entity columns are renumbered into the rows it
        touches (compact_entities), so the per-row entity work of the forward and backward passes runs on
        those rows only instead of the whole table; the numbers are the same.
        """
        dtype = model.entity.dtype
        compact = compact_entities(triples, model.n_entities)
        local, n_columns = (triples, model.n_entities) if compact is None else (compact.triples, compact.ids.numel())
        if model.uses_relation_columns:
            pattern = translation_incidence(local, n_columns, model.n_relations, dtype)
        else:
            pattern = entity_incidence(local, n_columns, dtype)
        return PreparedBatch(self.build(pattern), triples[:, 1], n_positive, pattern,
                             None if compact is None else compact.ids)

    def scores(self, model: ModelView, batch: PreparedBatch) -> torch.Tensor:
        return -model.dissimilarity(model.differences(batch))

    @abstractmethod
    def build(self, pattern: IncidencePattern) -> Any:
        """Backend-native form of the matrix (done in the batch-preparation phase)."""

    @abstractmethod
    def spmm(self, matrix: Any, dense: torch.Tensor) -> torch.Tensor:
        """A @ dense, differentiable with respect to `dense`. dense: shape (n_cols, d) -> (n_rows, d)."""
