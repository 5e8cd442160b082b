"""The registry of memory allocators a measuring process can run under: name -> what it is and the
environment variables that set it up. Adding one is one entry in ALLOCATORS; the `--allocator` choices,
its help, the validation of run settings and grids (harness.settings) and the measuring process's
environment (harness.runner.process_env) are all derived from it.

A leaf module (it imports only harness.errors), so harness.settings can read it without importing the
runner.
"""

from __future__ import annotations

import ctypes.util
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from harness.errors import SptxError

__all__ = ["ALLOCATORS", "ALLOCATOR_VARIABLES", "Allocator", "DEFAULT_ALLOCATOR", "PINNED_GLIBC_TUNABLES"]

# mmap_threshold at its maximum keeps big blocks on the heap; trim_threshold at its maximum never
# gives the heap back. Together: freed step intermediates are reused, not faulted in again.
PINNED_GLIBC_TUNABLES = "glibc.malloc.mmap_threshold=2147483647:glibc.malloc.trim_threshold=4294967295"
# Every variable an allocator may set: a measuring process gets exactly its allocator's, none inherited.
ALLOCATOR_VARIABLES: tuple[str, ...] = ("GLIBC_TUNABLES", "LD_PRELOAD")


@dataclass(frozen=True)
class Allocator:
    """One allocator configuration: a one-line description (for --help) and the variables it sets, computed
    when a process is started (everything else about the allocator is left unset)."""

    help: str
    environment: Callable[[], dict[str, str]]


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


ALLOCATORS: dict[str, Allocator] = {
    "pinned": Allocator("glibc malloc that never returns memory to the OS between steps",
                        lambda: {"GLIBC_TUNABLES": PINNED_GLIBC_TUNABLES}),
    "default": Allocator("glibc as it comes", lambda: {}),
    "jemalloc": Allocator("libjemalloc preloaded, where installed", _preload("jemalloc")),
    "tcmalloc": Allocator("libtcmalloc preloaded, where installed", _preload("tcmalloc")),
}
# The allocator of every measuring process unless a run says otherwise (RunSettings.allocator's default).
DEFAULT_ALLOCATOR = "pinned"
