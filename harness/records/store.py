"""Append-only JSON Lines results: each record is written whole with one write() and fsync'd, so a
run killed at any moment leaves only complete lines; readers skip (and report) a torn last line."""

from __future__ import annotations

import json
import os
import warnings
from pathlib import Path
from typing import Any, Iterable

from harness.errors import SptxError
from harness.records.schema import Record, migrate

__all__ = ["ResultsStore", "read_records", "records_frame"]


class ResultsStore:
    """One results file: append records, list the cells already done (for --resume)."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)

    def append(self, record: Record) -> None:
        line = (json.dumps(record.to_dict(), sort_keys=True, default=str) + "\n").encode("utf-8")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        except OSError as exc:
            raise SptxError(f"cannot write results to {self.path}: {exc.strerror}") from None
        try:
            self._ensure_line_start(fd)
            os.write(fd, line)
            os.fsync(fd)
        finally:
            os.close(fd)

    def _ensure_line_start(self, fd: int) -> None:
        """If a killed writer left a torn last line, start on a fresh line so ours stays whole."""
        size = os.fstat(fd).st_size
        if size == 0:
            return
        with open(self.path, "rb") as fh:
            fh.seek(size - 1)
            if fh.read(1) != b"\n":
                os.write(fd, b"\n")

    def records(self) -> list[dict[str, Any]]:
        return read_records([self.path]) if self.path.exists() else []

    def completed_keys(self) -> set[str]:
        """Cell keys that already have a record in this file."""
        return {r["cell_key"] for r in self.records() if "cell_key" in r}


def read_records(paths: Iterable[str | os.PathLike[str]]) -> list[dict[str, Any]]:
    """All records of the given files, oldest first; a line that does not parse is skipped with a warning."""
    out: list[dict[str, Any]] = []
    for path in map(Path, paths):
        if not path.exists():
            raise SptxError(f"results file not found: {path}")
        with open(path, encoding="utf-8") as fh:
            for number, line in enumerate(fh, start=1):
                if not line.strip():
                    continue
                try:
                    out.append(migrate(json.loads(line)))
                except (json.JSONDecodeError, ValueError) as exc:
                    warnings.warn(f"{path}:{number}: skipped an unreadable record ({exc})", stacklevel=2)
    return out


def records_frame(paths: Iterable[str | os.PathLike[str]]):
    """The records as a flat pandas DataFrame (nested fields become dotted columns, e.g. time_ms.step.median)."""
    import pandas as pd

    return pd.json_normalize(read_records(paths))
