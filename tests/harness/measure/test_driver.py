"""The one step driver: phases run in order, probes see exact boundaries (a fake clock proves each
phase's interval, so moving a boundary fails here), steps are counted from the samples."""

from __future__ import annotations

import pytest
import torch

from harness.measure.driver import PHASES, TRAIN_PHASES, PhaseTimer, Probe, ResourceProbe, drive_step, drive_steps


class FakeClock:
    """A clock that only moves when the fake step says so."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


# Each phase takes a distinct, known time (s), so any mixed-up boundary changes a sample.
PHASE_SECONDS = {"prepare": 0.001, "forward": 0.010, "backward": 0.100, "optimizer": 1.000}
GAP_SECONDS = 5.0  # time spent between steps (e.g. fetching the next batch) must not be counted


class FakeStep:
    """A FrameworkStep stand-in that advances the fake clock by each phase's time and logs the calls."""

    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock
        self.calls: list[str] = []

    def _phase(self, name: str) -> None:
        self.calls.append(name)
        self.clock.advance(PHASE_SECONDS[name])

    def prepare(self, batch):
        self._phase("prepare")
        return ("prepared", batch)

    def forward(self, prepared):
        assert prepared[0] == "prepared"
        self._phase("forward")
        return torch.tensor(float(prepared[1]))

    def backward(self, loss):
        self._phase("backward")

    def optimizer_step(self):
        self._phase("optimizer")


class Batches:
    def __init__(self, clock: FakeClock) -> None:
        self.clock, self.index = clock, 0

    def __iter__(self):
        return self

    def __next__(self) -> int:
        self.clock.advance(GAP_SECONDS)
        self.index += 1
        return self.index


def test_each_phase_interval_is_exactly_its_own_time():
    clock = FakeClock()
    step, timer = FakeStep(clock), PhaseTimer(clock)
    drive_steps(step, Batches(clock), 3, [timer])
    assert step.calls == list(TRAIN_PHASES) * 3
    for phase in TRAIN_PHASES:
        assert timer.samples_ms[phase] == pytest.approx([PHASE_SECONDS[phase] * 1e3] * 3)
    assert timer.samples_ms["step"] == pytest.approx([sum(PHASE_SECONDS.values()) * 1e3] * 3)
    assert timer.steps == 3 and timer.losses == [1.0, 2.0, 3.0]


def test_probes_nest_around_each_phase_in_order():
    events: list[str] = []

    class Logger(Probe):
        def __init__(self, name: str) -> None:
            self.name = name

        def step_start(self, index):
            events.append(f"{self.name}:step_start")

        def phase_start(self, phase):
            events.append(f"{self.name}:start:{phase}")

        def phase_end(self, phase):
            events.append(f"{self.name}:end:{phase}")

        def step_end(self, index, loss):
            events.append(f"{self.name}:step_end")

    clock = FakeClock()
    drive_step(FakeStep(clock), 1, [Logger("outer"), Logger("inner")], phases=("prepare", "forward"))
    assert events == [
        "outer:step_start", "inner:step_start",
        "outer:start:prepare", "inner:start:prepare", "inner:end:prepare", "outer:end:prepare",
        "outer:start:forward", "inner:start:forward", "inner:end:forward", "outer:end:forward",
        "inner:step_end", "outer:step_end",
    ]


def test_a_partial_step_returns_the_prepared_batch_and_the_loss():
    clock = FakeClock()
    step = FakeStep(clock)
    result = drive_step(step, 7, phases=("prepare", "forward", "backward"))
    assert step.calls == ["prepare", "forward", "backward"] and float(result.loss) == 7.0
    assert result.prepared == ("prepared", 7)


def test_resource_probe_records_cpu_time_and_page_faults_per_step():
    clock = FakeClock()
    probe = ResourceProbe()
    drive_steps(FakeStep(clock), Batches(clock), 2, [probe])
    assert set(probe.user_ms) == set(PHASES) and all(len(v) == 2 for v in probe.user_ms.values())
    assert len(probe.minor_faults) == len(probe.major_faults) == 2
    assert all(v >= 0 for v in probe.system_ms["step"])
