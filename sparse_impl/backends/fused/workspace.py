"""What the fused backend keeps between steps in row-gradient mode (the row-sparse optimizers), so that a step
costs what its batch touches: a bitmap of the entity ids (E/8 bytes) for the batch's sorted distinct entities,
the batch's entity rows copied once, and per-thread gradient rows that stay zero between steps (the optimizer's
fused update zeroes each one as it reads it), plus the step's entity gradient left in those rows
(`PendingRows`) for the optimizer to consume: FBGEMM's table-batched embeddings' way, the dense gradient
never exists.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sparse_impl.backends.fused import kernels

__all__ = ["PendingRows", "RowWorkspace"]


@dataclass
class PendingRows:
    """One step's entity gradient, still spread over the loss kernel's per-thread rows: rows `ids` (sorted,
    distinct) of the table, their values before the step (`rows`), 1/|row| (`inverse_norms`), whether the model
    normalises them (the gradient then goes through the normalisation's Jacobian) and the loss's scale.

    An optimizer with a fused kernel reduces and applies it in one pass (`kernel_arguments`, then `release`);
    `gradient()` materialises it instead (verification, optimizers without one)."""

    ids: np.ndarray
    rows: np.ndarray
    partial: np.ndarray
    inverse_norms: np.ndarray
    normalized: bool
    scale: float
    workspace: "RowWorkspace"

    def kernel_arguments(self) -> tuple:
        """(ids, rows, partial, inverse norms, normalized, scale): what the fused optimizer kernels take after the
        table and its state; those kernels zero the partial rows they read (call `release(zeroed=True)` after)."""
        return self.ids, self.rows, self.partial, self.inverse_norms, self.normalized, self.scale

    def gradient(self) -> np.ndarray:
        """The gradient of rows `ids`, (U, d) in the table's dtype; the per-thread rows are left as they are."""
        out = np.empty_like(self.rows)
        local = np.arange(self.ids.shape[0])
        kernels.reduce_local_rows(local, self.rows, self.partial, self.inverse_norms, self.normalized, out)
        if self.scale != 1.0:
            out *= self.scale
        return out

    def release(self, zeroed: bool) -> None:
        """Give the per-thread rows back to the workspace (`zeroed`: a fused kernel has zeroed them already)."""
        self.workspace.release(self, zeroed)


class RowWorkspace:
    """Buffers of one fused backend, grown to the largest batch seen (no allocation, no page fault per step)."""

    def __init__(self) -> None:
        self._words = np.zeros(0, np.uint64)
        self._prefix = np.zeros(0, np.int64)
        self._rows = np.zeros(0, np.float32)
        self._inverse_norms = np.zeros(0, np.float64)
        self._partial = np.zeros(0, np.float32)  # all zero except while a step's gradient is in it
        self._in_use = 0  # elements of _partial a step wrote and nobody has zeroed yet
        self.staged: PendingRows | None = None  # the last loss pass's entity gradient, until its backward
        self.pending: PendingRows | None = None  # the backward's, until the optimizer takes it

    def distinct_ids(self, heads: np.ndarray, tails: np.ndarray, n_entities: int):
        """The batch's distinct entities in id order and every head and tail as an index into them."""
        words = (n_entities + 63) // 64
        if self._words.shape[0] != words:
            self._words, self._prefix = np.zeros(words, np.uint64), np.zeros(words, np.int64)
        return kernels.distinct_sorted_ids(heads, tails, self._words, self._prefix)

    @staticmethod
    def _grown(buffer: np.ndarray, size: int, dtype: np.dtype) -> np.ndarray:
        if buffer.dtype != dtype or buffer.shape[0] < size:
            return np.zeros(max(size, int(buffer.shape[0] * 1.25)) if buffer.dtype == dtype else size, dtype)
        return buffer

    def entity_rows(self, ids: np.ndarray, table: np.ndarray, normalized: bool) -> tuple[np.ndarray, np.ndarray]:
        """table[ids] copied into the workspace, and 1/|row| of each (ones where `normalized` is False)."""
        n, dim = ids.shape[0], int(np.prod(table.shape[1:]))
        self._rows = self._grown(self._rows, n * dim, table.dtype)
        self._inverse_norms = self._grown(self._inverse_norms, n, np.dtype(np.float64))
        rows = self._rows[: n * dim].reshape(n, *table.shape[1:])
        inverse_norms = self._inverse_norms[:n]
        kernels.gather_rows_into(ids, table.reshape(table.shape[0], dim), rows.reshape(n, dim), inverse_norms,
                                 normalized)
        return rows, inverse_norms

    def partial(self, n_chunks: int, n: int, row_shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
        """Zeroed per-thread gradient rows (n_chunks, n, *row_shape); the previous step's must have been released
        (else they are zeroed here, the slow way)."""
        if self._in_use:  # a gradient nobody took (a loss without backward or step): dropped
            self._partial[: self._in_use] = 0
            self._in_use = 0
        self.staged = self.pending = None
        size = n_chunks * n * int(np.prod(row_shape))
        if self._partial.dtype != dtype or self._partial.shape[0] < size:
            self._partial = np.zeros(max(size, int(self._partial.shape[0] * 1.25)), dtype)
        self._in_use = size
        return self._partial[:size].reshape(n_chunks, n, *row_shape)

    def commit(self, scale: float) -> None:
        """The backward of the staged loss ran: its gradient (times `scale`) is the optimizer's to take."""
        if self.staged is not None:
            self.staged.scale = scale
            self.pending, self.staged = self.staged, None

    def take(self) -> PendingRows | None:
        """The step's entity gradient, handed to the optimizer, which must `release` it (None if no backward ran)."""
        pending, self.pending = self.pending, None
        return pending

    def release(self, pending: PendingRows, zeroed: bool) -> None:
        """The step's per-thread rows are done with: zeroed by a fused kernel, or zeroed now."""
        if not zeroed:
            self._partial[: self._in_use] = 0
        self._in_use = 0
        if self.pending is pending:
            self.pending = None
