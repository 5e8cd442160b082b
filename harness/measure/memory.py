"""Memory of a training step: CUDA peak per phase, CPU live-tensor peak (from the profiler's allocator
records), and process RSS."""

from __future__ import annotations

import sys
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Iterator

import psutil
import torch

from harness.errors import SptxError

try:
    import resource
except ImportError:  # pragma: no cover - Windows
    resource = None  # type: ignore[assignment]

__all__ = [
    "CudaPeakTracker",
    "LiveTensorPeak",
    "RssProbe",
    "cuda_peak_tracker",
    "current_rss_bytes",
    "live_tensor_peak",
    "peak_rss_bytes",
    "state_bytes",
    "step_live_tensor_peak",
]


@dataclass
class CudaPeakTracker:
    """Peak CUDA bytes allocated per phase (`with tracker.phase("forward"): ...`), by the caching allocator's
    peak statistics; `baseline_bytes` is what was allocated when the tracker started."""

    device: torch.device
    baseline_bytes: int = 0
    peaks: dict[str, int] = field(default_factory=dict)

    @contextmanager
    def phase(self, name: str) -> Iterator[None]:
        """Record the peak allocated bytes (baseline included) while the block runs."""
        torch.cuda.synchronize(self.device)
        torch.cuda.reset_peak_memory_stats(self.device)
        yield
        torch.cuda.synchronize(self.device)
        self.peaks[name] = max(self.peaks.get(name, 0), torch.cuda.max_memory_allocated(self.device))


@contextmanager
def cuda_peak_tracker(device: torch.device | str) -> Iterator[CudaPeakTracker]:
    """A CudaPeakTracker for a CUDA device; raises SptxError when that device is not CUDA or absent."""
    device = torch.device(device)
    if device.type != "cuda" or not torch.cuda.is_available():
        raise SptxError(f"CUDA peak memory needs an available CUDA device, not {device}")
    torch.cuda.synchronize(device)
    yield CudaPeakTracker(device, baseline_bytes=torch.cuda.memory_allocated(device))


@dataclass(frozen=True)
class LiveTensorPeak:
    """Bytes of live CPU tensors: `baseline_bytes` at the start, `peak_bytes` the highest during the call
    (baseline included)."""

    baseline_bytes: int
    peak_bytes: int

    @property
    def growth_bytes(self) -> int:
        """The call's additional peak over its start."""
        return self.peak_bytes - self.baseline_bytes


def _start_ns(event: Any) -> int:
    """Start time of a kineto event in ns (torch < 2.3 only has start_us)."""
    return event.start_ns() if hasattr(event, "start_ns") else event.start_us() * 1000


def _allocation_deltas(prof: Any, device_type: str) -> list[tuple[int, int]]:
    """(time, signed bytes) of every allocator record of `device_type` seen by the profiler.

    Uses the raw records (each allocation and free, even inside one op); falls back to the public events
    (an op's own allocations, net, plus frees outside ops) on torch builds without them.
    """
    results = getattr(getattr(prof, "profiler", None), "kineto_results", None)
    if results is not None:
        return [(_start_ns(ev), ev.nbytes()) for ev in results.events()
                if ev.name() == "[memory]" and ev.device_type().name == device_type.upper()]
    deltas = []
    for ev in prof.events():
        nbytes = ev.cpu_memory_usage if ev.name == "[memory]" else ev.self_cpu_memory_usage
        if nbytes:
            deltas.append((int(ev.time_range.start * 1000), int(nbytes)))
    return deltas


def _peak_growth(deltas: Iterable[tuple[int, int]]) -> int:
    """Largest running sum of time-ordered byte deltas (0 when it never rises above the start)."""
    live = peak = 0
    for _, nbytes in sorted(deltas, key=lambda d: d[0]):
        live += nbytes
        peak = max(peak, live)
    return peak


def live_tensor_peak(fn: Callable[[], object], baseline_bytes: int = 0) -> LiveTensorPeak:
    """Run `fn()` under torch.profiler(profile_memory=True) and report the peak of live CPU tensor bytes
    over its start; `baseline_bytes` (what was live before, e.g. state_bytes(step)) is added to both."""
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        fn()
    return LiveTensorPeak(baseline_bytes, baseline_bytes + _peak_growth(_allocation_deltas(prof, "cpu")))


def _held_tensors(obj: Any) -> Iterator[torch.Tensor]:
    """Tensors held by modules, optimizers and tensors among `obj`'s attributes (one level deep)."""
    values = vars(obj).values() if hasattr(obj, "__dict__") else ()
    for value in [obj, *values]:
        if isinstance(value, torch.Tensor):
            yield value
        elif isinstance(value, torch.nn.Module):
            yield from value.parameters()
            yield from value.buffers()
        elif isinstance(value, torch.optim.Optimizer):
            for state in value.state.values():
                yield from (v for v in state.values() if isinstance(v, torch.Tensor))


def state_bytes(obj: Any, device_type: str = "cpu") -> int:
    """Bytes of the distinct storages of the tensors `obj` holds (parameters, buffers, optimizer state)."""
    storages: dict[int, int] = {}
    for tensor in _held_tensors(obj):
        if tensor.device.type == device_type and tensor.layout == torch.strided:
            storage = tensor.untyped_storage()
            storages[storage.data_ptr()] = storage.nbytes()
    return sum(storages.values())


def step_live_tensor_peak(step: Any, batch: Any) -> LiveTensorPeak:
    """Live CPU tensor peak of one full driven step (prepare, forward, backward, optimizer), over the
    bytes the step object holds at its start (parameters and optimizer state)."""
    from harness.measure.driver import drive_step

    return live_tensor_peak(lambda: drive_step(step, batch), baseline_bytes=state_bytes(step))


@dataclass
class RssProbe:
    """Resident-set growth of each driven step (bytes after minus before): with an allocator that keeps
    freed memory, the first step shows the step's working set and later steps should show ~0."""

    growth_bytes: list[int] = field(default_factory=list)
    _before: int = 0

    def step_start(self, index: int) -> None:
        self._before = current_rss_bytes()

    def phase_start(self, phase: str) -> None:
        pass

    def phase_end(self, phase: str) -> None:
        pass

    def step_end(self, index: int, loss: Any) -> None:
        self.growth_bytes.append(current_rss_bytes() - self._before)


def peak_rss_bytes() -> int:
    """The process's peak resident set size in bytes (getrusage; psutil where that is missing)."""
    if resource is None:  # pragma: no cover - platforms without getrusage
        info = psutil.Process().memory_info()
        return int(getattr(info, "peak_wset", info.rss))
    maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(maxrss) if sys.platform == "darwin" else int(maxrss) * 1024


def current_rss_bytes() -> int:
    """The process's resident set size now, in bytes."""
    return int(psutil.Process().memory_info().rss)
