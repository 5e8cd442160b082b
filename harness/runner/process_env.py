"""The environment a measuring process starts with: its thread count and its memory allocator, set
before Python (and so torch, OpenMP and MKL) starts, the same for every framework of a comparison.

Why the allocator matters here: glibc's malloc gives large freed blocks (the ~32 MiB intermediates of
a step) back to the OS, so the next step page-faults them in again; on a 2-core VM that doubled the
sparse step (58-68 ms vs 25-27 ms) and flipped the ranking of frameworks (../shared/MEASUREMENT.md).
"""

from __future__ import annotations

import ctypes.util
from pathlib import Path
from typing import Callable, Mapping

from harness.errors import SptxError

__all__ = ["ALLOCATOR_ENV", "PINNED_GLIBC_TUNABLES", "THREAD_VARIABLES", "worker_environment"]

# mmap_threshold at its maximum keeps big blocks on the heap; trim_threshold at its maximum never
# gives the heap back. Together: freed step intermediates are reused, not faulted in again.
PINNED_GLIBC_TUNABLES = "glibc.malloc.mmap_threshold=2147483647:glibc.malloc.trim_threshold=4294967295"
THREAD_VARIABLES: tuple[str, ...] = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")
_ALLOCATOR_VARIABLES: tuple[str, ...] = ("GLIBC_TUNABLES", "LD_PRELOAD")


def _preload(library: str) -> Callable[[], dict[str, str]]:
    """An allocator configuration that LD_PRELOADs a shared library found on this machine."""

    def configure() -> dict[str, str]:
        found = ctypes.util.find_library(library)
        candidates = [Path(p) for p in (f"/usr/lib/x86_64-linux-gnu/lib{library}.so.2",
                                        f"/usr/lib/x86_64-linux-gnu/lib{library}.so.4",
                                        f"/usr/lib/aarch64-linux-gnu/lib{library}.so.2")]
        path = next((str(p) for p in candidates if p.is_file()), None)
        if path is None and found:
            path = found
        if path is None:
            raise SptxError(f"--allocator {library}: lib{library} is not installed here "
                            f"(Debian: apt-get install lib{library}-dev); use pinned or default")
        return {"LD_PRELOAD": path}

    return configure


# Allocator name -> the variables it sets (everything else about the allocator is left unset).
ALLOCATOR_ENV: dict[str, Callable[[], dict[str, str]]] = {
    "pinned": lambda: {"GLIBC_TUNABLES": PINNED_GLIBC_TUNABLES},
    "default": lambda: {},
    "jemalloc": _preload("jemalloc"),
    "tcmalloc": _preload("tcmalloc"),
}


def worker_environment(base: Mapping[str, str], threads: int, allocator: str) -> dict[str, str]:
    """`base` with the thread variables set to `threads` and exactly the allocator's variables."""
    if allocator not in ALLOCATOR_ENV:
        raise SptxError(f"unknown allocator {allocator!r}; choose one of {', '.join(ALLOCATOR_ENV)}")
    env = {k: v for k, v in base.items() if k not in _ALLOCATOR_VARIABLES}
    env.update(ALLOCATOR_ENV[allocator]())
    for variable in THREAD_VARIABLES:
        env[variable] = str(threads)
    return env
