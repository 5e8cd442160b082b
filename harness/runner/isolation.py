"""Each cell in a fresh subprocess with a time limit; whatever happens becomes exactly one record."""

from __future__ import annotations

import contextlib
import json
import os
import select
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable

import psutil

from harness.errors import SptxError
from harness.interrupts import (FORWARD_GRACE_S, Interrupted, block_interrupts_in_child, interrupts_blocked,
                                signal_name_of, stop_worker)
from harness.records.schema import Record
from harness.runner.cell import Cell
from harness.runner.process_env import worker_environment
from harness.runner.worker import base_record

__all__ = ["MEMORY_POLL_S", "WorkerProcess", "precheck", "run_cell_isolated", "start_worker"]

MEMORY_POLL_S = 0.02  # how often the parent reads a worker's resident memory when the cell has a memory limit


def precheck(cell: Cell, run_id: str, command_line: list[str] | None) -> Record | None:
    """A record without spawning anything when the framework is unknown, unavailable or lacks the model."""
    from baselines import FRAMEWORKS
    from harness.spec import ModelConfig

    cls = FRAMEWORKS.get(cell.framework)
    if cls is None:
        return base_record(cell, run_id, "error", f"unknown framework {cell.framework!r}", command_line=command_line)
    s = cell.settings
    try:
        probe = ModelConfig(s.model, 1, 1, 1, rel_dim=s.rel_dim, dissimilarity=s.dissimilarity)
        options = cls.resolve_options(cell.option_dict)
    except SptxError as exc:
        return base_record(cell, run_id, "error", str(exc), command_line=command_line)
    reason = cls.unsupported_reason(probe, options, s.optimizer, s.loss)
    if reason:
        return base_record(cell, run_id, "unsupported", reason, command_line=command_line)
    reason = cls.unavailable_reason_for(options)
    if reason:
        return base_record(cell, run_id, "unavailable", reason, command_line=command_line)
    if s.device.startswith("cuda"):
        import torch

        if not torch.cuda.is_available():
            return base_record(cell, run_id, "unavailable", "no CUDA device on this machine", command_line=command_line)
    return None


def _die_with_parent() -> None:
    """In the child: get SIGKILL when the parent dies, so a killed run leaves no orphan measuring on."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def _start_worker() -> None:
    """In the child before exec: die with the parent, and hold SIGINT/SIGTERM back until the worker records them."""
    _die_with_parent()
    block_interrupts_in_child()


def _interrupted_record(proc: subprocess.Popen, out_path: Path, cell: Cell, run_id: str, signal_name: str,
                        command_line: list[str] | None) -> Record:
    """Forward the stop to the worker and return the record it wrote; a killed one made here if it wrote none."""
    ended = stop_worker(proc, signal_name, group=True)
    if out_path.exists():
        try:
            return Record(**json.loads(out_path.read_text(encoding="utf-8")))
        except (OSError, ValueError, TypeError):
            pass
    message = f"interrupted by {signal_name}"
    if not ended:
        message += f"; the worker did not stop within {FORWARD_GRACE_S:g} s and was killed"
    return base_record(cell, run_id, "killed", message, command_line=command_line)


# Where the kernel counts out-of-memory kills: the cgroup's own count (cgroup v2), else the machine's (/proc/vmstat,
# every OOM kill since boot: cgroup v1 machines, or a global OOM that chose a process of this run).
_OOM_COUNTERS: tuple[tuple[Path, str], ...] = ((Path("/sys/fs/cgroup/memory.events"), "oom_kill"),
                                               (Path("/proc/vmstat"), "oom_kill"))


def _oom_kills() -> int | None:
    """The kernel's count of out-of-memory kills from the first counter readable here, None where none is."""
    for path, key in _OOM_COUNTERS:
        try:
            for line in path.read_text().splitlines():
                name, _, value = line.partition(" ")
                if name == key:
                    return int(value)
        except (OSError, ValueError):
            continue
    return None


def _classify_kill(signal_name: str, oom_kills_before: int | None) -> tuple[str, str]:
    """'oom' only when the kernel counted an OOM kill meanwhile; 'killed' for a SIGKILL of unknown origin."""
    if signal_name != "SIGKILL":
        return "error", f"worker killed by {signal_name}"
    after = _oom_kills()
    if oom_kills_before is not None and after is not None and after > oom_kills_before:
        return "oom", "worker killed by SIGKILL: the kernel's out-of-memory killer (its oom_kill count rose)"
    return "killed", "worker killed by SIGKILL from outside (no out-of-memory kill was counted; it may still be one)"


def _last_error_line(stderr: str) -> str:
    lines = [line.strip() for line in stderr.strip().splitlines() if line.strip()]
    return lines[-1][:500] if lines else ""


class WorkerProcess:
    """One cell's measuring process, started with the run's thread count and allocator and the cell's time
    limit as a deadline; `finish()` turns however it ended into exactly one record. With `lockstep`, two
    pipes let a scheduler drive its measured steps one at a time (harness/runner/lockstep.py)."""

    def __init__(self, cell: Cell, run_id: str, command_line: list[str] | None, env: dict[str, str],
                 python: str = sys.executable, lockstep: bool = False) -> None:
        self.cell, self.run_id, self.command_line = cell, run_id, command_line
        self._tmp = tempfile.TemporaryDirectory(prefix="sptx-cell-")
        tmp = Path(self._tmp.name)
        cell_path, self.out_path, self._stderr_path = tmp / "cell.json", tmp / "record.json", tmp / "stderr.txt"
        cell_path.write_text(cell.to_json(), encoding="utf-8")
        argv = [python, "-m", "harness.runner.worker", str(cell_path), str(self.out_path), run_id]
        child_fds: tuple[int, ...] = ()
        self._commands: int | None = None
        self._replies = None
        if lockstep:
            command_read, self._commands = os.pipe()
            reply_read, reply_write = os.pipe()
            child_fds = (command_read, reply_write)
            argv += ["--lockstep", f"{command_read},{reply_write}"]
            self._replies = os.fdopen(reply_read, "r", encoding="utf-8")
        self.deadline = time.monotonic() + cell.time_limit_s
        self.over_memory: int | None = None  # the resident bytes at which the memory limit stopped it
        self._oom_kills_before = _oom_kills()
        with open(self._stderr_path, "w", encoding="utf-8") as stderr:
            self.proc = subprocess.Popen(
                argv, stdout=subprocess.DEVNULL, stderr=stderr, env=env, start_new_session=True, pass_fds=child_fds,
                preexec_fn=_start_worker if sys.platform.startswith("linux") else None)
        for fd in child_fds:
            os.close(fd)

    def remaining(self) -> float:
        """Seconds left before the cell's time limit."""
        return max(self.deadline - time.monotonic(), 0.0)

    def _rss_over_limit(self) -> int | None:
        """The worker's resident memory (with its children) when it is over the cell's memory limit, else None."""
        limit = self.cell.memory_limit_bytes
        if limit is None:
            return None
        try:
            process = psutil.Process(self.proc.pid)
            rss = process.memory_info().rss + sum(c.memory_info().rss for c in process.children(recursive=True))
        except psutil.Error:
            return None
        return rss if rss > limit else None

    def _watch(self, ready: Callable[[float], bool]) -> bool:
        """Call `ready(seconds)` in slices of MEMORY_POLL_S until it is True (True), the deadline passes (False),
        or the worker's memory goes over the cell's limit (False: it is killed and `over_memory` says at what)."""
        while self.over_memory is None:
            left = self.remaining()
            if ready(min(left, MEMORY_POLL_S) if self.cell.memory_limit_bytes is not None else left):
                return True
            self.over_memory = self._rss_over_limit()
            if self.over_memory is not None:
                self.kill()
            elif self.remaining() <= 0:
                return False
        return False

    def send(self, command: str) -> bool:
        """Write one lockstep command line; False when the worker has gone."""
        try:
            os.write(self._commands, (command + "\n").encode())
            return True
        except (BrokenPipeError, OSError):
            return False

    def receive(self) -> str | None:
        """The worker's next lockstep reply line; None when it ended, or the time limit passed first."""
        replies = self._replies
        if not self._watch(lambda seconds: bool(select.select([replies], [], [], seconds)[0])):
            return None
        line = replies.readline()
        return line.strip() or None

    def finish(self) -> Record:
        """Wait for the process (until the deadline) and return its record, or one saying how it failed. An
        interrupt while waiting leaves the worker to `interrupted()`."""
        exited = self._watch(self._exited_within)
        if self.over_memory is not None:
            limit = self.cell.memory_limit_bytes or 0
            record = base_record(self.cell, self.run_id, "oom",
                                 f"stopped at {self.over_memory / 2**20:,.0f} MiB resident, over the memory limit of "
                                 f"{limit / 2**20:,.0f} MiB (--memory-limit-mb)", command_line=self.command_line)
        elif not exited:
            self.kill()
            record = base_record(self.cell, self.run_id, "timeout",
                                 f"exceeded the time limit of {self.cell.time_limit_s:g} s",
                                 command_line=self.command_line)
        else:
            record = self._record_after_exit()
        self.close()
        return record

    def _exited_within(self, seconds: float) -> bool:
        try:
            self.proc.wait(timeout=seconds)
            return True
        except subprocess.TimeoutExpired:
            return False

    def _record_after_exit(self) -> Record:
        if self.out_path.exists():
            return Record(**json.loads(self.out_path.read_text(encoding="utf-8")))
        if self.proc.returncode is not None and self.proc.returncode < 0:
            status, message = _classify_kill(signal.Signals(-self.proc.returncode).name, self._oom_kills_before)
        else:
            stderr = self._stderr_path.read_text(encoding="utf-8", errors="replace")
            status, message = "error", f"worker exited with {self.proc.returncode}: {_last_error_line(stderr)}"
        return base_record(self.cell, self.run_id, status, message, command_line=self.command_line)

    def interrupted(self, signal_name: str) -> Record:
        """Forward a stop to the worker and return the record it wrote (a killed one made here if none)."""
        try:
            return _interrupted_record(self.proc, self.out_path, self.cell, self.run_id, signal_name,
                                       self.command_line)
        finally:
            self.close()

    def kill(self) -> None:
        """SIGKILL the worker's whole process group and reap it."""
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        self.proc.wait()

    def close(self) -> None:
        """Release the pipes and the temporary folder (the process must have ended)."""
        if self._commands is not None:
            with contextlib.suppress(OSError):
                os.close(self._commands)
        if self._replies is not None:
            self._replies.close()
        self._commands, self._replies = None, None
        self._tmp.cleanup()


def start_worker(cell: Cell, run_id: str, command_line: list[str] | None, *, lockstep: bool = False,
                 python: str = sys.executable) -> WorkerProcess | Record:
    """The cell's worker process, or a record without spawning anything when it cannot run here."""
    early = precheck(cell, run_id, command_line)
    if early is not None:
        return early
    try:
        env = worker_environment(os.environ, cell.settings.threads, cell.settings.allocator)
    except SptxError as exc:
        return base_record(cell, run_id, "unavailable", str(exc), command_line=command_line)
    env["SPTX_COMMAND_LINE"] = json.dumps(command_line)
    return WorkerProcess(cell, run_id, command_line, env, python, lockstep)


def run_cell_isolated(cell: Cell, run_id: str, command_line: list[str] | None = None,
                      python: str = sys.executable) -> Record:
    """Measure `cell` in a child process; time-outs, crashes and kills become records with a message. SIGINT or
    SIGTERM here is forwarded to the worker and raises Interrupted carrying the cell's killed record."""
    worker: WorkerProcess | Record | None = None
    try:
        with interrupts_blocked():  # a stop arriving as the process starts is taken once `worker` is set
            worker = start_worker(cell, run_id, command_line, python=python)
        if isinstance(worker, Record):
            return worker
        return worker.finish()
    except KeyboardInterrupt as exc:
        if not isinstance(worker, WorkerProcess):
            raise
        name = signal_name_of(exc)
        raise Interrupted(name, worker.interrupted(name)) from None
    except BaseException:
        if isinstance(worker, WorkerProcess):
            worker.kill()
            worker.close()
        raise
