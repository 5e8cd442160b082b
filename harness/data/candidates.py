"""OGB's sampled candidates (the 500 negative heads and 500 negative tails of each valid/test triple of ogbl-wikikg2
and ogbl-biokg), kept beside a converted dataset's split files for the OGB ranking protocol.

A download of an OGB layout writes `<folder>/{valid,test}_candidates.npz` beside `{split}.txt`, each holding
`head_neg` and `tail_neg`: int64 arrays of shape (n_triples, n_candidates), row i for triple i of that split, in the
dataset's own entity ids (what `load_dataset` gives for the folder), -1 where a candidate names an entity that no
triple of the dataset names (none when its counts are the published ones). While converting, a staged file holds
OGB's raw per-type ids first (`raw_candidates`), and `map_candidates` rewrites it in the dataset's ids.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from harness.errors import SptxError

__all__ = ["CANDIDATE_SPLITS", "candidates_path", "load_candidates", "map_candidates", "raw_candidates"]

CANDIDATE_SPLITS = ("valid", "test")
_RAW_KEYS = ("head_neg", "tail_neg", "head_type", "tail_type")


def candidates_path(folder: Path, split: str) -> Path:
    """Where the candidates of `split` live in a dataset folder."""
    if split not in CANDIDATE_SPLITS:
        raise SptxError(f"no sampled candidates for split {split!r}: only {', '.join(CANDIDATE_SPLITS)} have them")
    return Path(folder) / f"{split}_candidates.npz"


def load_candidates(folder: str | Path, split: str) -> tuple[np.ndarray, np.ndarray] | None:
    """(head_neg, tail_neg) of `split` in the dataset's entity ids, each (n_triples, n_candidates) int64; None when
    the folder has none (a dataset not from an OGB layout)."""
    path = candidates_path(Path(folder), split)
    if not path.is_file():
        return None
    try:
        with np.load(path) as stored:
            return stored["head_neg"], stored["tail_neg"]
    except (OSError, KeyError, ValueError) as exc:
        raise SptxError(f"{path}: not a candidates file ({exc})") from None


def raw_candidates(dest: Path, head_neg: object, tail_neg: object, head_type: object = None,
                   tail_type: object = None) -> None:
    """Stage OGB's negatives as given (per-type ids where the split has entity types) for `map_candidates`."""
    arrays = {"head_neg": np.asarray(head_neg, dtype=np.int64), "tail_neg": np.asarray(tail_neg, dtype=np.int64)}
    if head_type is not None:
        arrays |= {"head_type": np.asarray(head_type).astype(str), "tail_type": np.asarray(tail_type).astype(str)}
    np.savez(dest, **arrays)


def _lookups(entity_labels: Sequence[str], typed: bool) -> dict[str, np.ndarray]:
    """OGB id -> dataset id per entity type ("" when untyped), from the labels the conversion wrote (`type:id`)."""
    labels = pd.Series(list(entity_labels), dtype=object)
    if typed:
        parts = labels.str.rpartition(":")
        types, ids = parts[0], parts[2]
    else:
        types, ids = pd.Series([""] * len(labels), dtype=object), labels
    ogb_ids = pd.to_numeric(ids, errors="coerce")
    if ogb_ids.isna().any():
        raise SptxError("the converted labels are not OGB ids; cannot map the sampled candidates")
    ours = np.arange(len(labels), dtype=np.int64)
    lookups = {}
    for name, rows in labels.groupby(types.to_numpy()).indices.items():
        ids_of_type = ogb_ids.to_numpy(dtype=np.int64)[rows]
        table = np.full(int(ids_of_type.max()) + 1, -1, dtype=np.int64)
        table[ids_of_type] = ours[rows]
        lookups[str(name)] = table
    return lookups


def _mapped(negatives: np.ndarray, types: np.ndarray | None, lookups: dict[str, np.ndarray]) -> np.ndarray:
    """`negatives` (OGB ids, row i of entity type types[i]) in the dataset's ids, -1 where unknown."""
    out = np.full(negatives.shape, -1, dtype=np.int64)
    row_types = np.full(negatives.shape[0], "", dtype=object) if types is None else types
    for name in pd.unique(row_types):
        rows = row_types == name
        table = lookups.get(str(name), np.empty(0, dtype=np.int64))
        block = negatives[rows]
        known = (block >= 0) & (block < table.shape[0])
        out[rows] = np.where(known, table[np.where(known, block, 0)], -1) if table.size else -1
    return out


def map_candidates(folder: Path, entity_labels: Sequence[str]) -> None:
    """Rewrite each staged candidates file of `folder` in the dataset's entity ids (labels as the OGB conversion
    wrote them: the id, or `type:id`), one split at a time."""
    lookups: dict[str, np.ndarray] | None = None
    for split in CANDIDATE_SPLITS:
        path = candidates_path(folder, split)
        if not path.is_file():
            continue
        with np.load(path) as stored:
            raw = {key: stored[key] for key in _RAW_KEYS if key in stored}
        typed = "head_type" in raw
        lookups = lookups or _lookups(entity_labels, typed)
        mapped = {side: _mapped(raw[f"{side}_neg"], raw.get(f"{side}_type"), lookups) for side in ("head", "tail")}
        np.savez(path, head_neg=mapped["head"], tail_neg=mapped["tail"])
