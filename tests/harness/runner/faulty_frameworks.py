"""Frameworks that fail on purpose, loaded into cell workers through $SPTX_PLUGINS by the runner tests."""

from __future__ import annotations

import os
import signal
import time

import torch

from baselines import register_framework
from baselines.gather import GatherStep


@register_framework
class RaisingStep(GatherStep):
    """Raises in its forward pass."""

    name = "test-raises"

    def forward(self, prepared):
        raise ValueError("deliberate failure in forward")


@register_framework
class SleepingStep(GatherStep):
    """Never finishes a step within a short time limit."""

    name = "test-sleeps"

    def forward(self, prepared):
        time.sleep(60)
        return super().forward(prepared)


@register_framework
class GreedyStep(GatherStep):
    """Asks for 8 GiB in its forward pass."""

    name = "test-greedy"

    def forward(self, prepared):
        hog = torch.empty(2**31, dtype=torch.float32)
        hog.fill_(1.0)
        return super().forward(prepared) + hog[0] * 0


@register_framework
class SlowStep(GatherStep):
    """A correct step that takes a moment, so a run can be killed between cells."""

    name = "test-slow"

    def forward(self, prepared):
        time.sleep(0.2)
        return super().forward(prepared)


@register_framework
class KilledStep(GatherStep):
    """Its process is killed with SIGKILL mid-step, as by a user or a supervisor (not the OOM killer)."""

    name = "test-killed"

    def forward(self, prepared):
        os.kill(os.getpid(), signal.SIGKILL)
        return super().forward(prepared)
