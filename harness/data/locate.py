"""Where dataset files are looked for.

A registry name is looked up in the data folder (`--data-dir`, else `$SPTX_DATA_DIR`, else the per-user cache)
and then, for WN18RR only, in the copy embedded in the package. Any other name is looked up as a folder path and
then as a sub-folder of the data folder.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from harness.data.embedded import embedded_folder
from harness.data.registry import SPLITS
from harness.errors import SptxError

__all__ = [
    "DATA_DIR_ENV",
    "EMBEDDED_SOURCE",
    "SPLIT_SUFFIXES",
    "DataDir",
    "IncompleteDatasetError",
    "incomplete_error",
    "SplitFiles",
    "default_cache_dir",
    "resolve_data_dir",
    "missing_splits",
    "find_split_files",
    "locate_dataset",
    "locate_folder",
    "named_folder",
    "expected_layout",
]

DATA_DIR_ENV = "SPTX_DATA_DIR"
EMBEDDED_SOURCE = "embedded"
SPLIT_SUFFIXES: tuple[str, ...] = (".txt", ".txt.gz")


class IncompleteDatasetError(SptxError):
    """A dataset folder exists but lacks one of its split files (never silently replaced by another dataset)."""


@dataclass(frozen=True)
class DataDir:
    """The folder datasets are read from, why it was chosen (for messages) and a short source name (for tables)."""

    path: Path
    origin: str
    source: str = "folder"


@dataclass(frozen=True)
class SplitFiles:
    """The three split files of one dataset folder and where the folder was found.

    `source` is `--data-dir`, `$SPTX_DATA_DIR`, `cache`, `embedded` (the copy shipped in the package) or `folder`
    (a path given directly).
    """

    folder: Path
    train: Path
    valid: Path
    test: Path
    source: str = "folder"

    def as_dict(self) -> dict[str, Path]:
        """Split name to file, in train/valid/test order."""
        return {"train": self.train, "valid": self.valid, "test": self.test}


def default_cache_dir() -> Path:
    """`$XDG_CACHE_HOME/sptx/datasets`, else `~/.cache/sptx/datasets`: where downloads go by default."""
    base = os.environ.get("XDG_CACHE_HOME") or ""
    root = Path(base) if base and Path(base).is_absolute() else Path.home() / ".cache"
    return root / "sptx" / "datasets"


def resolve_data_dir(data_dir: str | Path | None = None) -> DataDir:
    """Pick the data folder by precedence: explicit argument, then `$SPTX_DATA_DIR`, then the cache folder."""
    if data_dir is not None and str(data_dir) != "":
        return DataDir(Path(data_dir).expanduser(), "--data-dir", "--data-dir")
    env = os.environ.get(DATA_DIR_ENV, "")
    if env:
        return DataDir(Path(env).expanduser(), f"${DATA_DIR_ENV}", f"${DATA_DIR_ENV}")
    return DataDir(default_cache_dir(), "the per-user cache folder", "cache")


def _split_file(folder: Path, split: str) -> Path | None:
    for suffix in SPLIT_SUFFIXES:
        candidate = folder / f"{split}{suffix}"
        if candidate.is_file():
            return candidate
    return None


def missing_splits(folder: Path) -> list[str]:
    """The splits (train, valid, test) that have neither `.txt` nor `.txt.gz` file in `folder`."""
    return [split for split in SPLITS if _split_file(folder, split) is None]


def incomplete_error(folder: Path) -> IncompleteDatasetError:
    """The one-line error for a dataset folder that lacks a split file, naming the first missing file."""
    missing = missing_splits(folder)
    return IncompleteDatasetError(
        f"{folder / missing[0]}.txt[.gz]: missing split file "
        f"(a dataset folder needs {', '.join(f'{s}.txt' for s in SPLITS)}, optionally gzipped)"
    )


def find_split_files(folder: Path, source: str = "folder") -> SplitFiles | None:
    """The split files in `folder` (plain `.txt` preferred over `.txt.gz`), or None unless all three exist."""
    if not folder.is_dir():
        return None
    files = [_split_file(folder, split) for split in SPLITS]
    if any(f is None for f in files):
        return None
    train, valid, test = files
    assert train is not None and valid is not None and test is not None
    return SplitFiles(folder, train, valid, test, source)


def named_folder(root: Path, name: str) -> Path:
    """`root/name`, or the sub-folder of `root` whose name matches `name` case-insensitively when that one is absent."""
    exact = root / name
    if exact.is_dir() or not root.is_dir():
        return exact
    wanted = name.casefold()
    for child in sorted(root.iterdir()):
        if child.is_dir() and child.name.casefold() == wanted:
            return child
    return exact


def _source_of(folder: Path, default: str) -> str:
    embedded = embedded_folder(folder.name)
    if embedded is not None and folder.resolve() == embedded:
        return EMBEDDED_SOURCE
    return default


def locate_folder(folder: Path, source: str = "folder") -> SplitFiles | None:
    """The split files of an existing dataset folder; None if it does not exist, an error naming the file if
    it lacks a split."""
    if not folder.is_dir():
        return None
    files = find_split_files(folder, _source_of(folder, source))
    if files is None:
        raise incomplete_error(folder)
    return files


def locate_dataset(name: str, data_dir: str | Path | None = None) -> SplitFiles | None:
    """The split files of dataset `name`: in the resolved data folder (folder name matched case-insensitively),
    else in the embedded copy (WN18RR only), else None; a folder lacking a split is an error naming the file."""
    resolved = resolve_data_dir(data_dir)
    files = locate_folder(named_folder(resolved.path, name), resolved.source)
    if files is not None:
        return files
    embedded = embedded_folder(name)
    return None if embedded is None else find_split_files(embedded, EMBEDDED_SOURCE)


def expected_layout(name: str, data_dir: str | Path | None = None) -> str:
    """A one-line description of where the files of `name` must go, for error messages."""
    resolved = resolve_data_dir(data_dir)
    return f"{resolved.path / name}/{{train,valid,test}}.txt[.gz] (data folder from {resolved.origin})"
