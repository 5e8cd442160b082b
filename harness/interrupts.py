"""SIGINT and SIGTERM as one clean stop: the `sptx` process and its workers turn the first one into an
`Interrupted` exception and ignore the rest, the parent forwards it to the worker in flight (killing it
when it does not end soon), and records are written with both signals held back, so never torn."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import threading
from typing import Any, Iterator

__all__ = ["FORWARD_GRACE_S", "INTERRUPT_SIGNALS", "Interrupted", "block_interrupts_in_child",
           "ignore_interrupts", "install_interrupt_handlers", "interrupted_message", "interrupts_blocked",
           "release_interrupts", "restore_handlers", "signal_name_of", "stop_worker"]

INTERRUPT_SIGNALS: tuple[signal.Signals, ...] = (signal.SIGINT, signal.SIGTERM)

# Seconds a worker gets, after the forwarded signal, to write its record and exit before it is killed.
FORWARD_GRACE_S = 10.0


class Interrupted(KeyboardInterrupt):
    """The process was asked to stop by a signal; `record` is the killed record of the work in flight, if any."""

    def __init__(self, signal_name: str = "SIGINT", record: Any = None) -> None:
        super().__init__(signal_name)
        self.signal_name = signal_name
        self.record = record


def signal_name_of(exc: BaseException) -> str:
    """The signal behind a KeyboardInterrupt (a plain one is Ctrl-C's SIGINT)."""
    return getattr(exc, "signal_name", "SIGINT")


def interrupted_message(exc: BaseException) -> str:
    """The message of a record whose work was stopped by `exc`."""
    return f"interrupted by {signal_name_of(exc)}"


def _in_main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()


def _raise_interrupted(signum: int, frame: Any) -> None:
    """The first SIGINT or SIGTERM: ignore any further one, then stop whatever runs now."""
    ignore_interrupts()
    raise Interrupted(signal.Signals(signum).name)


def _set_handlers(handler: Any) -> dict[int, Any]:
    """Set `handler` for both signals (main thread only: elsewhere Python cannot); return the previous ones."""
    if not _in_main_thread():
        return {}
    previous = {int(s): signal.getsignal(s) for s in INTERRUPT_SIGNALS}
    for s in INTERRUPT_SIGNALS:
        signal.signal(s, handler)
    return previous


def install_interrupt_handlers() -> dict[int, Any]:
    """Turn the first SIGINT or SIGTERM into Interrupted; return the previous handlers for restore_handlers."""
    return _set_handlers(_raise_interrupted)


def ignore_interrupts() -> dict[int, Any]:
    """Ignore SIGINT and SIGTERM (while a stop is already under way); return the previous handlers."""
    return _set_handlers(signal.SIG_IGN)


def restore_handlers(previous: dict[int, Any]) -> None:
    """Put back handlers returned by install_interrupt_handlers or ignore_interrupts."""
    if not _in_main_thread():
        return
    for signum, handler in previous.items():
        signal.signal(signum, handler if handler is not None else signal.SIG_DFL)


@contextlib.contextmanager
def interrupts_blocked() -> Iterator[None]:
    """Hold SIGINT and SIGTERM back (pending, not lost) while a record is written, so no signal tears it.
    Masking covers this thread only; in a process with other threads (OpenMP's) the kernel may hand the
    signal to one of them, so the Python handlers also defer it, and it is raised again after the block."""
    pending: list[int] = []
    previous_mask = signal.pthread_sigmask(signal.SIG_BLOCK, INTERRUPT_SIGNALS)
    previous = _set_handlers(lambda signum, frame: pending.append(signum))
    try:
        yield
    finally:
        restore_handlers(previous)
        signal.pthread_sigmask(signal.SIG_SETMASK, previous_mask)
        if pending:
            signal.raise_signal(pending[0])


def block_interrupts_in_child() -> None:
    """In a worker before exec: start with both signals held back until it can record them (release_interrupts)."""
    signal.pthread_sigmask(signal.SIG_BLOCK, INTERRUPT_SIGNALS)


def release_interrupts() -> None:
    """In a worker once it can write a killed record: deliver the signals held back since it started."""
    signal.pthread_sigmask(signal.SIG_UNBLOCK, INTERRUPT_SIGNALS)


def _send(proc: subprocess.Popen, signum: int, group: bool) -> None:
    try:
        if group:
            os.killpg(proc.pid, signum)
        else:
            os.kill(proc.pid, signum)
    except (ProcessLookupError, PermissionError):
        pass


def _wait(proc: subprocess.Popen, timeout: float | None) -> None:
    """Wait for the worker, draining its output pipes if it has any (so it cannot block writing to them)."""
    if proc.stdout is None and proc.stderr is None:
        proc.wait(timeout)
    else:
        proc.communicate(timeout=timeout)


def stop_worker(proc: subprocess.Popen, signal_name: str, *, group: bool = False,
                grace_s: float = FORWARD_GRACE_S) -> bool:
    """Forward the signal to the worker, ignoring further ones here, and wait up to `grace_s` for it to write
    its record and exit; kill it after that, so the parent never hangs. True when it ended by itself."""
    previous = ignore_interrupts()
    try:
        _send(proc, signal.Signals[signal_name], group)
        try:
            _wait(proc, grace_s)
            return True
        except subprocess.TimeoutExpired:
            _send(proc, signal.SIGKILL, group)
            _wait(proc, None)
            return False
    finally:
        restore_handlers(previous)
