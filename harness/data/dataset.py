"""The in-memory knowledge graph every later stage consumes: id-mapped triples split into train/valid/test."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch

__all__ = ["KGDataset", "DatasetKind"]

DatasetKind = Literal["real", "synthetic"]


@dataclass(frozen=True)
class KGDataset:
    """A loaded dataset.

    Triples are int64 tensors of shape (n, 3) with columns (head, relation, tail); entity ids are
    contiguous in [0, n_entities) and relation ids in [0, n_relations), assigned over all splits.
    `source` says where it came from (a folder, or the synthetic generator and its seed).
    """

    name: str
    kind: DatasetKind
    n_entities: int
    n_relations: int
    train: torch.Tensor
    valid: torch.Tensor
    test: torch.Tensor
    source: str
    entity_labels: tuple[str, ...] | None = None
    relation_labels: tuple[str, ...] | None = None

    @property
    def label(self) -> str:
        """The name as shown in records and reports: synthetic stand-ins are always marked."""
        return self.name if self.kind == "real" else f"synthetic:{self.name}"
