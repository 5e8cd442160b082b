"""Datasets: the registry of paper datasets, the loader, synthetic stand-ins, downloads and where files live."""

from harness.data.dataset import DatasetKind, KGDataset
from harness.data.download import download_dataset, safe_extract
from harness.data.loader import (
    DatasetNotFoundError,
    dataset_counts,
    load_dataset,
    load_folder,
    read_triples_file,
    resolve_dataset,
)
from harness.data.locate import DataDir, default_cache_dir, locate_dataset, resolve_data_dir
from harness.data.registry import REGISTRY, DatasetSpec, dataset_names, get_spec
from harness.data.synthetic import generate_synthetic

__all__ = [
    "DataDir",
    "DatasetKind",
    "DatasetNotFoundError",
    "DatasetSpec",
    "KGDataset",
    "REGISTRY",
    "dataset_counts",
    "dataset_names",
    "default_cache_dir",
    "download_dataset",
    "generate_synthetic",
    "get_spec",
    "load_dataset",
    "load_folder",
    "locate_dataset",
    "read_triples_file",
    "resolve_data_dir",
    "resolve_dataset",
    "safe_extract",
]
