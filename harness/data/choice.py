"""Which dataset a run measures, decided in the parent process and said out loud.

A registry name measures its real files (the data folder, then the embedded WN18RR); with no dataset named, the
default FB15k-237 is used where found and otherwise the embedded real WN18RR; a registry dataset that is missing
becomes its shape-matched synthetic stand-in only where the caller allows it (sweeps).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from harness.data.loader import find_dataset_files, scan_split_files
from harness.data.locate import EMBEDDED_SOURCE, SplitFiles, expected_layout, locate_dataset
from harness.data.registry import DatasetSpec, count_mismatches, describe_mismatches, find_spec, get_spec
from harness.data.synthetic import is_synthetic_name, synthetic_shape
from harness.errors import SptxError

__all__ = ["DEFAULT_DATASET", "DEFAULT_FALLBACK", "DatasetChoice", "choose_dataset", "modified_notice"]

DEFAULT_DATASET = "FB15k-237"
"""What `sptx compare` measures when no dataset is named."""

DEFAULT_FALLBACK = "WN18RR"
"""The real dataset measured instead when the default is not found (always available: it ships embedded)."""


@dataclass(frozen=True)
class DatasetChoice:
    """The dataset name to put in cells (`NAME`, `synthetic:NAME` or a folder) and a notice, if any."""

    name: str
    notice: str = ""


def _where(files: SplitFiles) -> str:
    if files.source == EMBEDDED_SOURCE:
        return "the copy embedded in sptx"
    return f"{files.folder} (from {files.source})" if files.source != "folder" else str(files.folder)


def modified_notice(spec: DatasetSpec, files: SplitFiles) -> str:
    """A notice when the files' triple counts differ from the published ones (the run is then labelled modified),
    else ""; entity and relation counts are checked when the worker loads the files."""
    mismatches = count_mismatches(spec, scan_split_files(files).counts)
    if not mismatches:
        return ""
    return (
        f"{spec.name} files in {_where(files)} differ from the published dataset ({describe_mismatches(mismatches)}): "
        "results are recorded as dataset_kind 'modified'"
    )


def _choose_default(data_dir: str | Path | None) -> DatasetChoice:
    spec = get_spec(DEFAULT_DATASET)
    files = locate_dataset(spec.name, data_dir)
    if files is not None:
        return DatasetChoice(spec.name, modified_notice(spec, files))
    fallback = get_spec(DEFAULT_FALLBACK)
    fallback_files = locate_dataset(fallback.name, data_dir)
    if fallback_files is None:
        raise SptxError(f"{spec.name} not found ({expected_layout(spec.name, data_dir)}) and no {fallback.name} either; "
                        f"reinstall sptx, or name a dataset with --dataset")
    notice = (f"{spec.name} not found ({expected_layout(spec.name, data_dir)}): measuring the real {fallback.name} "
              f"instead, from {_where(fallback_files)}; use --dataset synthetic:{spec.name} for a shape-matched "
              f"synthetic stand-in of {spec.name}")
    extra = modified_notice(fallback, fallback_files)
    return DatasetChoice(fallback.name, f"{notice}. {extra}" if extra else notice)


def choose_dataset(name: str | None, data_dir: str | Path | None, fallback_synthetic: bool) -> DatasetChoice:
    """The dataset a run measures: `name`'s real files when found; `None` (no dataset named) means FB15k-237, else
    the embedded real WN18RR, with a notice; a missing registry dataset becomes `synthetic:NAME` only when
    `fallback_synthetic`, else a clear error; a folder lacking a split is an error naming the file."""
    if name is None or not name.strip():
        return _choose_default(data_dir)
    name = name.strip()
    if is_synthetic_name(name):
        synthetic_shape(name)
        return DatasetChoice(name)
    spec = find_spec(name)
    if spec is None:
        files = find_dataset_files(name, data_dir)
        named_like = find_spec(files.folder.name)
        return DatasetChoice(name, modified_notice(named_like, files) if named_like is not None else "")
    files = locate_dataset(spec.name, data_dir)
    if files is not None:
        return DatasetChoice(spec.name, modified_notice(spec, files))
    if not fallback_synthetic:
        raise SptxError(f"{spec.name} not found: expected {expected_layout(spec.name, data_dir)}; "
                        f"use --dataset synthetic:{spec.name} for a shape-matched synthetic stand-in")
    return DatasetChoice(f"synthetic:{spec.name}",
                         f"{spec.name} files not found ({expected_layout(spec.name, data_dir)}): "
                         f"using the built-in shape-matched synthetic graph synthetic:{spec.name}")
