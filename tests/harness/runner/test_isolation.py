"""Cells in fresh processes: failures of every kind become exactly one record, and the run goes on."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from harness.records.store import ResultsStore
from harness.runner import Cell, make_cell, run_cells

HERE = Path(__file__).resolve().parent
PLUGIN_ENV = {"SPTX_PLUGINS": "faulty_frameworks",
              "PYTHONPATH": os.pathsep.join(filter(None, [str(HERE), os.environ.get("PYTHONPATH")]))}

pytestmark = pytest.mark.slow


@pytest.fixture
def plugin_env(monkeypatch):
    from baselines import FRAMEWORKS

    for key, value in PLUGIN_ENV.items():
        monkeypatch.setenv(key, value)
    before = dict(FRAMEWORKS)
    sys.path.insert(0, str(HERE))
    import faulty_frameworks

    for cls in vars(faulty_frameworks).values():  # registered on first import only: register them again
        if isinstance(cls, type) and getattr(cls, "name", "").startswith("test-"):
            FRAMEWORKS[cls.name] = cls
    yield
    sys.path.remove(str(HERE))
    FRAMEWORKS.clear()
    FRAMEWORKS.update(before)  # the test frameworks do not leak into later tests' registries


def tiny_cell(framework: str, **changes) -> Cell:
    settings = dict(model="transe", dataset="synthetic:WN18RR", dim=8, batch_size=256,
                    steps=3, warmup=1, time_limit_s=60.0, measure_flops=False)
    settings.update(changes)
    return make_cell(framework, **settings)


def test_failures_become_records_and_the_run_goes_on(plugin_env, tmp_path):
    cells = [
        tiny_cell("test-raises"),
        tiny_cell("test-sleeps", time_limit_s=8.0),
        tiny_cell("test-greedy", memory_limit_bytes=1536 * 2**20),
        tiny_cell("pyg", model="transr"),
        tiny_cell("test-killed"),
        tiny_cell("torchkge", batch_size=10**6),
        tiny_cell("sparse", measure_flops=True, backend="segment"),
    ]
    store = ResultsStore(tmp_path / "r.jsonl")
    summary = run_cells(cells, store, progress=False)
    by_framework = {r["framework"]: r for r in store.records()}
    assert len(summary.records) == len(store.records()) == len(cells)
    assert by_framework["test-raises"]["status"] == "error"
    assert "deliberate failure in forward" in by_framework["test-raises"]["message"]
    assert by_framework["test-sleeps"]["status"] == "timeout"
    assert "time limit" in by_framework["test-sleeps"]["message"]
    assert by_framework["test-greedy"]["status"] == "oom", by_framework["test-greedy"]["message"]
    assert "over the memory limit of 1,536 MiB" in by_framework["test-greedy"]["message"]
    assert by_framework["pyg"]["status"] == "unsupported" and "transr" in by_framework["pyg"]["message"]
    # a SIGKILL from outside is not called an out-of-memory kill (it was once recorded as "oom")
    assert by_framework["test-killed"]["status"] == "killed", by_framework["test-killed"]["message"]
    # a batch larger than the training set is an error, never a record of a batch that was not used
    assert by_framework["torchkge"]["status"] == "error" and "larger than" in by_framework["torchkge"]["message"]
    ok = by_framework["sparse"]
    assert ok["status"] == "ok" and ok["steps_measured"] == 3 and ok["flops_executed"] > 0
    assert set(ok["time_ms"]) == {"prepare", "forward", "backward", "optimizer", "step"}
    assert ok["time_ms"]["step"]["ci_low"] <= ok["time_ms"]["step"]["median"] <= ok["time_ms"]["step"]["ci_high"]
    assert ok["dataset_kind"] == "synthetic" and ok["peak_memory_bytes"] > 0
    assert ok["rss_growth_first_step_bytes"] is not None


def test_unavailable_device_is_a_record_not_a_crash(tmp_path):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    store = ResultsStore(tmp_path / "r.jsonl")
    run_cells([tiny_cell("sparse", device="cuda")], store, progress=False)
    (record,) = store.records()
    assert record["status"] == "unavailable" and "CUDA" in record["message"]


def test_records_carry_the_environment(tmp_path):
    store = ResultsStore(tmp_path / "r.jsonl")
    run_cells([tiny_cell("gather", steps=2)], store, progress=False, command_line=["sptx", "test"])
    (record,) = store.records()
    env = record["env"]
    for key in ("python", "versions", "cpu", "cores_logical", "threads", "gpu", "git_commit", "command_line", "seed"):
        assert key in env, key
    assert env["versions"]["torch"] and env["command_line"] == ["sptx", "test"]
    assert record["schema_version"] == 3 and record["run_id"]


def test_a_record_carries_what_makes_its_numbers_interpretable(tmp_path):
    """Threads, allocator, raw samples, rounds, page faults, CPU time, load, code version, settings, FLOPs."""
    store = ResultsStore(tmp_path / "r.jsonl")
    cell = tiny_cell("gather", steps=4, threads=1, measure_flops=True)
    run_cells([cell], store, progress=False)
    (record,) = store.records()
    assert record["status"] == "ok", record["message"]
    settings = record["settings"]
    assert settings["threads"] == 1 and settings["allocator"] == "pinned" and settings["steps"] == 4
    assert record["env"]["threads"] == 1 and record["env"]["process_env"]["OMP_NUM_THREADS"] == "1"
    assert "mmap_threshold" in record["env"]["process_env"]["GLIBC_TUNABLES"]
    samples = record["samples"]
    assert record["steps_measured"] == len(samples["wall_ms"]["step"]) == 4  # counted, not copied
    assert len(samples["user_ms"]["forward"]) == len(samples["minor_faults"]) == len(samples["major_faults"]) == 4
    assert set(record["cpu_time_ms"]) == {"prepare", "forward", "backward", "optimizer", "step"}
    assert {"loadavg_1m_start", "loadavg_1m_end", "steal_fraction", "neighbour_cores"} <= set(record["load"])
    assert record["round"] == 0 and record["rounds"] == 1 and record["code_version"] == cell.code_version
    assert record["flops_model"] > 0 and record["flops_executed"] > 0
    assert record["min_bytes_per_step"] > 0 and record["bandwidth_bytes_per_s"] > 0
    assert record["group_key"] == cell.group_key and record["cell_key"] == cell.key


def test_sparse_and_gather_records_carry_the_same_model_flops(tmp_path):
    store = ResultsStore(tmp_path / "r.jsonl")
    run_cells([tiny_cell("sparse", steps=1), tiny_cell("gather", steps=1)], store, progress=False)
    sparse, gather = store.records()
    assert sparse["flops_model"] == gather["flops_model"] > 0


def test_kernels_the_flop_counter_cannot_see_leave_executed_flops_unknown_not_zero(tmp_path):
    from sparse_impl.backends import BACKENDS

    if (reason := BACKENDS["fused"].unavailable_reason()) is not None:
        pytest.skip(reason)
    store = ResultsStore(tmp_path / "r.jsonl")
    run_cells([tiny_cell("sparse", steps=1, measure_flops=True, backend="fused")], store, progress=False)
    (record,) = store.records()
    assert record["status"] == "ok" and record["flops_executed"] is None and record["flops_model"] > 0
    assert "executed FLOPs not counted: the fused backend's numba kernels" in record["message"]


def test_the_default_allocator_drops_the_pinned_tunables(tmp_path):
    store = ResultsStore(tmp_path / "r.jsonl")
    run_cells([tiny_cell("gather", steps=1, allocator="default")], store, progress=False)
    (record,) = store.records()
    assert record["status"] == "ok" and record["settings"]["allocator"] == "default"
    assert not record["env"]["process_env"]["GLIBC_TUNABLES"]


def _records_in(path: Path) -> list[str]:
    return [line for line in path.read_text().splitlines() if line.strip()] if path.exists() else []


def test_a_killed_run_resumes_with_every_cell_exactly_once(tmp_path):
    out = tmp_path / "r.jsonl"
    argv = [sys.executable, "-m", "harness.cli", "compare", "--dataset", "synthetic:WN18RR", "--dim", "8",
            "--batch-size", "256", "--steps", "3", "--warmup", "1", "--no-flops", "--rounds", "1", "--out", str(out),
            "--frameworks", "test-slow,gather,sparse,torchkge"]
    env = dict(os.environ, **PLUGIN_ENV)
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + 120
    while len(_records_in(out)) < 1 and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.2)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    before = len(_records_in(out))
    assert 1 <= before < 4, "the run should have been killed part-way"
    done = subprocess.run(argv + ["--resume"], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    records = ResultsStore(out).records()
    keys = [r["cell_key"] for r in records]
    assert len(keys) == len(set(keys)) == 4
    assert {r["framework"] for r in records} == {"test-slow", "gather", "sparse", "torchkge"}


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_to_the_parent_records_the_cell_in_flight_as_killed(tmp_path, signum):
    import psutil

    out = tmp_path / "r.jsonl"
    argv = [sys.executable, "-m", "harness.cli", "compare", "--dataset", "synthetic:WN18RR", "--dim", "8",
            "--batch-size", "256", "--steps", "3", "--warmup", "1", "--no-flops", "--rounds", "1", "--out", str(out),
            "--frameworks", "test-sleeps"]
    proc = subprocess.Popen(argv, env=dict(os.environ, **PLUGIN_ENV), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while proc.poll() is None and time.monotonic() < deadline and not any(
            "harness.runner.worker" in child.cmdline() for child in psutil.Process(proc.pid).children()):
        time.sleep(0.2)
    os.kill(proc.pid, signum)  # the parent only: the worker runs in a session of its own
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130, stderr
    assert stderr.strip().splitlines()[-1] == "sptx compare: interrupted" and "Traceback" not in stderr
    (record,) = ResultsStore(out).records()
    assert record["status"] == "killed" and record["framework"] == "test-sleeps"
    assert record["message"].startswith(f"interrupted by {signal.Signals(signum).name}")


def test_a_sigkill_counts_as_oom_only_when_the_kernels_oom_count_rose(tmp_path, monkeypatch):
    """cgroup v2's memory.events first, else /proc/vmstat (cgroup v1 machines, global OOM kills)."""
    from harness.runner import isolation

    events, vmstat = tmp_path / "memory.events", tmp_path / "vmstat"
    vmstat.write_text("pgfault 10\noom_kill 3\n")
    monkeypatch.setattr(isolation, "_OOM_COUNTERS", ((events, "oom_kill"), (vmstat, "oom_kill")))
    before = isolation._oom_kills()
    assert before == 3  # no memory.events here: the machine's count
    assert isolation._classify_kill("SIGKILL", before)[0] == "killed"
    vmstat.write_text("pgfault 10\noom_kill 4\n")
    status, message = isolation._classify_kill("SIGKILL", before)
    assert status == "oom" and "out-of-memory killer" in message
    events.write_text("low 0\noom_kill 0\n")
    assert isolation._oom_kills() == 0  # the cgroup's own count comes first
    assert isolation._classify_kill("SIGTERM", 0) == ("error", "worker killed by SIGTERM")
