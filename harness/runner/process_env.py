"""The environment a measuring process starts with: its thread count and its memory allocator, set
before Python (and so torch, OpenMP and MKL) starts, the same for every framework of a comparison.

Why the allocator matters here: glibc's malloc gives large freed blocks (the ~32 MiB intermediates of
a step) back to the OS, so the next step page-faults them in again; on a 2-core VM that doubled the
sparse step (58-68 ms vs 25-27 ms) and flipped the ranking of frameworks (../shared/MEASUREMENT.md).
"""

from __future__ import annotations

from typing import Mapping

from harness.allocators import ALLOCATOR_VARIABLES, ALLOCATORS
from harness.errors import SptxError

__all__ = ["THREAD_VARIABLES", "worker_environment"]

THREAD_VARIABLES: tuple[str, ...] = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMBA_NUM_THREADS")


def worker_environment(base: Mapping[str, str], threads: int, allocator: str) -> dict[str, str]:
    """`base` with the thread variables set to `threads` and exactly the allocator's variables (the
    allocators are registered in harness.allocators)."""
    if allocator not in ALLOCATORS:
        raise SptxError(f"unknown allocator {allocator!r}; choose one of {', '.join(ALLOCATORS)}")
    env = {k: v for k, v in base.items() if k not in ALLOCATOR_VARIABLES}
    env.update(ALLOCATORS[allocator].environment())
    for variable in THREAD_VARIABLES:
        env[variable] = str(threads)
    return env
