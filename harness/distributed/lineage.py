"""How a process knows it belongs to an `sptx distributed` run: the run's token in its environment (torchrun and every
rank inherit it, even once reparented), death with its parent, and the check that its parent still belongs to the
run. Used by the launcher (harness.distributed.launch) and by each rank (harness.distributed.worker)."""

from __future__ import annotations

import os
import signal

__all__ = ["RUN_TOKEN_VARIABLE", "die_with_parent", "orphaned_from_run"]

# The environment variable holding a run's token: torchrun and every rank inherit it, even once reparented.
RUN_TOKEN_VARIABLE = "SPTX_DISTRIBUTED_RUN"


def die_with_parent() -> None:
    """Ask the kernel to SIGKILL this process when its parent dies (Linux PR_SET_PDEATHSIG; elsewhere nothing)."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):  # pragma: no cover - not Linux
        pass


def orphaned_from_run() -> bool:
    """True in a process of an `sptx distributed` run (its environment holds the run's token) whose parent no
    longer does: its torchrun died before die_with_parent() could take effect, so it must not go on."""
    token = os.environ.get(RUN_TOKEN_VARIABLE)
    if not token:
        return False  # started by torchrun directly
    try:
        with open(f"/proc/{os.getppid()}/environ", "rb") as environ:
            return f"{RUN_TOKEN_VARIABLE}={token}".encode() not in environ.read().split(b"\0")
    except OSError:  # not ours to read (init, another user): not torchrun
        return True
