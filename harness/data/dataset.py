"""The in-memory knowledge graph every later stage consumes: id-mapped triples split into train/valid/test."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

import torch

__all__ = ["KGDataset", "DatasetKind", "combine_split_sha256"]

DatasetKind = Literal["real", "modified", "synthetic"]
"""`real`: files as published (or any folder no registry knows); `modified`: a registry dataset whose files do
not reproduce the published counts; `synthetic`: a generated stand-in."""


def combine_split_sha256(split_sha256: Mapping[str, str]) -> str:
    """The dataset's content hash: sha256 of "train:<sha256>\\nvalid:<sha256>\\ntest:<sha256>\\n" over the splits'
    uncompressed bytes."""
    text = "".join(f"{split}:{split_sha256[split]}\n" for split in ("train", "valid", "test"))
    return hashlib.sha256(text.encode("ascii")).hexdigest()


@dataclass(frozen=True)
class KGDataset:
    """A loaded dataset.

    Triples are int64 tensors of shape (n, 3) with columns (head, relation, tail); entity ids are
    contiguous in [0, n_entities) and relation ids in [0, n_relations), assigned over all splits.
    `source` says where it came from (a folder, or the synthetic generator and its seed).
    `content_sha256` identifies the data: for files, `combine_split_sha256` of the uncompressed split files; for
    a synthetic stand-in, the hash of the generator's name, version and parameters. `dataset_fingerprint` gives
    the same value without loading. `entity_labels[i]` / `relation_labels[i]` are the labels of id i, for graphs
    read from files (a `harness.data.labels.Labels`: one buffer, not one Python string per label); None otherwise.
    """

    name: str
    kind: DatasetKind
    n_entities: int
    n_relations: int
    train: torch.Tensor
    valid: torch.Tensor
    test: torch.Tensor
    source: str
    content_sha256: str
    entity_labels: Sequence[str] | None = None
    relation_labels: Sequence[str] | None = None

    @property
    def label(self) -> str:
        """The name as shown in records and reports: synthetic stand-ins are always marked (`kind` tells real from
        modified)."""
        return f"synthetic:{self.name}" if self.kind == "synthetic" else self.name
