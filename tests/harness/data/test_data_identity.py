"""Dataset identity: `dataset_fingerprint` (cheap, before loading) equals the loaded dataset's `content_sha256`."""

from __future__ import annotations

import gzip
import time
from pathlib import Path

import pytest

from harness.data import DatasetNotFoundError, dataset_fingerprint, generate_synthetic, load_dataset
from harness.data.synthetic import SYNTHETIC_VERSION, synthetic_fingerprint
from harness.errors import SptxError


def _folder(folder: Path, train: bytes = b"a\tr\tb\nb\tr\tc\n", gz: bool = False) -> Path:
    folder.mkdir(parents=True)
    for split, data in (("train", train), ("valid", b"a\tr\tc\n"), ("test", b"c\tr\ta\n")):
        if gz:
            (folder / f"{split}.txt.gz").write_bytes(gzip.compress(data))
        else:
            (folder / f"{split}.txt").write_bytes(data)
    return folder


def test_fingerprint_equals_content_sha256_of_a_folder(tmp_path: Path) -> None:
    plain = _folder(tmp_path / "plain")
    fingerprint = dataset_fingerprint(str(plain))
    assert len(fingerprint) == 64 and fingerprint == load_dataset(str(plain)).content_sha256
    # the hash is over the uncompressed bytes: the same triples gzipped are the same data
    assert dataset_fingerprint(str(_folder(tmp_path / "gz", gz=True))) == fingerprint
    changed = _folder(tmp_path / "changed", train=b"a\tr\tb\nb\tr\td\n")
    assert dataset_fingerprint(str(changed)) != fingerprint
    assert dataset_fingerprint("changed", tmp_path) == load_dataset("changed", tmp_path).content_sha256


def test_fingerprint_of_the_embedded_wn18rr_is_fast_and_matches(embedded_wn18rr, tmp_path: Path) -> None:
    started = time.perf_counter()
    fingerprint = dataset_fingerprint("WN18RR", tmp_path)
    assert time.perf_counter() - started < 0.5
    assert fingerprint == embedded_wn18rr.content_sha256


def test_fingerprint_of_a_modified_registry_copy_matches(tmp_path: Path) -> None:
    _folder(tmp_path / "WN18")
    with pytest.warns(UserWarning, match="modified"):
        ds = load_dataset("wn18", tmp_path)
    assert ds.kind == "modified" and dataset_fingerprint("wn18", tmp_path) == ds.content_sha256


@pytest.mark.slow
def test_fingerprint_of_fb15k237_is_well_under_half_a_second(shared_datasets_dir: Path) -> None:
    if not (shared_datasets_dir / "FB15k-237").is_dir():
        pytest.skip("no FB15k-237 here")
    dataset_fingerprint("FB15k-237", shared_datasets_dir)  # warm the page cache
    started = time.perf_counter()
    fingerprint = dataset_fingerprint("FB15k-237", shared_datasets_dir)
    assert time.perf_counter() - started < 0.5
    assert fingerprint == load_dataset("FB15k-237", shared_datasets_dir).content_sha256


def test_synthetic_fingerprint_hashes_generator_version_and_parameters() -> None:
    fingerprint = dataset_fingerprint("synthetic:WN18RR")
    assert fingerprint == synthetic_fingerprint("WN18RR", 0) == generate_synthetic("WN18RR").content_sha256
    assert dataset_fingerprint("synthetic:WN18RR", seed=1) == generate_synthetic("WN18RR", seed=1).content_sha256
    assert len({fingerprint, dataset_fingerprint("synthetic:WN18RR", seed=1), dataset_fingerprint("synthetic:WN18")}) == 3
    assert SYNTHETIC_VERSION >= 1


def test_fingerprint_of_a_missing_dataset_is_the_loaders_error(tmp_path: Path) -> None:
    with pytest.raises(DatasetNotFoundError, match="dataset FB15k-237 not found"):
        dataset_fingerprint("FB15k-237", tmp_path)
    with pytest.raises(SptxError, match="unknown dataset 'nope'"):
        dataset_fingerprint("nope", tmp_path)
