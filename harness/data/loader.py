"""Read `head<TAB>relation<TAB>tail` split files (plain or gzip) into a `KGDataset` with contiguous ids.

The fast path streams each file through pandas' C parser in chunks of rows and maps labels to ids chunk by chunk with
one incremental hash table over all splits, so no Python string per label occurrence is ever held for the whole file
(a 20M-triple graph peaked at ~15 GB when every field was one); the labels end as one UTF-8 blob (`Labels`).
Whenever the fast path fails or its result looks wrong (row or tab count off the streamed scan's), a line-by-line
validator finds the first bad line so that the error names the file and the line number. Nothing is returned unless
all three splits parse cleanly. Every loaded dataset carries `content_sha256`, which `dataset_fingerprint` computes
without parsing.
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import io
import logging
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from pandas._libs.hashtable import ObjectFactorizer  # incremental label -> id table; no public equivalent

from harness.data.dataset import DatasetKind, KGDataset, combine_split_sha256
from harness.data.embedded import verify_embedded
from harness.data.labels import Labels
from harness.data.locate import (
    EMBEDDED_SOURCE,
    SplitFiles,
    expected_layout,
    locate_dataset,
    locate_folder,
    named_folder,
    resolve_data_dir,
)
from harness.data.registry import SPLITS, DatasetSpec, dataset_names, find_spec, warn_on_count_mismatch
from harness.data.cache import cached_dataset
from harness.data.synthetic import generate_synthetic, is_synthetic_name, synthetic_fingerprint, synthetic_shape
from harness.errors import SptxError

__all__ = [
    "DatasetNotFoundError",
    "SplitScan",
    "Triples",
    "load_dataset",
    "resolve_dataset",
    "read_triples_file",
    "LabelCodes",
    "encode_splits",
    "load_split_files",
    "load_folder",
    "dataset_counts",
    "find_dataset_files",
    "scan_split_files",
    "dataset_fingerprint",
]

Triples = tuple[np.ndarray, np.ndarray, np.ndarray]
"""One split as three equally long object arrays of string labels: heads, relations, tails."""

_FIELDS = ("head", "relation", "tail")
_CHUNK = 1 << 20
_ROWS_PER_CHUNK = 1 << 20  # rows parsed at once: bounds the Python strings alive while a file is id-mapped
_log = logging.getLogger(__name__)


class DatasetNotFoundError(SptxError):
    """A registry dataset whose files are not in the data folder (the only failure a synthetic fallback covers)."""


def _read_error(path: Path, exc: BaseException) -> SptxError:
    if isinstance(exc, FileNotFoundError):
        return SptxError(f"{path}: split file not found")
    if isinstance(exc, IsADirectoryError):
        return SptxError(f"{path}: is a folder, expected a split file")
    if isinstance(exc, (gzip.BadGzipFile, EOFError, zlib.error)):
        return SptxError(f"{path}: not a valid gzip file ({exc})")
    return SptxError(f"{path}: cannot read ({getattr(exc, 'strerror', None) or exc})")


def _read_bytes(path: Path) -> bytes:
    try:
        if path.name.endswith(".gz"):
            with gzip.open(path, "rb") as handle:
                return handle.read()
        return path.read_bytes()
    except (OSError, EOFError, zlib.error) as exc:
        raise _read_error(path, exc) from None


def _chunks(path: Path) -> Iterator[bytes]:
    try:
        opener = gzip.open if path.name.endswith(".gz") else open
        with opener(path, "rb") as handle:
            while chunk := handle.read(_CHUNK):
                yield chunk
    except (OSError, EOFError, zlib.error) as exc:
        raise _read_error(path, exc) from None


def _decode(path: Path, data: bytes) -> str:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        column = exc.start - (data.rfind(b"\n", 0, exc.start) + 1) + 1
        raise SptxError(
            f"{path}, line {line}: not valid UTF-8 (byte 0x{data[exc.start]:02x} at column {column})"
        ) from None
    return text[1:] if text.startswith("\ufeff") else text


def _first_bad_line(path: Path, text: str) -> SptxError:
    for number, line in enumerate(text.split("\n"), start=1):
        if line.endswith("\r"):
            line = line[:-1]
        if line.strip() == "":
            return SptxError(f"{path}, line {number}: empty line (expected head<TAB>relation<TAB>tail)")
        fields = line.split("\t")
        if len(fields) != 3:
            return SptxError(
                f"{path}, line {number}: expected 3 tab-separated fields (head, relation, tail), found {len(fields)}"
            )
        for column, value in zip(_FIELDS, fields):
            if value == "":
                return SptxError(f"{path}, line {number}: empty {column} field")
    return SptxError(f"{path}: cannot be parsed as head<TAB>relation<TAB>tail lines")


def _parse_triples(path: Path, data: bytes) -> Triples:
    text = _decode(path, data).rstrip("\r\n")
    if text.strip() == "":
        raise SptxError(f"{path}, line 1: empty file (expected head<TAB>relation<TAB>tail lines)")
    try:
        frame = pd.read_csv(
            io.StringIO(text),
            sep="\t",
            header=None,
            names=[0, 1, 2],
            dtype=str,
            quoting=csv.QUOTE_NONE,
            na_filter=False,
            skip_blank_lines=False,
            engine="c",
        )
    except (pd.errors.ParserError, ValueError):
        raise _first_bad_line(path, text) from None
    columns = tuple(frame[c].to_numpy(dtype=object) for c in range(3))
    n_lines = text.count("\n") + 1
    if len(frame) != n_lines or any((col == "").any() for col in columns):
        raise _first_bad_line(path, text)
    return columns


def read_triples_file(path: str | Path) -> Triples:
    """Parse one split file into label arrays; any malformed input raises SptxError naming the file and line."""
    path = Path(path)
    return _parse_triples(path, _read_bytes(path))


class LabelCodes:
    """Label -> id in order of first appearance, fed chunk by chunk: one hash table over everything fed so far
    (pandas' incremental factorizer, the one its merges use), so the ids of a chunk do not depend on how the rows
    were chunked."""

    def __init__(self) -> None:
        self._table = ObjectFactorizer(1 << 16)

    def codes(self, values: np.ndarray) -> np.ndarray:
        """The ids of `values` (an object array of str), new labels numbered after all earlier ones."""
        return self._table.factorize(np.ascontiguousarray(values, dtype=object)).astype(np.int64, copy=False)

    def labels(self) -> Labels:
        """Every label fed so far, in id order."""
        return Labels.from_strings(self._table.uniques.to_array())


class _TripleCodes:
    """The id mapping of one dataset: entities (heads and tails share ids) and relations."""

    def __init__(self) -> None:
        self.entities, self.relations = LabelCodes(), LabelCodes()

    def encode(self, heads: np.ndarray, relations: np.ndarray, tails: np.ndarray) -> np.ndarray:
        """Triples as an int64 (n, 3) array; ids follow first appearance, the head before the tail of each line."""
        n = len(heads)
        both = np.empty(2 * n, dtype=object)
        both[0::2], both[1::2] = heads, tails
        entity_ids = self.entities.codes(both)
        triples = np.empty((n, 3), dtype=np.int64)
        triples[:, 0], triples[:, 1], triples[:, 2] = entity_ids[0::2], self.relations.codes(relations), entity_ids[1::2]
        return triples


def encode_splits(splits: dict[str, Triples]) -> tuple[dict[str, torch.Tensor], Labels, Labels]:
    """Map labels to contiguous ids in order of first appearance (train, valid, test; head before tail per line)."""
    mapping = _TripleCodes()
    tensors = {split: torch.from_numpy(mapping.encode(*splits[split])) for split in SPLITS}
    return tensors, mapping.entities.labels(), mapping.relations.labels()


@dataclass(frozen=True)
class SplitScan:
    """What one pass over the split files gives without parsing: the content hash, the triple-line counts and each
    split's sha256 and tab count (a well-formed split has exactly two tabs a line)."""

    content_sha256: str
    counts: dict[str, int]
    split_sha256: dict[str, str] = field(default_factory=dict)
    tabs: dict[str, int] = field(default_factory=dict)


def _scan_file(path: Path) -> tuple[str, int, int]:
    """(sha256, lines without the trailing newlines, tabs) of one uncompressed split file, streamed."""
    digest = hashlib.sha256()
    newlines, tabs, tail, seen = 0, 0, b"", False
    for chunk in _chunks(path):
        digest.update(chunk)
        newlines += chunk.count(b"\n")
        tabs += chunk.count(b"\t")
        stripped = chunk.rstrip(b"\r\n")
        if stripped:
            seen, tail = True, chunk[len(stripped) :]
        else:
            tail += chunk
    return digest.hexdigest(), (newlines - tail.count(b"\n") + 1) if seen else 0, tabs


def scan_split_files(files: SplitFiles) -> SplitScan:
    """Hash the uncompressed split files and count their lines (as `n_train`, `n_valid`, `n_test`); embedded files
    are sha256-checked first."""
    if files.source == EMBEDDED_SOURCE:
        verify_embedded(files.folder)
    hashes: dict[str, str] = {}
    counts: dict[str, int] = {}
    tabs: dict[str, int] = {}
    for split, path in files.as_dict().items():
        hashes[split], counts[f"n_{split}"], tabs[split] = _scan_file(path)
    return SplitScan(combine_split_sha256(hashes), counts, hashes, tabs)


def _invalid(path: Path) -> SptxError:
    """The one-line error for a split file the fast path refused: the first bad line, found by the validator."""
    text = _decode(path, _read_bytes(path)).rstrip("\r\n")
    if text.strip() == "":
        return SptxError(f"{path}, line 1: empty file (expected head<TAB>relation<TAB>tail lines)")
    return _first_bad_line(path, text)


def _read_split(path: Path, lines: int, tabs: int, mapping: _TripleCodes) -> np.ndarray:
    """One split file as id triples, parsed in chunks of rows; anything off (a parser error, undecodable bytes, an
    empty field, a row or tab count other than the scan's) is the validator's one-line error."""
    if lines == 0 or tabs != 2 * lines:
        raise _invalid(path)
    triples = np.empty((lines, 3), dtype=np.int64)  # filled chunk by chunk: no second copy at the end
    done = 0
    try:
        with pd.read_csv(path, sep="\t", header=None, names=list(_FIELDS), dtype=object, quoting=csv.QUOTE_NONE,
                         na_filter=False, skip_blank_lines=True, index_col=False, engine="c", encoding="utf-8",
                         compression="gzip" if path.name.endswith(".gz") else None,
                         chunksize=_ROWS_PER_CHUNK) as reader:
            for chunk in reader:
                columns = [chunk[name].to_numpy(dtype=object) for name in _FIELDS]
                if done + len(chunk) > lines or not all(column.astype(bool).all() for column in columns):
                    raise ValueError("more rows than lines, or an empty field")
                triples[done : done + len(chunk)] = mapping.encode(*columns)
                done += len(chunk)
    except (pd.errors.ParserError, ValueError, UnicodeDecodeError, OSError, EOFError, zlib.error):
        raise _invalid(path) from None
    if done != lines:
        raise _invalid(path)
    return triples


def _parse_split_files(files: SplitFiles, name: str, kind: DatasetKind, scan: SplitScan | None = None) -> KGDataset:
    """Read and id-map the three split files, streamed (`scan`, the files' hashes and counts, is made when not given)."""
    scan = scan if scan is not None and scan.tabs else scan_split_files(files)
    mapping = _TripleCodes()
    tensors = {
        split: torch.from_numpy(_read_split(path, scan.counts[f"n_{split}"], scan.tabs[split], mapping))
        for split, path in files.as_dict().items()
    }
    entity_labels, relation_labels = mapping.entities.labels(), mapping.relations.labels()
    return KGDataset(
        name=name,
        kind=kind,
        n_entities=len(entity_labels),
        n_relations=len(relation_labels),
        train=tensors["train"],
        valid=tensors["valid"],
        test=tensors["test"],
        source=_source(files),
        content_sha256=scan.content_sha256,
        entity_labels=entity_labels,
        relation_labels=relation_labels,
    )


def _source(files: SplitFiles) -> str:
    return str(files.folder) if files.source == "folder" else f"{files.folder} ({files.source})"


def load_split_files(files: SplitFiles, name: str, kind: DatasetKind = "real") -> KGDataset:
    """The three split files of one dataset as id arrays (embedded ones sha256-checked first); all-or-nothing.

    A graph of at least CACHE_MIN_TRIPLES training triples is parsed once and then read from the graph cache
    (harness.data.cache) by its content hash, which a streamed pass over the files gives far faster than
    parsing: every measuring process is a fresh one. From the cache its labels are read only when one is asked for."""
    from harness.data.cache import CACHE_MIN_TRIPLES, cached_dataset

    if files.source == EMBEDDED_SOURCE:
        verify_embedded(files.folder)
    scan = scan_split_files(files) if _large(files, CACHE_MIN_TRIPLES) else None
    if scan is None:
        return _parse_split_files(files, name, kind)
    dataset = cached_dataset(scan.content_sha256, scan.counts["n_train"],
                             lambda: _parse_split_files(files, name, kind, scan))
    return replace(dataset, name=name, kind=kind, source=_source(files))


def _large(files: SplitFiles, min_triples: int) -> bool:
    """Whether the training file may hold `min_triples` lines (by its size: a triple line has at least 6 bytes,
    and gzip rarely shrinks text more than 10x), so small graphs skip the hashing pass."""
    size = files.train.stat().st_size
    return size * (10 if files.train.suffix == ".gz" else 1) >= 6 * min_triples


def load_folder(folder: str | Path, name: str | None = None) -> KGDataset:
    """Load `folder/{train,valid,test}.txt[.gz]`; a missing split is an error naming the file looked for."""
    folder = Path(folder)
    files = locate_folder(folder)
    if files is None:
        raise SptxError(f"{folder}: dataset folder not found")
    return load_split_files(files, name or folder.name)


def dataset_counts(dataset: KGDataset) -> dict[str, int]:
    """The counts of a loaded dataset under the registry's field names, for comparison with the published ones."""
    return {
        "n_entities": dataset.n_entities,
        "n_relations": dataset.n_relations,
        "n_train": int(dataset.train.shape[0]),
        "n_valid": int(dataset.valid.shape[0]),
        "n_test": int(dataset.test.shape[0]),
    }


def _not_found(spec: DatasetSpec, data_dir: str | Path | None) -> DatasetNotFoundError:
    return DatasetNotFoundError(
        f"dataset {spec.name} not found: looked for {expected_layout(spec.name, data_dir)}; "
        f"get it with `sptx datasets --download {spec.name}`, put the files there, "
        f"or use synthetic:{spec.name} for a stand-in of the same size"
    )


def find_dataset_files(name: str, data_dir: str | Path | None = None) -> SplitFiles:
    """The split files `load_dataset(name, data_dir)` reads: a registry name (data folder, then embedded copy), a
    folder path, or a folder NAME inside the data folder; not found is a one-line error."""
    name = str(name).strip()
    spec = find_spec(name)
    if spec is not None:
        files = locate_dataset(spec.name, data_dir)
        if files is None:
            raise _not_found(spec, data_dir)
        return files
    direct = locate_folder(Path(name).expanduser()) if name else None
    if direct is not None:
        return direct
    resolved = resolve_data_dir(data_dir)
    inside = locate_folder(named_folder(resolved.path, name), resolved.source) if name else None
    if inside is not None:
        return inside
    raise SptxError(
        f"unknown dataset {name!r}: not a folder here or in the data folder {resolved.path} (from {resolved.origin}), "
        f"and not one of {', '.join(dataset_names())} (or synthetic:NAME for any of them)"
    )


def _checked(dataset: KGDataset, spec: DatasetSpec | None, where: str) -> KGDataset:
    if spec is None or not warn_on_count_mismatch(spec, dataset_counts(dataset), where):
        return dataset
    return replace(dataset, kind="modified")


def load_dataset(name: str, data_dir: str | Path | None = None, *, seed: int = 0) -> KGDataset:
    """Load a dataset by registry name (real files), `synthetic:NAME` or `synthetic:entities=..` (generated with
    `seed`; big ones from the graph cache, harness.data.cache), folder path or folder NAME in the data folder.

    A registry dataset (or a folder named like one) whose files do not reproduce the published counts is of kind
    "modified", with a warning. This is the one entry point later stages use; every failure is an SptxError with a
    one-line message.
    """
    name = str(name).strip()
    if is_synthetic_name(name):
        train = synthetic_shape(name).split_sizes[0]
        return cached_dataset(synthetic_fingerprint(name, seed), train, lambda: generate_synthetic(name, seed=seed))
    files = find_dataset_files(name, data_dir)
    registered = find_spec(name)
    label = registered.name if registered is not None else files.folder.name
    return _checked(load_split_files(files, label), registered or find_spec(files.folder.name), str(files.folder))


def dataset_fingerprint(name: str, data_dir: str | Path | None = None, *, seed: int = 0) -> str:
    """The `content_sha256` that `load_dataset(name, data_dir, seed=seed)` would give, without parsing or id-mapping
    (hashes the uncompressed split files; for `synthetic:NAME`, the generator's name, version and parameters)."""
    name = str(name).strip()
    if is_synthetic_name(name):
        return synthetic_fingerprint(name, seed)
    return scan_split_files(find_dataset_files(name, data_dir)).content_sha256


def resolve_dataset(
    name: str, data_dir: str | Path | None = None, fallback_synthetic: bool = True, *, seed: int = 0
) -> KGDataset:
    """Like `load_dataset`, but a registry dataset without files becomes its synthetic stand-in (logged) when allowed.

    Sweeps use it so that a machine without the real files still measures something, clearly labelled synthetic.
    """
    try:
        return load_dataset(name, data_dir, seed=seed)
    except DatasetNotFoundError as exc:
        if not fallback_synthetic:
            raise
        spec = find_spec(name)
        assert spec is not None
        _log.warning("%s; using synthetic:%s (seed %d) instead", exc, spec.name, seed)
        return generate_synthetic(spec.name, seed=seed)
