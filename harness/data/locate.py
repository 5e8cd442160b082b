"""Where dataset files are looked for: `--data-dir`, else `$SPTX_DATA_DIR`, else the per-user cache folder."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from harness.data.registry import SPLITS

__all__ = [
    "DATA_DIR_ENV",
    "DataDir",
    "SplitFiles",
    "default_cache_dir",
    "resolve_data_dir",
    "find_split_files",
    "locate_dataset",
    "expected_layout",
]

DATA_DIR_ENV = "SPTX_DATA_DIR"
SPLIT_SUFFIXES: tuple[str, ...] = (".txt", ".txt.gz")


@dataclass(frozen=True)
class DataDir:
    """The folder datasets are read from and why it was chosen (for messages)."""

    path: Path
    origin: str


@dataclass(frozen=True)
class SplitFiles:
    """The three split files of one dataset folder."""

    folder: Path
    train: Path
    valid: Path
    test: Path

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
        return DataDir(Path(data_dir).expanduser(), "--data-dir")
    env = os.environ.get(DATA_DIR_ENV, "")
    if env:
        return DataDir(Path(env).expanduser(), f"${DATA_DIR_ENV}")
    return DataDir(default_cache_dir(), "the per-user cache folder")


def _split_file(folder: Path, split: str) -> Path | None:
    for suffix in SPLIT_SUFFIXES:
        candidate = folder / f"{split}{suffix}"
        if candidate.is_file():
            return candidate
    return None


def find_split_files(folder: Path) -> SplitFiles | None:
    """The split files in `folder` (plain `.txt` preferred over `.txt.gz`), or None unless all three exist."""
    if not folder.is_dir():
        return None
    files = [_split_file(folder, split) for split in SPLITS]
    if any(f is None for f in files):
        return None
    train, valid, test = files
    assert train is not None and valid is not None and test is not None
    return SplitFiles(folder, train, valid, test)


def _dataset_folder(root: Path, name: str) -> Path:
    exact = root / name
    if exact.is_dir() or not root.is_dir():
        return exact
    wanted = name.casefold()
    for child in sorted(root.iterdir()):
        if child.is_dir() and child.name.casefold() == wanted:
            return child
    return exact


def locate_dataset(name: str, data_dir: str | Path | None = None) -> SplitFiles | None:
    """The split files of dataset `name` under the resolved data folder (folder name matched case-insensitively)."""
    root = resolve_data_dir(data_dir).path
    return find_split_files(_dataset_folder(root, name))


def expected_layout(name: str, data_dir: str | Path | None = None) -> str:
    """A one-line description of where the files of `name` must go, for error messages."""
    resolved = resolve_data_dir(data_dir)
    return f"{resolved.path / name}/{{train,valid,test}}.txt[.gz] (data folder from {resolved.origin})"
