"""What the fused backend keeps between steps in row-gradient mode (the row-sparse optimizers), so that a step
costs what its batch touches: a bitmap of the entity ids (E/8 bytes) for the batch's sorted distinct entities,
the batch's entity rows copied once, and per-thread gradient rows with a touched flag per row (a row is written
on its first touch, so nothing is ever zeroed), plus the step's entity gradient left in those rows
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
    """One step's entity gradient, still spread over the loss kernel's per-thread rows (`partial`, valid where
    `touched`): rows `ids` (sorted, distinct) of the table, their values before the step (`rows`), 1/|row|
    (`inverse_norms`), whether the model normalises them (the gradient then goes through the normalisation's
    Jacobian) and the loss's scale.

    An optimizer with a fused kernel reduces and applies it in one pass (`kernel_arguments`); `gradient()`
    materialises it instead (verification, optimizers without one). Valid until the next loss pass."""

    ids: np.ndarray
    rows: np.ndarray
    partial: np.ndarray
    touched: np.ndarray
    inverse_norms: np.ndarray
    normalized: bool
    scale: float

    def kernel_arguments(self) -> tuple:
        """(ids, rows, partial, touched, inverse norms, normalized, scale): what the fused optimizer kernels take
        after the table and its state."""
        return self.ids, self.rows, self.partial, self.touched, self.inverse_norms, self.normalized, self.scale

    def gradient(self) -> np.ndarray:
        """The gradient of rows `ids`, (U, d) in the table's dtype."""
        out = np.empty_like(self.rows)
        local = np.arange(self.ids.shape[0])
        kernels.reduce_local_rows(local, self.rows, self.partial, self.touched, self.inverse_norms, self.normalized,
                                  out)
        if self.scale != 1.0:
            out *= self.scale
        return out


def _at_least(buffer: np.ndarray, size: int, dtype: np.dtype) -> np.ndarray:
    """`buffer` if it holds `size` elements of `dtype`, else a new one with a quarter to spare."""
    if buffer.dtype == dtype and buffer.shape[0] >= size:
        return buffer
    return np.empty(max(size, int(buffer.shape[0] * 1.25)) if buffer.dtype == dtype else size, dtype)


class RowWorkspace:
    """Buffers of one fused backend, grown to the largest batch seen (no allocation, no page fault per step)."""

    def __init__(self) -> None:
        self._words = np.zeros(0, np.uint64)
        self._prefix = np.zeros(0, np.int64)
        self._rows = np.empty(0, np.float32)
        self._inverse_norms = np.empty(0, np.float64)
        self._partial = np.empty(0, np.float32)
        self._touched = np.empty(0, np.uint8)
        self.staged: PendingRows | None = None  # the last loss pass's entity gradient, until its backward
        self.pending: PendingRows | None = None  # the backward's, until the optimizer takes it

    def distinct_ids(self, heads: np.ndarray, tails: np.ndarray, n_entities: int):
        """The batch's distinct entities in id order and every head and tail as an index into them."""
        words = (n_entities + 63) // 64
        if self._words.shape[0] != words:
            self._words, self._prefix = np.zeros(words, np.uint64), np.zeros(words, np.int64)
        return kernels.distinct_sorted_ids(heads, tails, self._words, self._prefix)

    def entity_rows(self, ids: np.ndarray, table: np.ndarray, normalized: bool) -> tuple[np.ndarray, np.ndarray]:
        """table[ids] copied into the workspace, and 1/|row| of each (ones where `normalized` is False)."""
        n, dim = ids.shape[0], int(np.prod(table.shape[1:]))
        self._rows = _at_least(self._rows, n * dim, table.dtype)
        self._inverse_norms = _at_least(self._inverse_norms, n, np.dtype(np.float64))
        rows = self._rows[: n * dim].reshape(n, *table.shape[1:])
        inverse_norms = self._inverse_norms[:n]
        kernels.gather_rows_into(ids, table.reshape(table.shape[0], dim), rows.reshape(n, dim), inverse_norms,
                                 normalized)
        return rows, inverse_norms

    def partial(self, n_chunks: int, n: int, row_shape: tuple[int, ...],
                dtype: np.dtype) -> tuple[np.ndarray, np.ndarray]:
        """Per-thread gradient rows (n_chunks, n, *row_shape) and their touched flags (n_chunks, n), neither
        cleared (the loss kernel clears the flags); the previous step's gradient, if nobody took it, is dropped."""
        self.staged = self.pending = None
        size = n_chunks * n * int(np.prod(row_shape))
        self._partial = _at_least(self._partial, size, np.dtype(dtype))
        self._touched = _at_least(self._touched, n_chunks * n, np.dtype(np.uint8))
        return (self._partial[:size].reshape(n_chunks, n, *row_shape),
                self._touched[: n_chunks * n].reshape(n_chunks, n))

    def commit(self, scale: float) -> None:
        """The backward of the staged loss ran: its gradient (times `scale`) is the optimizer's to take."""
        if self.staged is not None:
            self.staged.scale = scale
            self.pending, self.staged = self.staged, None

    def take(self) -> PendingRows | None:
        """The step's entity gradient, handed to the optimizer (None if no backward ran since the last take)."""
        pending, self.pending = self.pending, None
        return pending
