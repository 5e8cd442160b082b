"""An on-disk cache of big graphs as id arrays keyed by their content hash, so that every measuring process
(each cell is a fresh one) maps a 20M-triple graph in milliseconds instead of building it again.

Where: $SPTX_CACHE_DIR (`off` disables it), else ~/.cache/sptx/graphs. One folder per content hash holds
train/valid/test as .npy, the graph's metadata and, for graphs read from files, its labels
(entities.txt, relations.txt: one label a line, in id order, read only when a label is asked for); it is written to a temporary folder and renamed into
place, so a reader never sees half of one. Arrays are memory-mapped copy-on-write: pages are shared between
processes until one writes.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from dataclasses import fields
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from harness.data.dataset import KGDataset
from harness.data.labels import Labels

__all__ = ["CACHE_MIN_TRIPLES", "cache_folder", "cached_dataset", "holds"]

CACHE_MIN_TRIPLES = 1_000_000  # smaller graphs build faster than a cache pays for
_SPLITS = ("train", "valid", "test")
_META = "graph.json"
_LABEL_FILES = {"entity_labels": "entities.txt", "relation_labels": "relations.txt"}


def cache_folder() -> Path | None:
    """The cache's root folder, or None when $SPTX_CACHE_DIR is `off`."""
    configured = os.environ.get("SPTX_CACHE_DIR", "")
    if configured.strip().lower() == "off":
        return None
    return Path(configured).expanduser() if configured else Path.home() / ".cache" / "sptx" / "graphs"


def _read(folder: Path) -> KGDataset:
    meta = json.loads((folder / _META).read_text(encoding="utf-8"))
    splits = {s: torch.from_numpy(np.load(folder / f"{s}.npy", mmap_mode="c")) for s in _SPLITS}
    labels = {k: Labels.from_file(folder / name) for k, name in _LABEL_FILES.items() if (folder / name).is_file()}
    return KGDataset(**meta, **splits, **labels)


def _write(folder: Path, dataset: KGDataset) -> None:
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".tmp-", dir=folder.parent))
    try:
        for split in _SPLITS:
            np.save(tmp / f"{split}.npy", getattr(dataset, split).numpy())
        for key, name in _LABEL_FILES.items():
            labels = getattr(dataset, key)
            if labels is not None:
                (labels if isinstance(labels, Labels) else Labels.from_strings(labels)).save(tmp / name)
        meta = {f.name: getattr(dataset, f.name) for f in fields(dataset) if f.name not in (*_SPLITS, *_LABEL_FILES)}
        (tmp / _META).write_text(json.dumps(meta), encoding="utf-8")
        os.rename(tmp, folder)
    except OSError:  # another process put it there first, or the disk is full: the graph is still usable
        shutil.rmtree(tmp, ignore_errors=True)


def holds(content_sha256: str) -> bool:
    """Whether the cache has the graph with this content hash."""
    root = cache_folder()
    return bool(content_sha256) and root is not None and (root / content_sha256 / _META).is_file()


def cached_dataset(content_sha256: str, n_train: int, build: Callable[[], KGDataset]) -> KGDataset:
    """The graph with this content hash from the cache, else `build()` (written to the cache when it has at least
    CACHE_MIN_TRIPLES training triples and the cache is on)."""
    root = cache_folder()
    if root is None or n_train < CACHE_MIN_TRIPLES:
        return build()
    folder = root / content_sha256
    if (folder / _META).is_file():
        return _read(folder)
    dataset = build()
    _write(folder, dataset)
    return dataset
