"""Start one distributed run on this machine through torchrun (torch.distributed's elastic launcher) in a
child process with the measuring environment (threads per rank, allocator), a time limit, and one
record whatever happens: rank 0 appends it when the run succeeds; otherwise it is written here, with a
one-line message naming the rank that failed.

When a rank dies, torchrun's agent notices within its monitor interval (0.1 s), stops the other ranks
and exits non-zero. When a rank hangs (or a node vanishes), its peers' collectives give up after the
process group's timeout (`--collective-timeout`), and torchrun then stops the hung rank (SIGTERM, then
SIGKILL after its 30 s grace). The time limit bounds everything else.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.distributed.settings import DistributedSettings, resolve_backend, settings_argv
from harness.runner.process_env import worker_environment
from harness.settings import RunSettings, stable_key

__all__ = ["LaunchResult", "failure_message", "launch", "torchrun_command"]

MONITOR_INTERVAL_S = 0.1


@dataclass(frozen=True)
class LaunchResult:
    """The record of one run (as written to the results file) and how long the launch took."""

    record: dict[str, Any]
    seconds: float


def torchrun_command(settings: RunSettings, dist_settings: DistributedSettings, *, out: str, run_id: str,
                     data_dir: str | None = None, save_parameters: str | None = None, round_: int = 0,
                     rounds: int = 1, python: str = sys.executable) -> list[str]:
    """The torchrun command line of a single-node run with `dist_settings.world_size` ranks."""
    argv = [python, "-m", "torch.distributed.run", "--standalone", "--nnodes", "1",
            "--nproc-per-node", str(dist_settings.world_size), "--monitor-interval", str(MONITOR_INTERVAL_S),
            "-m", "harness.distributed.worker", *settings_argv(settings, dist_settings), "--out", out,
            "--run-id", run_id]
    if rounds > 1:
        argv += ["--round", str(round_), "--rounds", str(rounds)]
    if data_dir:
        argv += ["--data-dir", data_dir]
    if save_parameters:
        argv += ["--save-parameters", save_parameters]
    return argv


_FAILURE = re.compile(r"^\s*rank\s*:\s*(\d+).*\n\s*exitcode\s*:\s*(-?\d+)\s*\(pid:\s*(\d+)\)", re.MULTILINE)
_FORCED_KILL = re.compile(r"Unable to shutdown process (\d+) via")
_SOURCE_LOCATION = re.compile(r"\[/[^\]]*:\d+\]\s*")  # gloo's "[/path/to/pair.cc:553] " prefix
_WORKER_ERROR = re.compile(r"harness\.distributed\.worker[\w ]*: error: .*$", re.MULTILINE)


def failure_message(stderr: str, returncode: int) -> tuple[str, str]:
    """(status, one-line message) of a failed torchrun, from its root-cause summary or the worker's error."""
    worker = _WORKER_ERROR.search(stderr)
    if worker:
        return "error", worker.group(0).split(": error: ", 1)[1]
    failures = [(int(r), int(c), int(p)) for r, c, p in _FAILURE.findall(stderr)]
    if failures:
        # torchrun lists the other ranks first and its root cause last; a rank it stopped itself got SIGTERM,
        # or SIGKILL when it ignored that (a hung rank). A rank killed by any other signal died on its own.
        stopped = {int(pid) for pid in _FORCED_KILL.findall(stderr)}
        root = failures[-1] if "Root Cause" in stderr else failures[0]
        rank, exit_code, _ = next(((r, c, p) for r, c, p in failures
                                   if c < 0 and c != -signal.SIGTERM and p not in stopped), root)
        how = f"was killed by {signal.Signals(-exit_code).name}" if exit_code < 0 else f"exited with code {exit_code}"
        errors = [_SOURCE_LOCATION.sub("", line.split("]:", 1)[-1]).strip() for line in stderr.splitlines()
                  if "Error:" in line and "ChildFailedError" not in line]
        detail = f" ({errors[-1][:200]})" if exit_code > 0 and errors else ""
        status = "killed" if exit_code == -signal.SIGKILL else "error"
        return status, f"rank {rank} {how}{detail}; torchrun stopped the other ranks"
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    return "error", f"torchrun exited with {returncode}: {lines[-1][:300] if lines else 'no output'}"


def _failure_record(settings: RunSettings, dist_settings: DistributedSettings, status: str, message: str,
                    run_id: str, command_line: list[str], round_: int, rounds: int) -> dict[str, Any]:
    """The record of a run that produced none: its identity, status and message."""
    from harness.distributed.worker import FRAMEWORK, run_group, run_key, work_backend
    from harness.records.environment import environment, git_commit
    from harness.records.schema import Record, RecordType

    code_version = git_commit() or "unknown"
    record = Record(
        run_id=run_id, cell_key=run_key(settings, dist_settings, round_, code_version),
        group_key=stable_key(run_group(settings, dist_settings)), framework=FRAMEWORK,
        options={"backend": work_backend()}, label=f"{FRAMEWORK}[{dist_settings.strategy}] x{dist_settings.world_size}",
        settings=settings.to_dict(), status=status, message=message, round=round_, rounds=rounds,
        dataset_kind="synthetic" if settings.dataset.startswith("synthetic:") else "real",
        timestamp=_dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"), code_version=code_version,
        env=environment(settings.seed, command_line), distributed=dist_settings.to_dict(),
        record_type=RecordType.DISTRIBUTED,
    )
    return record.to_dict()


def _records_of_run(out: Path, run_id: str, dist_settings: DistributedSettings, round_: int) -> list[dict[str, Any]]:
    from harness.records.store import read_records

    if not out.exists():
        return []
    return [r for r in read_records([out]) if r.get("run_id") == run_id and r.get("round", 0) == round_
            and (r.get("distributed") or {}).get("world_size") == dist_settings.world_size
            and r["distributed"].get("strategy") == dist_settings.strategy]


def launch(settings: RunSettings, dist_settings: DistributedSettings, *, out: str | os.PathLike[str], run_id: str,
           data_dir: str | None = None, time_limit_s: float = 600.0, save_parameters: str | None = None,
           round_: int = 0, rounds: int = 1, extra_env: dict[str, str] | None = None,
           python: str = sys.executable) -> LaunchResult:
    """Run torchrun with `dist_settings.world_size` local ranks; return the run's record (appended to `out`)."""
    import time

    from harness.records.schema import Record
    from harness.records.store import ResultsStore

    if dist_settings.backend == "auto":
        from dataclasses import replace

        dist_settings = replace(dist_settings, backend=resolve_backend("auto", settings.device))
    out_path = Path(out)
    command = torchrun_command(settings, dist_settings, out=str(out_path), run_id=run_id, data_dir=data_dir,
                               save_parameters=save_parameters, round_=round_, rounds=rounds, python=python)
    env = worker_environment(os.environ, settings.threads, settings.allocator)
    env.update(extra_env or {})
    started = time.perf_counter()
    with tempfile.TemporaryFile(mode="w+", encoding="utf-8") as stderr:
        proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=stderr, env=env, start_new_session=True)
        try:
            returncode = proc.wait(timeout=time_limit_s)
        except subprocess.TimeoutExpired:
            returncode = None
        except BaseException:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            raise
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        stderr.seek(0)
        text = stderr.read()
    seconds = time.perf_counter() - started
    found = _records_of_run(out_path, run_id, dist_settings, round_)
    if found:  # rank 0 wrote the whole run's record (a failure while the ranks shut down changes nothing in it)
        return LaunchResult(found[-1], seconds)
    if returncode is None:
        status, message = "timeout", f"exceeded the time limit of {time_limit_s:g} s; every rank was killed"
    elif returncode == 0:
        status, message = "error", "torchrun succeeded but rank 0 wrote no record"  # e.g. --out not writable
    else:
        status, message = failure_message(text, returncode)
    raw = _failure_record(settings, dist_settings, status, message, run_id, command, round_, rounds)
    ResultsStore(out_path).append(Record(**raw))
    return LaunchResult(raw, seconds)

