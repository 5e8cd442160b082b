"""Lockstep rounds (`--interleave steps`): every framework of a comparison group in its own fresh process,
all started together; once all are warm, their measured steps run one at a time in turns (a fresh seeded
order per step), so a framework's steps and the reference's are minutes apart no longer but milliseconds.

Why: on a shared machine a step's time drifts by +-15% within seconds (measured in one process, the same
batch over and over: 3-second medians 24.6-37.5 ms), so frameworks measured one after another in
separate minutes see different machines. In turns they see the same one, and that drift cancels in the
per-round ratio. Only one worker computes at a time; the others wait on a pipe (no CPU). The worker's side
is harness/runner/gate.py. After the measured steps the workers run their FLOPs and memory passes one
at a time.

Lockstep keeps every worker of a group resident until the last one's last step. Where the group's memory
limits (--memory-limit-mb, per cell) add up to more than the machine has available, that group runs one process
after another instead (its records say interleave 'processes'), so that the kernel's OOM killer never picks
among them (seen: seven workers of 3-4 GB each at B=8,192 x 64 negatives on a 24 GiB machine).
"""

from __future__ import annotations

import random
from typing import Callable, Sequence

import psutil

from harness.interrupts import Interrupted, interrupts_blocked, signal_name_of
from harness.records.schema import Record
from harness.records.store import ResultsStore
from harness.runner.cell import Cell
from harness.runner.isolation import WorkerProcess, start_worker
from harness.runner.run import RunSummary, new_run_id, progress_bar, run_one, split_done
from harness.settings import stable_key

__all__ = ["INTERLEAVE_MODES", "lockstep_memory_refusal", "run_cells_lockstep"]

INTERLEAVE_MODES: tuple[str, ...] = ("steps", "processes")


def lockstep_memory_refusal(cells: Sequence[Cell], available_bytes: int) -> str | None:
    """Why these cells cannot all stay resident at once, or None: their memory limits add up to more than
    `available_bytes`. Cells without a limit give no figure to add, so they never refuse."""
    limits = [c.memory_limit_bytes for c in cells]
    if not limits or any(limit is None for limit in limits):
        return None
    total = sum(limits)
    if total <= available_bytes:
        return None
    return (f"{len(cells)} workers x their memory limits = {total / 2**30:.1f} GiB > "
            f"{available_bytes / 2**30:.1f} GiB available")


def _drive_group(workers: list[WorkerProcess], rng: random.Random) -> None:
    """Wait until every worker is warm, then give each its measured steps in turns, in a fresh order per step;
    a worker that stops answering (failed, or out of time) leaves the rotation and is finished later."""
    live = [w for w in workers if w.receive() == "ready"]
    left = {id(w): w.cell.settings.steps for w in live}
    while live:
        order = list(live)
        rng.shuffle(order)
        for worker in order:
            if not (worker.send("step") and worker.receive() == "done"):
                live.remove(worker)
                continue
            left[id(worker)] -= 1
            if left[id(worker)] == 0:
                live.remove(worker)


def _run_group(cells: Sequence[Cell], store: ResultsStore, run_id: str, command_line: list[str] | None,
               rng: random.Random, keep: Callable[[Record], None]) -> None:
    """One comparison group of one round in lockstep; every cell ends as exactly one record given to `keep`.
    After the measured steps each worker runs its unmeasured passes and writes its record, one at a time."""
    workers: list[WorkerProcess] = []
    try:
        for cell in cells:
            with interrupts_blocked():  # a stop arriving as the process starts still finds it in `workers`
                started = start_worker(cell, run_id, command_line, lockstep=True)
                if isinstance(started, WorkerProcess):
                    workers.append(started)
            if isinstance(started, Record):
                keep(started)
        _drive_group(workers, rng)
        while workers:  # a worker leaves the list only once finished, so an interrupt still records it
            workers[0].send("finish")
            record = workers[0].finish()
            workers.pop(0)
            keep(record)
    except KeyboardInterrupt as exc:
        name = signal_name_of(exc)
        for worker in workers:  # the cells in flight are recorded as killed before the run ends
            store.append(worker.interrupted(name))
        raise Interrupted(name) from None
    except BaseException:
        for worker in workers:
            worker.kill()
            worker.close()
        raise


def run_cells_lockstep(cells: Sequence[Cell], store: ResultsStore, *, resume: bool = False,
                       retry_failed: bool = False, run_id: str | None = None, command_line: list[str] | None = None,
                       progress: bool = True) -> RunSummary:
    """As harness.runner.run.run_cells, but each comparison group's cells (in the order they first appear)
    run together in lockstep; records are appended as each worker finishes."""
    import sys

    run_id = run_id or new_run_id()
    command_line = command_line if command_line is not None else sys.argv
    todo, skipped = split_done(cells, store, resume, retry_failed)
    groups: dict[str, list[Cell]] = {}
    for cell in todo:
        groups.setdefault(cell.group_key, []).append(cell)
    written: list[Record] = []
    rng = random.Random(int(stable_key({"cells": [c.key for c in todo]}), 16))
    with progress_bar(progress) as bar:
        task = bar.add_task("", total=len(todo))

        def keep(record: Record) -> None:
            store.append(record)
            written.append(record)
            bar.advance(task)

        for group in groups.values():
            labels = ", ".join(c.framework_label for c in group)
            refusal = lockstep_memory_refusal(group, psutil.virtual_memory().available)
            if refusal is not None:
                bar.console.print(f"not in lockstep, one process after another: {labels}: {refusal}")
                bar.update(task, description=f"one by one: {labels} (round {group[0].round + 1})")
                for cell in group:  # as harness.runner.run.run_cells
                    keep(run_one(cell, store, run_id, command_line))
                continue
            bar.update(task, description=f"in lockstep: {labels} (round {group[0].round + 1})")
            _run_group(group, store, run_id, command_line, rng, keep)
        bar.update(task, description="done")
    return RunSummary(tuple(written), skipped)
