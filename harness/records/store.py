"""Append-only JSON Lines results: each record is written whole with one write() and fsync'd, with SIGINT
and SIGTERM held back, so a run killed at any moment leaves only complete lines; readers skip (and report)
a torn last line. Only regular files hold results: a folder, FIFO or device is refused before any read."""

from __future__ import annotations

import json
import os
import stat
import sys
import warnings
from pathlib import Path
from typing import Any, Iterable

from harness.errors import SptxError
from harness.interrupts import interrupts_blocked
from harness.records.schema import RecordBase, Status, migrate

__all__ = ["ResultsStore", "read_records", "records_frame"]


class ResultsStore:
    """One results file: append records, list the cells already done (for --resume)."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)

    def append(self, record: RecordBase) -> None:
        """Append one record as one whole line. When the write fails (disk full, read-only, not a regular
        file), the record is printed to stderr so the finished measurement is not lost, and a one-line
        SptxError is raised; the lines already in the file stay as they were."""
        text = json.dumps(record.to_dict(), sort_keys=True, default=str, allow_nan=False)
        line = (text + "\n").encode("utf-8")
        with interrupts_blocked():
            try:
                self._write(line)
            except (OSError, SptxError) as exc:
                print(f"sptx: the record that could not be written follows:\n{text}", file=sys.stderr)
                reason = exc if isinstance(exc, SptxError) else exc.strerror or exc
                raise SptxError(f"cannot write results to {self.path}: {reason}; the record is printed above") \
                    from None

    def _write(self, line: bytes) -> None:
        """Write `line` at the end of a regular file (created if missing), starting on a fresh line, fsync'd."""
        self.size()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NONBLOCK, 0o644)
        try:
            refuse_irregular(self.path, os.fstat(fd))
            self._ensure_line_start(fd)
            start = os.fstat(fd).st_size
            try:
                written = os.write(fd, line)
                if written != len(line):
                    raise OSError(28, "short write (disk full?)")
                os.fsync(fd)
            except OSError:
                _truncate_to(fd, start)
                raise
        finally:
            os.close(fd)

    def size(self) -> int:
        """Bytes in the file now (0 when it does not exist yet): where records appended later will start."""
        try:
            info = os.stat(self.path)
        except FileNotFoundError:
            return 0
        except OSError as exc:
            raise SptxError(f"cannot read {self.path}: {exc.strerror or exc}") from None
        refuse_irregular(self.path, info)
        return info.st_size

    def records_after(self, offset: int) -> list[dict[str, Any]]:
        """The records appended after byte `offset` (from size()), without reading what came before."""
        return _read_file(self.path, offset) if self.path.exists() else []

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
        return {key for key, status in newest.items() if status in Status.final()}


def _truncate_to(fd: int, size: int) -> None:
    """Leave no partial line behind a failed write (readers would skip it anyway)."""
    try:
        if os.fstat(fd).st_size > size:
            os.ftruncate(fd, size)
    except OSError:
        pass


_KINDS = ((stat.S_ISDIR, "a folder"), (stat.S_ISFIFO, "a FIFO"), (stat.S_ISCHR, "a character device"),
          (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket"))


def refuse_irregular(path: Path, info: os.stat_result) -> None:
    """One-line SptxError for a results path that is not a regular file: a device or FIFO never ends or never
    keeps what is written, so it is refused before anything is read or written."""
    if stat.S_ISREG(info.st_mode):
        return
    kind = next((name for test, name in _KINDS if test(info.st_mode)), "not a regular file")
    raise SptxError(f"{path} is {kind}, not a regular results file")


def _read_file(path: Path, offset: int = 0) -> list[dict[str, Any]]:
    """The readable records of one regular file from byte `offset` on; unreadable lines are skipped with a warning."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except FileNotFoundError:
        raise SptxError(f"results file not found: {path}") from None
    except OSError as exc:
        raise SptxError(f"cannot read {path}: {exc.strerror or exc}") from None
    with os.fdopen(fd, "rb") as fh:
        refuse_irregular(path, os.fstat(fd))
        try:
            fh.seek(offset)
            lines = fh.read().split(b"\n")
        except OSError as exc:
            raise SptxError(f"cannot read {path}: {exc.strerror or exc}") from None
    out: list[dict[str, Any]] = []
    for number, raw in enumerate(lines, start=1):
        if not raw.strip():
            continue
        try:
            out.append(migrate(json.loads(raw.decode("utf-8"))))
        except (UnicodeDecodeError, json.JSONDecodeError, ValueError, TypeError) as exc:
            warnings.warn(f"{path}:{number}: skipped an unreadable record ({exc})", stacklevel=3)
    return out


def read_records(paths: Iterable[str | os.PathLike[str]]) -> list[dict[str, Any]]:
    """All records of the given files, oldest first, brought to the current schema (schema.migrate); a line
    that is not a readable record (bad JSON, bad UTF-8, not an object, missing fields, a newer schema) is
    skipped with a warning naming file:line."""
    out: list[dict[str, Any]] = []
    for path in map(Path, paths):
        out.extend(_read_file(path))
    return out


def records_frame(paths: Iterable[str | os.PathLike[str]]):
    """The records as a flat pandas DataFrame (nested fields become dotted columns, e.g. time_ms.step.median)."""
    import pandas as pd

    return pd.json_normalize(read_records(paths))
