"""How busy the machine was while a cell measured: load average, CPU steal, and the CPU time other
processes used (from system-wide and own CPU counters), so a disturbed measurement can say so."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass

import psutil

__all__ = ["LoadSnapshot", "LoadWindows", "NEIGHBOUR_CORES_LIMIT", "STEAL_LIMIT", "SYSTEM_TIME_LIMIT", "disturbed",
           "load_between", "noisy_reasons", "snapshot"]

# Thresholds above which a record is marked noisy (each a reason of its own).
NEIGHBOUR_CORES_LIMIT = 0.25  # cores used on average by other processes during the measured steps
STEAL_LIMIT = 0.05  # fraction of CPU time stolen by the hypervisor
SYSTEM_TIME_LIMIT = 0.10  # system CPU time as a fraction of the step's wall time


@dataclass(frozen=True)
class LoadSnapshot:
    """System-wide and own CPU counters at one moment (seconds, summed over CPUs)."""

    wall: float
    loadavg_1m: float | None
    system_busy: float
    steal: float
    total: float
    own: float


def snapshot() -> LoadSnapshot:
    """The counters now."""
    cpu = psutil.cpu_times()
    steal = float(getattr(cpu, "steal", 0.0))
    idle = float(cpu.idle) + float(getattr(cpu, "iowait", 0.0))
    total = float(sum(cpu))
    own = psutil.Process().cpu_times()
    try:
        load = float(os.getloadavg()[0])
    except OSError:  # pragma: no cover - platforms without it
        load = None
    return LoadSnapshot(time.perf_counter(), load, total - idle - steal, steal, total,
                        float(own.user + own.system + own.children_user + own.children_system))


def load_between(start: LoadSnapshot, end: LoadSnapshot) -> dict[str, float | None]:
    """Load average at both ends, steal fraction, and cores other processes kept busy in between."""
    window = LoadWindows()
    window.add(start, end)
    return window.as_dict()


class LoadWindows:
    """The load over one or several separate windows (a lockstep worker's own steps, between which other
    workers of the same comparison run): load average at the ends, steal fraction, and the cores other
    processes kept busy, summed over the windows only."""

    def __init__(self) -> None:
        self._windows: list[tuple[LoadSnapshot, LoadSnapshot]] = []

    def add(self, start: LoadSnapshot, end: LoadSnapshot) -> None:
        self._windows.append((start, end))

    def as_dict(self) -> dict[str, float | None]:
        if not self._windows:
            return {}
        wall = max(sum(e.wall - s.wall for s, e in self._windows), 1e-9)
        total = max(sum(e.total - s.total for s, e in self._windows), 1e-9)
        steal = sum(e.steal - s.steal for s, e in self._windows)
        others = sum((e.system_busy - s.system_busy) - (e.own - s.own) for s, e in self._windows)
        return {
            "loadavg_1m_start": self._windows[0][0].loadavg_1m,
            "loadavg_1m_end": self._windows[-1][1].loadavg_1m,
            "steal_fraction": steal / total,
            "neighbour_cores": max(others, 0.0) / wall,
            "seconds": wall,
        }


def _disturbances(load: dict[str, float | None]) -> list[str]:
    """What took CPU time from the measurement: other processes, or the hypervisor (steal)."""
    reasons = []
    neighbours = load.get("neighbour_cores")
    if neighbours is not None and neighbours > NEIGHBOUR_CORES_LIMIT:
        reasons.append(f"other processes kept {neighbours:.2f} cores busy")
    steal = load.get("steal_fraction")
    if steal is not None and steal > STEAL_LIMIT:
        reasons.append(f"{steal:.0%} of CPU time stolen by the hypervisor")
    return reasons


def disturbed(load: dict[str, float | None]) -> bool:
    """True when other processes or the hypervisor took CPU time from the measurement."""
    return bool(_disturbances(load))


def noisy_reasons(load: dict[str, float | None], system_ms: float | None, step_ms: float | None) -> list[str]:
    """Why a measurement may be off: busy neighbours, CPU steal, or heavy system time."""
    reasons = _disturbances(load)
    if system_ms is not None and step_ms and system_ms > SYSTEM_TIME_LIMIT * step_ms:
        reasons.append(f"system CPU time is {system_ms / step_ms:.0%} of the step (page faults, allocator)")
    return reasons
