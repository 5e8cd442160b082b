"""The one place a training step is driven: prepare -> forward -> backward -> optimizer, with probes
(timing, CPU time and page faults, memory, FLOPs) attached to its phase boundaries, as TorchBench
runs every model's phases in one harness.

A probe sees `step_start`, then `phase_start(p)` / `phase_end(p)` around each phase, then `step_end`.
Probes are entered in list order and left in reverse order, so the last probe in the list sits
closest to the phase itself: put the clock last.
"""

from __future__ import annotations

import resource
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator, Sequence

import torch

__all__ = [
    "PHASES",
    "TRAIN_PHASES",
    "CudaEventTimer",
    "PhaseTimer",
    "Probe",
    "ResourceProbe",
    "StepResult",
    "drive_step",
    "drive_steps",
    "monotonic_clock",
]

TRAIN_PHASES: tuple[str, ...] = ("prepare", "forward", "backward", "optimizer")
PHASES: tuple[str, ...] = (*TRAIN_PHASES, "step")  # "step": from the start of prepare to the end of optimizer


class Probe:
    """A no-op observer of one step; subclasses override what they measure."""

    def step_start(self, index: int) -> None:
        """Before the first phase of step `index`."""

    def phase_start(self, phase: str) -> None:
        """Right before `phase` runs."""

    def phase_end(self, phase: str) -> None:
        """Right after `phase` returned."""

    def step_end(self, index: int, loss: torch.Tensor | None) -> None:
        """After the last phase of step `index`."""


@dataclass
class StepResult:
    """What one driven step produced: the prepared batch and the loss (None when forward did not run)."""

    prepared: Any
    loss: torch.Tensor | None


def _run_phase(phase: str, step: Any, batch: Any, state: StepResult) -> None:
    if phase == "prepare":
        state.prepared = step.prepare(batch)
    elif phase == "forward":
        state.loss = step.forward(state.prepared)
    elif phase == "backward":
        step.backward(state.loss)
    elif phase == "optimizer":
        step.optimizer_step()
    else:
        raise ValueError(f"unknown phase {phase!r}")


def drive_step(step: Any, batch: Any, probes: Sequence[Probe] = (), index: int = 0,
               phases: Sequence[str] = TRAIN_PHASES) -> StepResult:
    """Run `phases` of one FrameworkStep on `batch`, notifying every probe at each boundary."""
    state = StepResult(None, None)
    for probe in probes:
        probe.step_start(index)
    for phase in phases:
        for probe in probes:
            probe.phase_start(phase)
        _run_phase(phase, step, batch, state)
        for probe in reversed(probes):
            probe.phase_end(phase)
    for probe in reversed(probes):
        probe.step_end(index, state.loss)
    return state


def drive_steps(step: Any, batches: Iterator[Any], count: int, probes: Sequence[Probe] = ()) -> None:
    """`count` full steps on successive batches, each driven by drive_step with the same probes."""
    for index in range(count):
        drive_step(step, next(batches), probes, index)


def monotonic_clock(device: torch.device) -> Callable[[], float]:
    """Seconds from perf_counter, after waiting for queued CUDA work when `device` is CUDA."""
    if device.type == "cuda":
        def now() -> float:
            torch.cuda.synchronize(device)
            return time.perf_counter()
        return now
    return time.perf_counter


def _per_phase() -> dict[str, list[float]]:
    """An empty sample list for every phase and the whole step."""
    return {p: [] for p in PHASES}


@dataclass
class PhaseTimer(Probe):
    """Wall-clock ms per phase and per whole step, from an injectable clock (tests pass a fake one)."""

    clock: Callable[[], float] = time.perf_counter
    samples_ms: dict[str, list[float]] = field(default_factory=_per_phase)
    losses: list[float] = field(default_factory=list)
    _phase_started: float = 0.0
    _step_started: float = 0.0
    _step_ended: float = 0.0

    def phase_start(self, phase: str) -> None:
        now = self.clock()
        if phase == TRAIN_PHASES[0]:
            self._step_started = now
        self._phase_started = now

    def phase_end(self, phase: str) -> None:
        now = self.clock()
        self.samples_ms[phase].append((now - self._phase_started) * 1e3)
        self._step_ended = now

    def step_end(self, index: int, loss: torch.Tensor | None) -> None:
        self.samples_ms["step"].append((self._step_ended - self._step_started) * 1e3)
        if loss is not None:
            self.losses.append(float(loss.detach()))

    @property
    def steps(self) -> int:
        """Steps measured, counted from the samples."""
        return len(self.samples_ms["step"])


def _rusage() -> resource.struct_rusage:
    return resource.getrusage(resource.RUSAGE_SELF)


@dataclass
class ResourceProbe(Probe):
    """User and system CPU ms per phase (all threads of this process) and page faults per step."""

    user_ms: dict[str, list[float]] = field(default_factory=_per_phase)
    system_ms: dict[str, list[float]] = field(default_factory=_per_phase)
    minor_faults: list[int] = field(default_factory=list)
    major_faults: list[int] = field(default_factory=list)
    _phase: Any = None
    _step: Any = None

    def step_start(self, index: int) -> None:
        self._step = _rusage()

    def phase_start(self, phase: str) -> None:
        self._phase = _rusage()

    def phase_end(self, phase: str) -> None:
        self._append(phase, self._phase, _rusage())

    def step_end(self, index: int, loss: torch.Tensor | None) -> None:
        end = _rusage()
        self._append("step", self._step, end)
        self.minor_faults.append(end.ru_minflt - self._step.ru_minflt)
        self.major_faults.append(end.ru_majflt - self._step.ru_majflt)

    def _append(self, phase: str, start: Any, end: Any) -> None:
        self.user_ms[phase].append((end.ru_utime - start.ru_utime) * 1e3)
        self.system_ms[phase].append((end.ru_stime - start.ru_stime) * 1e3)


@dataclass
class CudaEventTimer(Probe):
    """Whole-step ms from CUDA events, with no synchronisation inside the step (phases may overlap on
    the device as they do in training); read `samples_ms` after `finish()`."""

    device: torch.device
    samples_ms: list[float] = field(default_factory=list)
    _pairs: list[tuple[Any, Any]] = field(default_factory=list)

    def step_start(self, index: int) -> None:
        start = torch.cuda.Event(enable_timing=True)
        start.record()
        self._pairs.append((start, None))

    def step_end(self, index: int, loss: torch.Tensor | None) -> None:
        end = torch.cuda.Event(enable_timing=True)
        end.record()
        self._pairs[-1] = (self._pairs[-1][0], end)

    def finish(self) -> list[float]:
        torch.cuda.synchronize(self.device)
        self.samples_ms = [float(a.elapsed_time(b)) for a, b in self._pairs]
        return self.samples_ms
