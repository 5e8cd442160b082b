"""Lockstep rounds: a worker draws each measured batch only when its turn comes, answers after the step,
counts the machine's load over its own steps only, and waits for its turn to finish."""

from __future__ import annotations

import io
import json

import pytest

from harness.cli import main
from harness.measure import load as machine_load
from harness.measure.driver import drive_steps
from harness.runner.gate import LockstepGate


class CountingBatches:
    """An endless batch iterator that counts how many batches were drawn."""

    def __init__(self) -> None:
        self.drawn = 0

    def __iter__(self):
        return self

    def __next__(self) -> int:
        self.drawn += 1
        return self.drawn


class NoStep:
    """A framework step that does nothing (the driver's phases only)."""

    def prepare(self, batch):
        return batch

    def forward(self, prepared):
        return None

    def backward(self, loss):
        return None

    def optimizer_step(self):
        return None


def test_each_batch_is_drawn_on_its_turn_and_answered_after_its_step():
    commands, replies = io.StringIO("step\nstep\nfinish\n"), io.StringIO()
    gate, batches = LockstepGate(commands, replies, settle_s=0.0), CountingBatches()
    gate.ready()
    drive_steps(NoStep(), gate.turns(batches), 2, [gate])
    assert batches.drawn == 2
    gate.wait_turn_to_finish()
    assert replies.getvalue().split() == ["ready", "done", "done"]
    load = gate.load.as_dict()
    assert set(load) >= {"neighbour_cores", "steal_fraction", "seconds"} and load["seconds"] > 0


def test_a_scheduler_that_goes_away_is_an_error_not_a_hang():
    gate = LockstepGate(io.StringIO(""), io.StringIO(), settle_s=0.0)
    with pytest.raises(RuntimeError, match="expected 'step'"):
        drive_steps(NoStep(), gate.turns(CountingBatches()), 1, [gate])


def test_load_windows_add_up_only_the_windows():
    windows = machine_load.LoadWindows()
    assert windows.as_dict() == {}
    a = machine_load.LoadSnapshot(wall=0.0, loadavg_1m=0.5, system_busy=0.0, steal=0.0, total=0.0, own=0.0)
    b = machine_load.LoadSnapshot(wall=1.0, loadavg_1m=0.5, system_busy=1.5, steal=0.0, total=2.0, own=1.0)
    c = machine_load.LoadSnapshot(wall=10.0, loadavg_1m=0.7, system_busy=20.0, steal=0.0, total=20.0, own=1.0)
    d = machine_load.LoadSnapshot(wall=11.0, loadavg_1m=0.7, system_busy=21.0, steal=0.2, total=22.0, own=2.0)
    windows.add(a, b)
    windows.add(c, d)  # the 18.5 busy seconds between the windows are other workers' turns: not counted
    load = windows.as_dict()
    assert load["seconds"] == pytest.approx(2.0)
    assert load["neighbour_cores"] == pytest.approx(0.25)  # 0.5 s of others over 2 s
    assert load["steal_fraction"] == pytest.approx(0.2 / 4.0)


@pytest.mark.slow
def test_a_lockstep_round_measures_every_framework_and_says_so(tmp_path):
    out = tmp_path / "r.jsonl"
    assert main(["compare", "--dataset", "synthetic:WN18RR", "--dim", "8", "--batch-size", "256", "--steps", "2",
                 "--warmup", "1", "--no-flops", "--no-memory", "--frameworks", "sparse,gather", "--rounds", "1",
                 "--interleave", "steps", "--out", str(out)]) == 0
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert sorted(r["label"] for r in records) == ["gather", "sparse[fused]"]
    assert all(r["status"] == "ok" and r["interleave"] == "steps" and r["steps_measured"] == 2 for r in records)


def test_a_group_whose_memory_limits_exceed_the_machine_is_refused_lockstep():
    from harness.runner import make_cell
    from harness.runner.lockstep import lockstep_memory_refusal

    def cells(limit_mb):
        return [make_cell(f, dataset="synthetic:WN18RR", model="transe", dim=8, batch_size=16,
                          memory_limit_bytes=None if limit_mb is None else limit_mb * 2**20)
                for f in ("sparse", "gather", "pykeen")]

    assert lockstep_memory_refusal(cells(1000), 3000 * 2**20) is None
    reason = lockstep_memory_refusal(cells(1001), 3000 * 2**20)
    assert reason == "3 workers x their memory limits = 2.9 GiB > 2.9 GiB available"
    assert lockstep_memory_refusal(cells(None), 1) is None  # no limits: no figure to add


def test_a_lockstep_round_too_big_for_memory_runs_one_process_after_another(tmp_path, monkeypatch):
    import psutil

    class Tight:
        available = 2 * 2**30

    monkeypatch.setattr(psutil, "virtual_memory", lambda: Tight())
    out = tmp_path / "r.jsonl"
    assert main(["compare", "--dataset", "synthetic:WN18RR", "--dim", "8", "--batch-size", "256", "--steps", "2",
                 "--warmup", "1", "--no-flops", "--no-memory", "--frameworks", "sparse,gather", "--rounds", "1",
                 "--interleave", "steps", "--memory-limit-mb", "2000", "--out", str(out)]) == 0
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert sorted(r["label"] for r in records) == ["gather", "sparse[fused]"]
    assert all(r["status"] == "ok" and r["interleave"] == "processes" for r in records)
