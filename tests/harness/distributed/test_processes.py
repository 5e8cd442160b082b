"""`sptx distributed` processes that behave: Ctrl-C, SIGTERM and the time limit leave no rank alive and nothing
appended after the command exits; a 2-process run alone prints its table; oversubscription is refused."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from harness.cli import main
from harness.settings import available_cores

RANK_MODULE = "harness.distributed.worker"


def _graph(folder: Path) -> Path:
    folder.mkdir(parents=True)
    lines = "".join(f"e{h}\tr{h % 2}\te{(h * 5 + 1) % 9}\n" for h in range(9))
    for split in ("train", "valid", "test"):
        (folder / f"{split}.txt").write_text(lines)
    return folder


def _run_argv(tmp_path: Path, *extra: str) -> list[str]:
    """A 2-rank run on a 9-triple graph that would train far longer than any test waits."""
    return ["distributed", "--dataset", str(_graph(tmp_path / "g")), "--nproc", "2", "--strategy", "dense",
            "--dim", "4", "--batch-size", "6", "--steps", "10000000", "--warmup", "1", "--rounds", "1",
            "--threads", "1", "--out", str(tmp_path / "r.jsonl"), *extra]


class _Watched:
    """Every process below the `sptx` subprocess seen so far (torchrun and the ranks), with its process group."""

    def __init__(self, proc: subprocess.Popen) -> None:
        self.root = psutil.Process(proc.pid)
        self.seen: dict[int, tuple[float, int]] = {}  # pid -> (create time, process group)

    def poll(self) -> list[psutil.Process]:
        """Record the descendants alive now; return the ranks among them."""
        ranks = []
        try:
            children = self.root.children(recursive=True)
        except psutil.NoSuchProcess:
            return []
        for child in children:
            try:
                self.seen.setdefault(child.pid, (child.create_time(), os.getpgid(child.pid)))
                command = " ".join(child.cmdline())
            except (psutil.NoSuchProcess, ProcessLookupError):
                continue
            if RANK_MODULE in command and "torch.distributed.run" not in command:
                ranks.append(child)
        return ranks

    def wait_for_ranks(self, count: int, timeout_s: float = 60.0) -> None:
        deadline = time.monotonic() + timeout_s
        while len(self.poll()) < count:
            assert time.monotonic() < deadline, f"the {count} ranks did not start within {timeout_s:g} s"
            time.sleep(0.05)

    def alive(self) -> list[str]:
        """Processes of the run still alive (by pid, guarded against reuse, and by process group)."""
        groups = {group for _, group in self.seen.values() if group != os.getpgrp()}
        found = []
        for process in psutil.process_iter(["pid", "create_time", "status", "cmdline"]):
            info = process.info
            if info["status"] == psutil.STATUS_ZOMBIE or info["pid"] == os.getpid():
                continue
            mine = self.seen.get(info["pid"])
            try:
                in_group = os.getpgid(info["pid"]) in groups
            except ProcessLookupError:
                continue
            if (mine and mine[0] == info["create_time"]) or in_group:
                found.append(f"{info['pid']}: {' '.join(info['cmdline'] or [])[:120]}")
        return found

    def kill_all(self) -> None:
        """Test cleanup: kill whatever of the run survived."""
        for pid, (_, group) in self.seen.items():
            for kill, target in ((os.killpg, group), (os.kill, pid)):
                try:
                    if target != os.getpgrp():
                        kill(target, signal.SIGKILL)
                except (ProcessLookupError, PermissionError):
                    pass


def _start(tmp_path: Path, *extra: str) -> tuple[subprocess.Popen, _Watched]:
    proc = subprocess.Popen([sys.executable, "-m", "harness.cli", *_run_argv(tmp_path, *extra)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    return proc, _Watched(proc)


def _finish(proc: subprocess.Popen, watched: _Watched, timeout_s: float = 60.0) -> tuple[str, str]:
    """Wait for the command, watching its processes meanwhile; return its stdout and stderr."""
    deadline = time.monotonic() + timeout_s
    while proc.poll() is None:
        watched.poll()
        assert time.monotonic() < deadline, "sptx distributed did not exit"
        time.sleep(0.05)
    return proc.communicate()


def _assert_gone_and_nothing_appended(watched: _Watched, out: Path) -> list[dict]:
    """No process of the run is alive once the command has exited, and the results file stays as it was."""
    assert watched.alive() == []
    written = out.read_bytes()
    time.sleep(1.5)  # a surviving rank would append its record within this (it was 8 s after Ctrl-C before)
    assert watched.alive() == []
    assert out.read_bytes() == written
    return [json.loads(line) for line in written.decode().splitlines()]


@pytest.mark.slow
@pytest.mark.parametrize("signal_", [signal.SIGINT, signal.SIGTERM])
def test_a_stop_signal_stops_every_rank_and_nothing_is_appended_after_exit(tmp_path: Path, signal_) -> None:
    proc, watched = _start(tmp_path)
    try:
        watched.wait_for_ranks(2)
        time.sleep(1.0)  # the ranks are importing, loading or training now
        assert len(watched.poll()) == 2
        os.kill(proc.pid, signal_)
        stdout, stderr = _finish(proc, watched, timeout_s=30)
        assert proc.returncode == 130, stderr
        assert stderr.strip().splitlines()[-1] == "sptx distributed: interrupted" and "Traceback" not in stderr
        records = _assert_gone_and_nothing_appended(watched, tmp_path / "r.jsonl")
        assert [(r["status"], r["message"]) for r in records] == [
            ("killed", f"interrupted by {signal_.name}; every rank was stopped")]
        assert records[0]["distributed"]["world_size"] == 2
        assert "1 record(s) appended" in stdout and "killed" in stdout
    finally:
        proc.kill()
        watched.kill_all()


@pytest.mark.slow
def test_a_killed_sptx_takes_torchrun_and_the_ranks_with_it(tmp_path: Path) -> None:
    proc, watched = _start(tmp_path)
    try:
        watched.wait_for_ranks(2)
        os.kill(proc.pid, signal.SIGKILL)  # no handler runs: the kernel's parent-death signals must do it
        proc.communicate(timeout=30)
        deadline = time.monotonic() + 30  # a rank still importing stops once it reaches main()
        while watched.alive() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert watched.alive() == []
        assert not (tmp_path / "r.jsonl").exists()
    finally:
        watched.kill_all()


@pytest.mark.slow
def test_the_time_limit_stops_every_rank_and_records_a_timeout(tmp_path: Path) -> None:
    proc, watched = _start(tmp_path, "--time-limit", "5")
    try:
        stdout, stderr = _finish(proc, watched, timeout_s=60)
        assert proc.returncode == 1, stdout + stderr
        assert "Traceback" not in stderr
        assert len(watched.seen) >= 1, stdout  # torchrun (and, but for a very slow start, the ranks) ran
        records = _assert_gone_and_nothing_appended(watched, tmp_path / "r.jsonl")
        assert [(r["status"], r["message"]) for r in records] == [
            ("timeout", "exceeded the time limit of 5 s; every rank was killed")], stdout
    finally:
        proc.kill()
        watched.kill_all()


@pytest.mark.slow
def test_two_processes_alone_print_their_table_without_efficiency(tmp_path: Path, capsys) -> None:
    argv = _run_argv(tmp_path)
    argv[argv.index("--steps") + 1] = "2"
    assert main(argv) == 0
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err
    rows = [line for line in captured.out.splitlines() if line.startswith("│ dense")]
    assert len(rows) == 1
    cells = [cell.strip() for cell in rows[0].strip("│").split("│")]
    assert cells[:3] == ["dense", "2", "ok"] and cells[-1] == "-"  # no 1-process run: efficiency unknown
    assert "1 record(s) appended" in captured.out


def test_the_table_shows_a_dash_where_a_value_is_unknown(capsys) -> None:
    from harness.cli.distributed_cmd import DistributedCommand
    from harness.cli.base import make_console
    from harness.settings import RunSettings

    settings = RunSettings(model="transe", dataset="FB15k-237", dim=8, batch_size=64, threads=1).to_dict()
    stats = {"median": 10.0, "iqr": 0.0, "ci_low": 9.0, "ci_high": 11.0}
    record = {"record_type": "distributed", "run_id": "r", "framework": "sparse", "settings": settings,
              "status": "ok", "message": "", "round": 0, "rounds": 1,
              "time_ms": {"step": stats, "compute": stats, "communicate": stats, "adam": stats},
              "samples": {"wall_ms": {"compute": [10.0], "adam": [1.0]}}, "load": {}, "disturbed": False,
              "distributed": {"world_size": 2, "backend": "gloo", "strategy": "dense", "sent_bytes_per_step": 2**20,
                              "payload_bytes_per_step": 2**20, "touched_rows_per_step": 5,
                              "parameters_identical": True}}
    DistributedCommand._print_table(make_console(), [record])
    out = capsys.readouterr().out
    row = next(line for line in out.splitlines() if line.startswith("│ dense"))
    assert row.strip("│ ").endswith("-") and "1.00" in row  # 1 MiB sent per rank; efficiency unknown


def test_more_ranks_times_threads_than_cores_is_refused_in_one_line(tmp_path: Path, capsys) -> None:
    cores = available_cores()
    out = tmp_path / "r.jsonl"
    code = main(["distributed", "--dataset", str(_graph(tmp_path / "g")), "--nproc", str(cores + 1),
                 "--threads", "1", "--out", str(out)])
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1 and err.startswith("sptx distributed: error: ") and "--oversubscribe" in err
    assert f"{cores + 1} process(es) x 1 thread(s)" in err
    assert not out.exists()


def test_the_default_threads_never_oversubscribe_and_64_ranks_are_refused(tmp_path: Path, capsys, monkeypatch) -> None:
    import harness.settings

    monkeypatch.setattr(harness.settings, "available_cores", lambda: 2)
    code = main(["distributed", "--dataset", str(_graph(tmp_path / "g")), "--nproc", "64", "--out",
                 str(tmp_path / "r.jsonl")])
    err = capsys.readouterr().err
    assert code == 2 and "64 process(es) x 1 thread(s) = 64 threads" in err and "2 core(s)" in err


def test_oversubscribe_warns_in_one_line(monkeypatch) -> None:
    import harness.settings
    from harness.distributed.launch import check_cores

    monkeypatch.setattr(harness.settings, "available_cores", lambda: 2)
    assert check_cores(2, 1) is None
    warning = check_cores(3, 1, allow=True)
    assert warning.startswith("warning: 3 process(es) x 1 thread(s)") and "\n" not in warning
