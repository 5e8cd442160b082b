"""Per-batch incidence matrices, built vectorised (no Python loop over triples).

Row i of a translation incidence (shape B x (n_ent + n_rel)) holds +1 at h_i, +1 at n_ent + r_i and
-1 at t_i, so A @ [E; R] is every h + r - t at once. An entity incidence (shape B x n_ent) holds +1
at h_i and -1 at t_i, giving h - t for the projection models (TransR, TransH).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

__all__ = ["COMPACT_FRACTION", "EntityCompaction", "IncidencePattern", "compact_entities", "entity_incidence",
           "translation_incidence"]

# Compact the entity columns of a batch when it touches at most this fraction of the entity table.
COMPACT_FRACTION = 0.5


@dataclass(frozen=True)
class IncidencePattern:
    """A sparse matrix in CSR form plus its transpose in CSR form (for the backward SpMM).

    Rows are sorted and each row has a fixed number of non-zeros (`nnz_per_row`), which is what makes
    the CSR row pointer a plain arange. `cols` may repeat inside a row (h == t); SpMM sums them.
    """

    crow: torch.Tensor  # (n_rows + 1,) int64
    cols: torch.Tensor  # (nnz,) int64
    values: torch.Tensor  # (nnz,) float
    t_crow: torch.Tensor  # (n_cols + 1,) int64: CSR of the transpose
    t_cols: torch.Tensor  # (nnz,) int64: row ids, grouped by column
    t_values: torch.Tensor  # (nnz,)
    shape: tuple[int, int]

    @property
    def rows(self) -> torch.Tensor:
        """COO row index of every non-zero, aligned with `cols` and `values`."""
        counts = self.crow[1:] - self.crow[:-1]
        return torch.repeat_interleave(torch.arange(self.shape[0], device=self.crow.device), counts)

    @property
    def nnz(self) -> int:
        return int(self.cols.numel())

    def to_dense(self) -> torch.Tensor:
        """A dense copy, for tests and for checking against dense arithmetic."""
        dense = torch.zeros(self.shape, dtype=self.values.dtype, device=self.values.device)
        dense.index_put_((self.rows, self.cols), self.values, accumulate=True)
        return dense


def _pattern(cols_per_row: torch.Tensor, signs: torch.Tensor, n_cols: int, dtype: torch.dtype) -> IncidencePattern:
    """Build the CSR pattern and its transpose from a (B, k) block of column ids and k signs."""
    n_rows, k = cols_per_row.shape
    device = cols_per_row.device
    cols = cols_per_row.reshape(-1)
    values = signs.to(dtype=dtype, device=device).repeat(n_rows)
    crow = torch.arange(0, n_rows * k + 1, k, device=device, dtype=torch.int64)
    order = torch.argsort(cols, stable=True)
    t_cols = torch.div(order, k, rounding_mode="floor")
    t_values = values[order]
    t_crow = torch.zeros(n_cols + 1, dtype=torch.int64, device=device)
    t_crow[1:] = torch.cumsum(torch.bincount(cols, minlength=n_cols), dim=0)
    return IncidencePattern(crow, cols, values, t_crow, t_cols, t_values, (n_rows, n_cols))


def translation_incidence(
    triples: torch.Tensor, n_entities: int, n_relations: int, dtype: torch.dtype = torch.float32
) -> IncidencePattern:
    """Incidence for h + r - t over the stacked table [entities; relations].

    triples: shape (B, 3), columns (head, relation, tail).
    """
    h, r, t = triples[:, 0], triples[:, 1], triples[:, 2]
    block = torch.stack((h, r + n_entities, t), dim=1)
    signs = torch.tensor([1.0, 1.0, -1.0])
    return _pattern(block, signs, n_entities + n_relations, dtype)


def entity_incidence(triples: torch.Tensor, n_entities: int, dtype: torch.dtype = torch.float32) -> IncidencePattern:
    """Incidence for h - t over the entity table. triples: shape (B, 3), columns (head, relation, tail)."""
    block = torch.stack((triples[:, 0], triples[:, 2]), dim=1)
    signs = torch.tensor([1.0, -1.0])
    return _pattern(block, signs, n_entities, dtype)


@dataclass(frozen=True)
class EntityCompaction:
    """The entities a batch touches (`ids`, sorted) and its triples with entity ids renumbered into them,
    so per-row work on the entity table (normalisation, frac) runs on those rows only."""

    ids: torch.Tensor  # (U,) int64, sorted global entity ids
    triples: torch.Tensor  # (B, 3) with heads and tails in [0, U)


def compact_entities(triples: torch.Tensor, n_entities: int,
                     fraction: float = COMPACT_FRACTION) -> EntityCompaction | None:
    """The batch's entities renumbered 0..U-1 when U <= fraction * n_entities, else None (whole table).

    O(B + n_entities), no sort: a seen-mask over the table and its running count give the new ids.
    """
    ends = torch.cat((triples[:, 0], triples[:, 2]))
    seen = torch.zeros(n_entities, dtype=torch.bool, device=triples.device)
    seen[ends] = True
    n_used = int(seen.sum())
    if n_used > fraction * n_entities:
        return None
    new_id = torch.cumsum(seen, dim=0) - 1
    local = triples.clone()
    local[:, 0] = new_id[triples[:, 0]]
    local[:, 2] = new_id[triples[:, 2]]
    return EntityCompaction(torch.nonzero(seen).squeeze(1), local)
