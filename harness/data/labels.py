"""Entity and relation labels in id order, kept as one UTF-8 blob (one label a line) instead of one Python string per
label: a 4.6M-entity graph's labels are one ~50 MB buffer, read from the graph cache only when a label is asked for.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from functools import cached_property
from pathlib import Path
from typing import overload

import numpy as np

__all__ = ["Labels"]

_NEWLINE = ord("\n")


class Labels(Sequence[str]):
    """Labels by id: `labels[i]` is the label of id i. Built from strings or read lazily from a file of one label a
    line (labels never hold a newline: they come from line-based files); compares equal to any sequence of the same
    strings."""

    def __init__(self, blob: bytes | None = None, path: Path | None = None) -> None:
        self._blob = blob
        self._path = path

    @classmethod
    def from_strings(cls, values: Iterable[str]) -> Labels:
        """The labels `values`, in order; a label with a newline is a ValueError (it could not be stored)."""
        items = [str(v) for v in values]
        if any("\n" in v for v in items):
            raise ValueError("a label holds a newline")
        return cls(("\n".join(items) + "\n").encode("utf-8") if items else b"")

    @classmethod
    def from_file(cls, path: Path) -> Labels:
        """The labels in `path` (one a line), read on first use."""
        return cls(path=Path(path))

    def save(self, path: Path) -> None:
        """Write the labels to `path`, one a line (what `from_file` reads)."""
        Path(path).write_bytes(self._bytes)

    @cached_property
    def _bytes(self) -> bytes:
        if self._blob is None:
            assert self._path is not None
            self._blob = self._path.read_bytes()
        return self._blob

    @cached_property
    def _ends(self) -> np.ndarray:
        """Offset of each label's terminating newline."""
        return np.flatnonzero(np.frombuffer(self._bytes, dtype=np.uint8) == _NEWLINE)

    def __len__(self) -> int:
        """The number of labels."""
        return int(self._ends.shape[0])

    def _label(self, index: int) -> str:
        ends = self._ends
        start = int(ends[index - 1]) + 1 if index > 0 else 0
        return self._bytes[start : int(ends[index])].decode("utf-8")

    @overload
    def __getitem__(self, index: int) -> str: ...

    @overload
    def __getitem__(self, index: slice) -> list[str]: ...

    def __getitem__(self, index: int | slice) -> str | list[str]:
        """The label of id `index` (negative indices count from the end), or a list for a slice."""
        n = len(self)
        if isinstance(index, slice):
            return [self._label(i) for i in range(*index.indices(n))]
        if not -n <= index < n:
            raise IndexError(f"label id {index} out of range for {n} labels")
        return self._label(index % n)

    def __iter__(self) -> Iterator[str]:
        """Every label in id order."""
        return iter(self._bytes.decode("utf-8").split("\n")[: len(self)])

    def __eq__(self, other: object) -> bool:
        """Equal to any sequence of the same labels in the same order."""
        if isinstance(other, Labels):
            return self._bytes == other._bytes
        if isinstance(other, Sequence) and not isinstance(other, str):
            return len(other) == len(self) and all(a == b for a, b in zip(self, other))
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        """A short form: the count and the first labels."""
        head = ", ".join(repr(x) for x in self[:3])
        return f"Labels({len(self)}: {head}{', ...' if len(self) > 3 else ''})"
