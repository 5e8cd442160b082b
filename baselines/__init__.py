"""Registry of frameworks behind the uniform FrameworkStep adapter: adding one is a new module plus
one line in FRAMEWORKS. Every list of frameworks is derived from it: `sptx compare`'s default
--frameworks (every registered one) and the order of frameworks in the report's tables and charts
(the registry's order)."""

from __future__ import annotations

from baselines.base import FrameworkStep
from baselines.dglke import DGLKEStep
from baselines.gather import GatherStep
from baselines.pyg import PyGStep
from baselines.pykeen import PyKEENStep
from baselines.sparse import SparseStep
from baselines.torchkge import TorchKGEStep

__all__ = ["FRAMEWORKS", "FrameworkStep", "get_framework", "register_framework"]

# In the order the report shows them: ours, our gather reference, then the other frameworks.
FRAMEWORKS: dict[str, type[FrameworkStep]] = {
    cls.name: cls
    for cls in (
        SparseStep,
        GatherStep,
        TorchKGEStep,
        PyGStep,
        PyKEENStep,
        DGLKEStep,
    )
}


def register_framework(cls: type[FrameworkStep]) -> type[FrameworkStep]:
    """Add a framework from outside this package (usable as a class decorator)."""
    FRAMEWORKS[cls.name] = cls
    return cls


def _load_plugins() -> None:
    """Import the modules named in $SPTX_PLUGINS (comma-separated); each registers its frameworks.

    Cells run in fresh processes, which inherit the variable, so plugins reach the workers too.
    """
    import importlib
    import os

    for module in filter(None, (m.strip() for m in os.environ.get("SPTX_PLUGINS", "").split(","))):
        importlib.import_module(module)


def get_framework(name: str) -> type[FrameworkStep]:
    """The adapter class registered under `name`."""
    from harness.errors import SptxError

    try:
        return FRAMEWORKS[name]
    except KeyError:
        raise SptxError(f"unknown framework {name!r}; known: {', '.join(FRAMEWORKS)}") from None


_load_plugins()
