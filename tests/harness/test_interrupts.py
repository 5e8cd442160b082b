"""SIGINT/SIGTERM handling: records are written with the signals held back, and a worker that ignores the
forwarded signal is killed after the grace period, so the parent never hangs."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from harness.interrupts import Interrupted, install_interrupt_handlers, interrupts_blocked, restore_handlers, stop_worker


def test_a_signal_while_blocked_arrives_after_the_block_as_one_interrupt():
    previous = install_interrupt_handlers()
    try:
        with pytest.raises(Interrupted) as caught:
            with interrupts_blocked():
                os.kill(os.getpid(), signal.SIGTERM)
                time.sleep(0.05)
                written = True  # the guarded work finished although the signal came in the middle
            time.sleep(0.05)
        assert written and caught.value.signal_name == "SIGTERM"
        assert signal.getsignal(signal.SIGINT) == signal.SIG_IGN  # a second one is ignored
    finally:
        restore_handlers(previous)


@pytest.mark.slow
def test_a_worker_ignoring_the_signal_is_killed_after_the_grace_period():
    code = "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); print(flush=True); time.sleep(60)"
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE)
    proc.stdout.readline()
    started = time.monotonic()
    assert stop_worker(proc, "SIGTERM", grace_s=0.5) is False
    assert proc.returncode == -signal.SIGKILL and time.monotonic() - started < 10
