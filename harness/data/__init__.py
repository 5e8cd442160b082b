"""Datasets: the registry of paper datasets and big public graphs, the loader (streamed, cached by content hash),
OGB's sampled candidates, synthetic stand-ins, downloads, where files live, and the
WN18RR copy embedded in the package."""

from harness.data.candidates import load_candidates
from harness.data.dataset import DatasetKind, KGDataset, combine_split_sha256
from harness.data.download import download_dataset, safe_extract
from harness.data.embedded import EMBEDDED_ROOT, embedded_folder, verify_embedded
from harness.data.loader import (
    DatasetNotFoundError,
    dataset_counts,
    dataset_fingerprint,
    find_dataset_files,
    load_dataset,
    load_folder,
    read_triples_file,
    resolve_dataset,
    scan_split_files,
)
from harness.data.locate import (
    DataDir,
    IncompleteDatasetError,
    SplitFiles,
    default_cache_dir,
    locate_dataset,
    resolve_data_dir,
)
from harness.data.labels import Labels
from harness.data.registry import REGISTRY, DatasetSpec, dataset_names, get_spec
from harness.data.synthetic import generate_synthetic, synthetic_fingerprint

__all__ = [
    "DataDir",
    "DatasetKind",
    "DatasetNotFoundError",
    "DatasetSpec",
    "EMBEDDED_ROOT",
    "IncompleteDatasetError",
    "KGDataset",
    "Labels",
    "REGISTRY",
    "SplitFiles",
    "combine_split_sha256",
    "dataset_counts",
    "dataset_fingerprint",
    "dataset_names",
    "default_cache_dir",
    "download_dataset",
    "embedded_folder",
    "find_dataset_files",
    "generate_synthetic",
    "load_candidates",
    "get_spec",
    "load_dataset",
    "load_folder",
    "locate_dataset",
    "read_triples_file",
    "resolve_data_dir",
    "resolve_dataset",
    "safe_extract",
    "scan_split_files",
    "synthetic_fingerprint",
    "verify_embedded",
]
