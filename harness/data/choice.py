"""Which dataset a run measures: the real files where they are found, else (when allowed) the
shape-matched synthetic stand-in, said out loud."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from harness.data.locate import expected_layout, locate_dataset
from harness.data.registry import find_spec
from harness.data.synthetic import is_synthetic_name
from harness.errors import SptxError

__all__ = ["DatasetChoice", "choose_dataset"]


@dataclass(frozen=True)
class DatasetChoice:
    """The dataset name to put in cells (`NAME`, `synthetic:NAME` or a folder) and a notice, if any."""

    name: str
    notice: str = ""


def choose_dataset(name: str, data_dir: str | Path | None, fallback_synthetic: bool) -> DatasetChoice:
    """Real files of `name` if present; otherwise `synthetic:NAME` when allowed, else a clear error."""
    if is_synthetic_name(name) or Path(name).expanduser().is_dir():
        return DatasetChoice(name)
    spec = find_spec(name)
    if spec is None:
        raise SptxError(f"unknown dataset {name!r} (see `sptx datasets`)")
    if locate_dataset(spec.name, data_dir) is not None:
        return DatasetChoice(spec.name)
    if not fallback_synthetic:
        raise SptxError(f"{spec.name} not found: expected {expected_layout(spec.name, data_dir)}; "
                        f"use --dataset synthetic:{spec.name} for a shape-matched synthetic stand-in")
    return DatasetChoice(f"synthetic:{spec.name}",
                         f"{spec.name} files not found ({expected_layout(spec.name, data_dir)}): "
                         f"using the built-in shape-matched synthetic graph synthetic:{spec.name}")
