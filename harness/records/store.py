"""Append-only JSON Lines results: each record is written whole with one write() and fsync'd, so a
run killed at any moment leaves only complete lines; readers skip (and report) a torn last line."""

from __future__ import annotations

import json
import os
import sys
import warnings
from pathlib import Path
from typing import Any, Iterable

from harness.errors import SptxError
from harness.records.schema import Record, migrate

__all__ = ["FINAL_STATUSES", "ResultsStore", "read_records", "records_frame"]

# Statuses a rerun would not change: --retry-failed re-measures every other (error, timeout, oom, killed).
FINAL_STATUSES = frozenset({"ok", "unsupported", "unavailable"})


class ResultsStore:
    """One results file: append records, list the cells already done (for --resume)."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)

    def append(self, record: Record) -> None:
        """Append one record as one whole line. When the write fails (disk full, read-only), the record is
        printed to stderr so the finished measurement is not lost, and a one-line SptxError is raised;
        the lines already in the file stay as they were."""
        text = json.dumps(record.to_dict(), sort_keys=True, default=str, allow_nan=False)
        line = (text + "\n").encode("utf-8")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        except OSError as exc:
            raise SptxError(f"cannot write results to {self.path}: {exc.strerror}") from None
        try:
            self._ensure_line_start(fd)
            written = os.write(fd, line)
            if written != len(line):
                raise OSError(28, "short write (disk full?)")
            if self.path.is_file():
                os.fsync(fd)
        except OSError as exc:
            self._truncate_torn(fd)
            print(f"sptx: the record that could not be written follows:\n{text}", file=sys.stderr)
            raise SptxError(f"cannot write results to {self.path}: {exc.strerror or exc}; the record is printed "
                            "above") from None
        finally:
            os.close(fd)

    def _truncate_torn(self, fd: int) -> None:
        """Leave no partial line behind a failed write (readers would skip it anyway)."""
        if not self.path.is_file():
            return
        try:
            with open(self.path, "rb") as fh:
                data = fh.read()
            end = data.rfind(b"\n") + 1
            if end < len(data):
                os.ftruncate(fd, end)
        except OSError:
            pass

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

    def completed_keys(self, retry_failed: bool = False) -> set[str]:
        """Cell keys that already have a record in this file; with `retry_failed`, only those whose newest
        record is final (ok, unsupported, unavailable), so error, timeout, oom and killed cells run again."""
        newest = {r["cell_key"]: r.get("status") for r in self.records() if "cell_key" in r}
        if not retry_failed:
            return set(newest)
        return {key for key, status in newest.items() if status in FINAL_STATUSES}


def read_records(paths: Iterable[str | os.PathLike[str]]) -> list[dict[str, Any]]:
    """All records of the given files, oldest first; a line that is not a readable record (bad JSON, bad
    UTF-8, not an object, missing fields, a newer schema) is skipped with a warning naming file:line."""
    out: list[dict[str, Any]] = []
    for path in map(Path, paths):
        if not path.exists():
            raise SptxError(f"results file not found: {path}")
        if path.is_dir():
            raise SptxError(f"{path} is a folder, not a results file")
        try:
            with open(path, "rb") as fh:
                lines = fh.read().split(b"\n")
        except OSError as exc:
            raise SptxError(f"cannot read {path}: {exc.strerror or exc}") from None
        for number, raw in enumerate(lines, start=1):
            if not raw.strip():
                continue
            try:
                out.append(migrate(json.loads(raw.decode("utf-8"))))
            except (UnicodeDecodeError, json.JSONDecodeError, ValueError, TypeError) as exc:
                warnings.warn(f"{path}:{number}: skipped an unreadable record ({exc})", stacklevel=2)
    return out


def records_frame(paths: Iterable[str | os.PathLike[str]]):
    """The records as a flat pandas DataFrame (nested fields become dotted columns, e.g. time_ms.step.median)."""
    import pandas as pd

    return pd.json_normalize(read_records(paths))
