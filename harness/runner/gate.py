"""The worker's side of lockstep rounds (harness/runner/lockstep.py): a probe on the step driver that waits
for its turn before each measured step and hands the machine back after it.

Protocol on two pipes (scheduler -> worker commands, worker -> scheduler replies), one word per line: the
worker says `ready` after its warm-up; each `step` is answered `done` after one measured step; `finish` lets
it go on to its unmeasured passes and write its record.
"""

from __future__ import annotations

import os
import time
from typing import IO, Any, Iterator

import torch

from harness.measure import load as machine_load
from harness.measure.driver import Probe

__all__ = ["LockstepGate", "SETTLE_S"]

SETTLE_S = 0.025  # a worker's pause after its step: torch's idle OpenMP threads spun 8-12 ms here before sleeping


class LockstepGate(Probe):
    """The worker's side: wait for `step` before drawing each measured step's batch (`turns`), answer `done`
    after the step, and keep the machine's load over its own steps only (other workers of the group run
    between them, by design)."""

    def __init__(self, commands: IO[str], replies: IO[str], settle_s: float = SETTLE_S) -> None:
        self._commands, self._replies, self._settle_s = commands, replies, settle_s
        self.load = machine_load.LoadWindows()
        self._start: machine_load.LoadSnapshot | None = None

    @classmethod
    def from_fds(cls, spec: str) -> "LockstepGate":
        """From the worker's `--lockstep READ_FD,WRITE_FD` argument."""
        read_fd, write_fd = (int(x) for x in spec.split(","))
        return cls(os.fdopen(read_fd, "r", encoding="utf-8"), os.fdopen(write_fd, "w", encoding="utf-8"))

    def _say(self, word: str) -> None:
        self._replies.write(word + "\n")
        self._replies.flush()

    def _expect(self, word: str) -> None:
        line = self._commands.readline().strip()
        if line != word:
            raise RuntimeError(f"lockstep: expected {word!r} from the scheduler, got {line or 'end of input'!r}")

    def ready(self) -> None:
        """Warm-up is done: wait for turns."""
        self._say("ready")

    def turns(self, batches: Iterator[Any]) -> Iterator[Any]:
        """`batches`, each drawn only once this worker's turn has come: drawing one (sampling negatives) is
        work too, and must not run beside another worker's measured step."""
        while True:
            self._expect("step")
            yield next(batches)

    def step_start(self, index: int) -> None:
        self._start = machine_load.snapshot()

    def step_end(self, index: int, loss: torch.Tensor | None) -> None:
        assert self._start is not None
        self.load.add(self._start, machine_load.snapshot())
        time.sleep(self._settle_s)
        self._say("done")

    def wait_turn_to_finish(self) -> None:
        """Block until the scheduler lets this worker run its unmeasured passes (one worker at a time)."""
        self._expect("finish")
