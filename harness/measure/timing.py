"""Per-phase wall-clock timing of training steps, synchronised on CUDA, and robust summaries.

Each phase (prepare, forward, backward, optimizer) is timed on its own; `step` is their sum for the
same step. Warm-up steps run but are not recorded. Every measured step uses the next real batch.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable, Iterator

import numpy as np
import torch

__all__ = ["PHASES", "PhaseStats", "StepTimes", "summarize", "time_steps", "Clock"]

PHASES: tuple[str, ...] = ("prepare", "forward", "backward", "optimizer", "step")


@dataclass(frozen=True)
class PhaseStats:
    """Median, inter-quartile range and a bootstrap 95% confidence interval of the median, in ms."""

    median: float
    iqr: float
    ci_low: float
    ci_high: float

    def as_dict(self) -> dict[str, float]:
        return {"median": self.median, "iqr": self.iqr, "ci_low": self.ci_low, "ci_high": self.ci_high}


def summarize(samples_ms: list[float], seed: int = 0) -> PhaseStats:
    """Summary of one phase's samples; the CI is scipy's percentile bootstrap of the median."""
    values = np.asarray(samples_ms, dtype=float)
    if values.size == 0:
        nan = float("nan")
        return PhaseStats(nan, nan, nan, nan)
    q1, median, q3 = np.percentile(values, [25, 50, 75])
    if values.size < 3 or np.ptp(values) == 0:
        low, high = float(values.min()), float(values.max())
    else:
        from scipy.stats import bootstrap

        result = bootstrap((values,), np.median, confidence_level=0.95, n_resamples=2000,
                           method="percentile", random_state=np.random.default_rng(seed))
        low, high = float(result.confidence_interval.low), float(result.confidence_interval.high)
    return PhaseStats(float(median), float(q3 - q1), low, high)


class Clock:
    """Seconds since an arbitrary origin, after waiting for queued device work (CUDA) to finish.

    On CUDA it also tracks the allocator's peak per phase: `now()` ends one phase and starts the next.
    """

    def __init__(self, device: torch.device) -> None:
        self.device = device
        self.cuda = device.type == "cuda"

    def now(self) -> float:
        if self.cuda:
            torch.cuda.synchronize(self.device)
        return time.perf_counter()

    def phase_peak_bytes(self) -> int:
        """CUDA allocator peak since the last call (0 on CPU), then reset for the next phase."""
        if not self.cuda:
            return 0
        peak = int(torch.cuda.max_memory_allocated(self.device))
        torch.cuda.reset_peak_memory_stats(self.device)
        return peak


@dataclass
class StepTimes:
    """Samples in ms per phase over the measured steps, and the losses seen (for sanity checks)."""

    samples_ms: dict[str, list[float]] = field(default_factory=lambda: {p: [] for p in PHASES})
    losses: list[float] = field(default_factory=list)
    peak_memory_bytes_by_phase: dict[str, int] = field(default_factory=dict)  # CUDA only

    def stats(self) -> dict[str, PhaseStats]:
        return {phase: summarize(values) for phase, values in self.samples_ms.items()}


def time_steps(step, batches: Iterator, warmup: int, steps: int, device: torch.device,
               on_step: Callable[[int], None] | None = None) -> StepTimes:
    """Run `warmup` + `steps` training steps of a FrameworkStep on successive batches, timing each phase.

    `on_step(i)` is called after every step (warm-up included), e.g. to advance a progress bar.
    """
    clock = Clock(device)
    times = StepTimes()
    for i in range(warmup + steps):
        batch = next(batches)
        t0 = clock.now()
        clock.phase_peak_bytes()
        prepared = step.prepare(batch)
        t1 = clock.now()
        peaks = {"prepare": clock.phase_peak_bytes()}
        loss = step.forward(prepared)
        t2 = clock.now()
        peaks["forward"] = clock.phase_peak_bytes()
        step.backward(loss)
        t3 = clock.now()
        peaks["backward"] = clock.phase_peak_bytes()
        step.optimizer_step()
        t4 = clock.now()
        peaks["optimizer"] = clock.phase_peak_bytes()
        if i >= warmup and clock.cuda:
            for phase, peak in peaks.items():
                times.peak_memory_bytes_by_phase[phase] = max(peak, times.peak_memory_bytes_by_phase.get(phase, 0))
        if i >= warmup:
            for phase, (a, b) in zip(PHASES, ((t0, t1), (t1, t2), (t2, t3), (t3, t4), (t0, t4))):
                times.samples_ms[phase].append((b - a) * 1e3)
            times.losses.append(float(loss.detach()))
        if on_step is not None:
            on_step(i)
    return times
