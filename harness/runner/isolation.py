"""Each cell in a fresh subprocess with a time limit; whatever happens becomes exactly one record."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

from harness.errors import SptxError
from harness.interrupts import FORWARD_GRACE_S, Interrupted, block_interrupts_in_child, signal_name_of, stop_worker
from harness.records.schema import Record
from harness.runner.cell import Cell
from harness.runner.process_env import worker_environment
from harness.runner.worker import base_record

__all__ = ["run_cell_isolated", "precheck"]


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
    reason = cls.unsupported_reason(probe)
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


def _cgroup_oom_kills() -> int | None:
    """The cgroup's count of out-of-memory kills (cgroup v2 memory.events), None where unreadable."""
    try:
        for line in Path("/sys/fs/cgroup/memory.events").read_text().splitlines():
            name, _, value = line.partition(" ")
            if name == "oom_kill":
                return int(value)
    except (OSError, ValueError):
        return None
    return None


def _classify_kill(signal_name: str, oom_kills_before: int | None) -> tuple[str, str]:
    """'oom' only when the cgroup counted an OOM kill meanwhile; 'killed' for a SIGKILL of unknown origin."""
    if signal_name != "SIGKILL":
        return "error", f"worker killed by {signal_name}"
    after = _cgroup_oom_kills()
    if oom_kills_before is not None and after is not None and after > oom_kills_before:
        return "oom", "worker killed by SIGKILL: the out-of-memory killer (cgroup memory.events oom_kill rose)"
    return "killed", "worker killed by SIGKILL from outside (no out-of-memory kill was counted; it may still be one)"


def _last_error_line(stderr: str) -> str:
    lines = [line.strip() for line in stderr.strip().splitlines() if line.strip()]
    return lines[-1][:500] if lines else ""


def run_cell_isolated(cell: Cell, run_id: str, command_line: list[str] | None = None,
                      python: str = sys.executable) -> Record:
    """Measure `cell` in a child process; time-outs, crashes and kills become records with a message. SIGINT or
    SIGTERM here is forwarded to the worker and raises Interrupted carrying the cell's killed record."""
    early = precheck(cell, run_id, command_line)
    if early is not None:
        return early
    with tempfile.TemporaryDirectory(prefix="sptx-cell-") as tmp:
        cell_path, out_path = Path(tmp, "cell.json"), Path(tmp, "record.json")
        cell_path.write_text(cell.to_json(), encoding="utf-8")
        try:
            env = worker_environment(os.environ, cell.settings.threads, cell.settings.allocator)
        except SptxError as exc:
            return base_record(cell, run_id, "unavailable", str(exc), command_line=command_line)
        env["SPTX_COMMAND_LINE"] = json.dumps(command_line)
        proc = subprocess.Popen(
            [python, "-m", "harness.runner.worker", str(cell_path), str(out_path), run_id],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env, start_new_session=True,
            preexec_fn=_start_worker if sys.platform.startswith("linux") else None,
        )
        oom_kills_before = _cgroup_oom_kills()
        try:
            _, stderr = proc.communicate(timeout=cell.time_limit_s)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
            return base_record(cell, run_id, "timeout", f"exceeded the time limit of {cell.time_limit_s:g} s",
                               command_line=command_line)
        except KeyboardInterrupt as exc:
            name = signal_name_of(exc)
            raise Interrupted(name, _interrupted_record(proc, out_path, cell, run_id, name, command_line)) from None
        except BaseException:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
            raise
        if out_path.exists():
            raw = json.loads(out_path.read_text(encoding="utf-8"))
            return Record(**raw)
        if proc.returncode is not None and proc.returncode < 0:
            status, message = _classify_kill(signal.Signals(-proc.returncode).name, oom_kills_before)
        else:
            status, message = "error", f"worker exited with {proc.returncode}: {_last_error_line(stderr)}"
        return base_record(cell, run_id, status, message, command_line=command_line)
