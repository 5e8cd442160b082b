"""Measurements of a training step: FLOPs (sparse-aware and profiler), memory peaks, and timing."""

from harness.measure.flops import *  # noqa: F401,F403
from harness.measure.flops import __all__ as _flops_all
from harness.measure.memory import *  # noqa: F401,F403
from harness.measure.memory import __all__ as _memory_all
from harness.measure.timing import *  # noqa: F401,F403
from harness.measure.timing import __all__ as _timing_all

__all__ = [*_flops_all, *_memory_all, *_timing_all]
