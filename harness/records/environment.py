"""The machine and software a measurement ran on, stored with every record (as asv does)."""

from __future__ import annotations

import functools
import importlib.metadata
import os
import platform
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import torch

__all__ = ["environment", "framework_versions", "git_commit", "cpu_model"]

_LIBRARIES = ("torch", "numpy", "scipy", "torchkge", "torch_geometric", "pykeen", "dgl")


def framework_versions() -> dict[str, str | None]:
    """Installed versions of torch and each framework's library (None when absent)."""
    out: dict[str, str | None] = {}
    for name in _LIBRARIES:
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            out[name] = None
    return out


@functools.lru_cache(maxsize=1)
def cpu_model() -> str:
    """The CPU's model name (from /proc/cpuinfo on Linux, else platform)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


@functools.lru_cache(maxsize=1)
def git_commit() -> str | None:
    """The harness's git commit (with '-dirty' when the work tree has changes), or None outside git."""
    root = Path(__file__).resolve().parents[2]
    try:
        head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True,
                              timeout=10, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=root,
                               capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return head + ("-dirty" if dirty else "")


def _gpu() -> dict[str, Any]:
    if not torch.cuda.is_available():
        return {"gpu": None, "cuda": None}
    props = torch.cuda.get_device_properties(0)
    return {"gpu": props.name, "gpu_memory_bytes": props.total_memory, "cuda": torch.version.cuda,
            "gpu_count": torch.cuda.device_count()}


def environment(seed: int, command_line: list[str] | None = None) -> dict[str, Any]:
    """Everything needed to interpret or reproduce a record: versions, CPU, cores, threads, GPU, commit."""
    import psutil

    return {
        "python": platform.python_version(),
        "versions": framework_versions(),
        "platform": platform.platform(),
        "hostname": socket.gethostname(),
        "cpu": cpu_model(),
        "cores_physical": psutil.cpu_count(logical=False),
        "cores_logical": psutil.cpu_count(logical=True),
        "threads": torch.get_num_threads(),
        "memory_total_bytes": psutil.virtual_memory().total,
        **_gpu(),
        "git_commit": git_commit(),
        "command_line": command_line if command_line is not None else sys.argv,
        "seed": seed,
        "omp_num_threads": os.environ.get("OMP_NUM_THREADS"),
        "process_env": {k: os.environ.get(k) for k in _RECORDED_VARIABLES},
        "transparent_hugepages": _transparent_hugepages(),
    }


# Variables that change how a measuring process runs: threads and how idle ones wait, allocator, BLAS kernels.
_RECORDED_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "GLIBC_TUNABLES",
                       "LD_PRELOAD", "OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE", "OMP_WAIT_POLICY", "GOMP_SPINCOUNT",
                       "OMP_PROC_BIND", "OMP_PLACES", "KMP_BLOCKTIME", "NUMBA_NUM_THREADS", "NUMBA_THREADING_LAYER")


def _transparent_hugepages() -> str | None:
    """The kernel's THP mode (the bracketed word of /sys/kernel/mm/transparent_hugepage/enabled)."""
    try:
        text = Path("/sys/kernel/mm/transparent_hugepage/enabled").read_text()
    except OSError:
        return None
    start, end = text.find("["), text.find("]")
    return text[start + 1:end] if 0 <= start < end else text.strip()
