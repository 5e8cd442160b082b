"""Run a list of cells into a results file: one isolated process per cell, a progress bar, resume."""

from __future__ import annotations

import datetime as _dt
import sys
import uuid
from dataclasses import dataclass
from typing import Callable, Sequence

from harness.interrupts import Interrupted
from harness.records.schema import Record
from harness.records.store import ResultsStore
from harness.runner.cell import Cell
from harness.runner.isolation import run_cell_isolated

__all__ = ["RunSummary", "new_run_id", "progress_bar", "run_cells", "run_one", "split_done"]


@dataclass(frozen=True)
class RunSummary:
    """What a run did: the records it wrote and the cells it skipped because they were already done."""

    records: tuple[Record, ...]
    skipped: tuple[Cell, ...]


def new_run_id() -> str:
    return _dt.datetime.now(_dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ-") + uuid.uuid4().hex[:6]


def split_done(cells: Sequence[Cell], store: ResultsStore, resume: bool,
               retry_failed: bool) -> tuple[list[Cell], tuple[Cell, ...]]:
    """The cells still to measure and, with `resume`, those skipped because the store already has them (with
    `retry_failed`, only final records count as done)."""
    done = store.completed_keys(retry_failed) if resume else set()
    return [c for c in cells if c.key not in done], tuple(c for c in cells if c.key in done)


def progress_bar(enabled: bool):
    """The cells progress bar of a run (rich): done / total, the cell in flight, elapsed time and ETA."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    columns = (TextColumn("[bold]cells"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.description}"),
               TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn())
    return Progress(*columns, disable=not enabled, transient=False)


def run_one(cell: Cell, store: ResultsStore, run_id: str, command_line: list[str] | None,
            runner: Callable[[Cell, str, list[str] | None], Record] = run_cell_isolated) -> Record:
    """One cell's record; when a stop interrupts it, the cell in flight is appended as killed before the stop goes on."""
    try:
        return runner(cell, run_id, command_line)
    except Interrupted as stop:
        if stop.record is not None:
            store.append(stop.record)
        raise


def run_cells(cells: Sequence[Cell], store: ResultsStore, *, resume: bool = False, retry_failed: bool = False,
              run_id: str | None = None,
              command_line: list[str] | None = None, progress: bool = True,
              runner: Callable[[Cell, str, list[str] | None], Record] = run_cell_isolated) -> RunSummary:
    """Measure every cell (each in its own process) and append each record as soon as it exists.

    With `resume`, cells whose key already has a record in the store are skipped (with `retry_failed`,
    only those whose record is final: ok, unsupported, unavailable). Interrupting loses only the cell
    in flight.
    """
    run_id = run_id or new_run_id()
    command_line = command_line if command_line is not None else sys.argv
    todo, skipped = split_done(cells, store, resume, retry_failed)
    written: list[Record] = []
    with progress_bar(progress) as bar:
        task = bar.add_task("", total=len(todo))
        for cell in todo:
            bar.update(task, description=cell.label)
            record = run_one(cell, store, run_id, command_line, runner)
            store.append(record)
            written.append(record)
            bar.advance(task)
        bar.update(task, description="done")
    return RunSummary(tuple(written), skipped)
