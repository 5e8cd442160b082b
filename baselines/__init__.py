"""Registry of frameworks behind the uniform FrameworkStep adapter: adding one is a new module plus
one line in FRAMEWORKS."""

from __future__ import annotations

from baselines.base import FrameworkStep
from baselines.dglke import DGLKEStep
from baselines.gather import GatherStep
from baselines.pyg import PyGStep
from baselines.pykeen import PyKEENStep
from baselines.sparse import SparseStep
from baselines.torchkge import TorchKGEStep

__all__ = ["FRAMEWORKS", "FrameworkStep", "get_framework"]

FRAMEWORKS: dict[str, type[FrameworkStep]] = {
    cls.name: cls
    for cls in (
        SparseStep,
        TorchKGEStep,
        GatherStep,
        PyGStep,
        PyKEENStep,
        DGLKEStep,
    )
}


def get_framework(name: str) -> type[FrameworkStep]:
    """The adapter class registered under `name`."""
    from harness.errors import SptxError

    try:
        return FRAMEWORKS[name]
    except KeyError:
        raise SptxError(f"unknown framework {name!r}; known: {', '.join(FRAMEWORKS)}") from None
