"""Start one distributed run on this machine through torchrun (torch.distributed's elastic launcher) in a
child process with the measuring environment (threads per rank, allocator), a time limit, and one
record whatever happens, appended to the results file by this process alone, once every process of the
run is gone: rank 0 writes its record to a private file; this process copies it, or writes the record
of the failure (with a one-line message naming the rank that failed, `timeout`, or `killed` with
"interrupted by SIGINT/SIGTERM").

When a rank dies, torchrun's agent notices within its monitor interval (0.1 s), stops the other ranks
and exits non-zero. When a rank hangs (or a node vanishes), its peers' collectives give up after the
process group's timeout (`--collective-timeout`), and torchrun then stops the hung rank (SIGTERM, then
SIGKILL after its 30 s grace). The time limit bounds everything else.

Stopping: torchrun starts every rank in its own session (process group), so killing torchrun's group
alone would leave the ranks running. Every process of a run carries a token in its environment
(RUN_TOKEN_VARIABLE); when the run ends however it ends (success, failure, time limit, SIGINT/SIGTERM
here), torchrun is killed and then every process holding the token, by process group, until none is
alive. Ranks also die with torchrun (PR_SET_PDEATHSIG), and torchrun with this process, so even a
SIGKILL of `sptx` leaves no rank measuring on.
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
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.distributed.lineage import RUN_TOKEN_VARIABLE, die_with_parent, orphaned_from_run
from harness.distributed.settings import DistributedSettings, resolve_backend, settings_argv
from harness.errors import SptxError
from harness.runner.process_env import worker_environment
from harness.settings import RunSettings, stable_key

__all__ = ["LaunchResult", "RUN_TOKEN_VARIABLE", "check_cores", "die_with_parent", "failure_message", "launch",
           "orphaned_from_run", "run_processes", "stop_run", "torchrun_command"]

MONITOR_INTERVAL_S = 0.1
STOP_WAIT_S = 10.0  # how long stop_run keeps killing and waiting before it reports survivors


def check_cores(world_size: int, threads: int, *, allow: bool = False) -> str | None:
    """One-line SptxError when `world_size` ranks of `threads` threads each need more cores than this process
    may run on (its affinity mask); with `allow`, the one-line warning to print instead (None when they fit)."""
    from harness.settings import available_cores

    cores = available_cores()
    if world_size * threads <= cores:
        return None
    text = (f"{world_size} process(es) x {threads} thread(s) = {world_size * threads} threads, but this machine has "
            f"{cores} core(s) available to this process")
    if allow:
        return f"warning: {text}; oversubscribed ranks measure contention, not scaling"
    raise SptxError(f"{text}; use fewer processes (--nproc) or --threads, or --oversubscribe to run anyway")


def run_processes(token: str) -> list[Any]:
    """The live (not zombie) processes whose environment holds `token`: torchrun and the ranks of one run."""
    import psutil

    found = []
    for process in psutil.process_iter():
        if process.pid == os.getpid():
            continue
        try:
            if process.environ().get(RUN_TOKEN_VARIABLE) == token and process.status() != psutil.STATUS_ZOMBIE:
                found.append(process)
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess, OSError):
            continue
    return found


def _kill_group_of(pid: int) -> None:
    """SIGKILL the process group of `pid` (never this process's own group)."""
    try:
        group = os.getpgid(pid)
        if group != os.getpgrp():
            os.killpg(group, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def stop_run(proc: subprocess.Popen | None, token: str, wait_s: float = STOP_WAIT_S) -> list[int]:
    """Kill torchrun (`proc`, its own process group) and every process of the run (each rank's process group),
    and wait until none is alive; return the pids still alive after `wait_s` (empty when all are gone)."""
    import psutil

    if proc is not None and proc.poll() is None:
        _kill_group_of(proc.pid)
        proc.wait()
    deadline = time.monotonic() + wait_s
    while True:
        alive = run_processes(token)
        if not alive:
            return []
        for process in alive:
            _kill_group_of(process.pid)
            try:
                process.kill()
            except psutil.Error:
                pass
        psutil.wait_procs(alive, timeout=0.5)
        if time.monotonic() > deadline:
            return [process.pid for process in run_processes(token)]


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
    """Run torchrun with `dist_settings.world_size` local ranks; return the run's record, appended to `out` once
    every process of the run is gone. SIGINT or SIGTERM here (as `KeyboardInterrupt`) stops every rank, appends
    the run's `killed` record ("interrupted by SIGINT") and raises `Interrupted` carrying it."""
    from harness.interrupts import Interrupted, interrupted_message, interrupts_blocked, signal_name_of
    from harness.records.schema import Record
    from harness.records.store import ResultsStore

    if dist_settings.backend == "auto":
        from dataclasses import replace

        dist_settings = replace(dist_settings, backend=resolve_backend("auto", settings.device))
    out_path = Path(out)
    token = uuid.uuid4().hex
    env = worker_environment(os.environ, settings.threads, settings.allocator)
    env.update(extra_env or {})
    env[RUN_TOKEN_VARIABLE] = token
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="sptx-distributed-") as private, \
            tempfile.TemporaryFile(mode="w+", encoding="utf-8") as stderr:
        # Rank 0 writes its record here, never to `out`: only this process appends there, after the ranks are gone.
        private_out = Path(private) / "record.jsonl"
        command = torchrun_command(settings, dist_settings, out=str(private_out), run_id=run_id, data_dir=data_dir,
                                   save_parameters=save_parameters, round_=round_, rounds=rounds, python=python)
        proc: subprocess.Popen | None = None
        returncode: int | None = None
        stopped_by: KeyboardInterrupt | None = None
        try:
            proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=stderr, env=env,
                                    start_new_session=True, preexec_fn=die_with_parent)
            returncode = proc.wait(timeout=time_limit_s)
        except subprocess.TimeoutExpired:
            pass
        except KeyboardInterrupt as exc:  # SIGINT or SIGTERM: the first one; further ones are ignored now
            stopped_by = exc
        except BaseException:  # torchrun did not start, or something unforeseen: still leave no process behind
            with interrupts_blocked():
                stop_run(proc, token)
            raise
        with interrupts_blocked():  # a stop arriving now is taken once the record is written
            survivors = stop_run(proc, token)
            seconds = time.perf_counter() - started
            stderr.seek(0)
            text = stderr.read()
            found = _records_of_run(private_out, run_id, dist_settings, round_)
            if found:  # rank 0 wrote the whole run's record (a failure while the ranks shut down changes nothing)
                raw = found[-1]
                env_block = raw.get("env") or {}
                if isinstance(env_block.get("command_line"), list):  # name the results file, not the private one
                    env_block["command_line"] = [str(out_path) if arg == str(private_out) else arg
                                                 for arg in env_block["command_line"]]
            else:
                if stopped_by is not None:
                    status, message = "killed", f"{interrupted_message(stopped_by)}; every rank was stopped"
                elif returncode is None:
                    status, message = "timeout", f"exceeded the time limit of {time_limit_s:g} s; every rank was killed"
                elif returncode == 0:
                    status, message = "error", "torchrun succeeded but rank 0 wrote no record"
                else:
                    status, message = failure_message(text, returncode)
                if survivors:
                    message = message.replace("; every rank was stopped", "").replace("; every rank was killed", "")
                    message += f"; {len(survivors)} process(es) of the run survived SIGKILL: {survivors}"
                public = [str(out_path) if arg == str(private_out) else arg for arg in command]
                raw = _failure_record(settings, dist_settings, status, message, run_id, public, round_, rounds)
            ResultsStore(out_path).append(Record(**raw))
    if stopped_by is not None:
        raise Interrupted(signal_name_of(stopped_by), record=raw)
    return LaunchResult(raw, seconds)
