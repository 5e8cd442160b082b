"""Issue 12: WN18RR ships inside the package, sha256-checked, found last in the lookup order, and in the wheel/sdist."""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

from harness.data import EMBEDDED_ROOT, KGDataset, dataset_counts, load_dataset, locate_dataset
from harness.data.embedded import EMBEDDED_SHA256, verify_embedded
from harness.errors import SptxError

_REPO = Path(__file__).resolve().parents[3]
_FILES = ("train.txt.gz", "valid.txt.gz", "test.txt.gz", "PROVENANCE.md", "LICENSE-WordNet.txt")
# sha256 of the uncompressed splits, as published in the shared datasets' README and in PROVENANCE.md
_UNCOMPRESSED = {
    "train": "038612e783c215ee5f3ca9fbfca27b8d0739be1028fe4ee7c174aecf0b83d5df",
    "valid": "453ce7202afa58094a04d2b1560ee2b02660f1c260b32ce6651c8ccedd1028ab",
    "test": "0383bceaaa1096cf3c03ec021ed0048068e2355dbfc0239b292cefdac821cec5",
}


@pytest.fixture
def no_user_data(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """No $SPTX_DATA_DIR and an empty cache folder, as on a fresh machine; returns the cache folder."""
    monkeypatch.delenv("SPTX_DATA_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    return tmp_path / "xdg" / "sptx" / "datasets"


def _tiny(folder: Path, train: str) -> Path:
    folder.mkdir(parents=True)
    for split, text in (("train", train), ("valid", "a\tr\tb\n"), ("test", "b\tr\ta\n")):
        (folder / f"{split}.txt").write_text(text, encoding="utf-8")
    return folder


def test_embedded_wn18rr_is_the_published_dataset(embedded_wn18rr: KGDataset) -> None:
    assert embedded_wn18rr.kind == "real" and embedded_wn18rr.label == "WN18RR"
    assert tuple(dataset_counts(embedded_wn18rr).values()) == (40_943, 11, 86_835, 3_034, 3_134)
    assert embedded_wn18rr.source.endswith("(embedded)")
    listing = "".join(f"{split}:{sha}\n" for split, sha in _UNCOMPRESSED.items())
    assert embedded_wn18rr.content_sha256 == hashlib.sha256(listing.encode()).hexdigest()


def test_fresh_machine_finds_real_wn18rr_embedded(no_user_data: Path) -> None:
    files = locate_dataset("wn18rr")
    assert files is not None and files.source == "embedded" and files.folder == EMBEDDED_ROOT / "WN18RR"
    assert locate_dataset("FB15k-237") is None and locate_dataset("WN18") is None


def test_lookup_order_data_dir_env_cache_then_embedded(
    tmp_path: Path, no_user_data: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _tiny(no_user_data / "WN18RR", "c\tr\tc2\n")
    env = _tiny(tmp_path / "env" / "WN18RR", "e\tr\te2\n").parent
    given = _tiny(tmp_path / "given" / "WN18RR", "g\tr\tg2\n").parent
    assert locate_dataset("WN18RR").source == "cache"
    monkeypatch.setenv("SPTX_DATA_DIR", str(env))
    assert locate_dataset("WN18RR").source == "$SPTX_DATA_DIR"
    found = locate_dataset("WN18RR", given)
    assert found.source == "--data-dir" and found.folder == given / "WN18RR"
    assert locate_dataset("WN18RR", tmp_path / "empty").source == "embedded"
    with pytest.warns(UserWarning, match="modified"):
        assert load_dataset("WN18RR", given).entity_labels[0] == "g"


def test_a_corrupt_embedded_file_is_a_one_line_error(
    tmp_path: Path, no_user_data: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    copy = tmp_path / "copy" / "WN18RR"
    shutil.copytree(EMBEDDED_ROOT / "WN18RR", copy)
    verify_embedded(copy)
    data = bytearray((copy / "valid.txt.gz").read_bytes())
    data[-9] ^= 0xFF
    (copy / "valid.txt.gz").write_bytes(bytes(data))
    with pytest.raises(SptxError) as info:
        verify_embedded(copy)
    message = str(info.value)
    assert "valid.txt.gz is corrupt" in message and EMBEDDED_SHA256["WN18RR"]["valid.txt.gz"] in message
    assert "\n" not in message
    monkeypatch.setattr("harness.data.locate.embedded_folder", lambda name: copy if name.casefold() == "wn18rr" else None)
    with pytest.raises(SptxError, match="valid.txt.gz is corrupt"):
        load_dataset("WN18RR")


def test_provenance_and_wordnet_licence_ship_beside_the_data() -> None:
    folder = EMBEDDED_ROOT / "WN18RR"
    provenance = (folder / "PROVENANCE.md").read_text(encoding="utf-8")
    licence = (folder / "LICENSE-WordNet.txt").read_text(encoding="utf-8")
    assert "TimDettmers/ConvE" in provenance and "LICENSE-WordNet.txt" in provenance
    for name, sha in EMBEDDED_SHA256["WN18RR"].items():
        assert hashlib.sha256((folder / name).read_bytes()).hexdigest() == sha and sha in provenance
    assert "WordNet 3.0 Copyright 2006 by Princeton University.  All rights reserved." in licence
    assert "Permission to use, copy, modify and distribute this software" in licence


def _build(kind: str, out: Path) -> Path:
    """Build a wheel or an sdist of a copy of the project (so the checkout gets no build/ folder)."""
    source = out / "src"
    shutil.copytree(_REPO, source, ignore=shutil.ignore_patterns(
        ".git", ".venv", ".tox", "build", "dist", "*.egg-info", "__pycache__", "results", "reports", "benchmarks",
        "tests", ".ci-venv"))
    code = f"from setuptools import build_meta as b; print(b.build_{kind}({str(out)!r}))"
    done = subprocess.run([sys.executable, "-c", code], cwd=source, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    return out / done.stdout.strip().splitlines()[-1]


@pytest.mark.parametrize("kind", ["wheel", "sdist"])
def test_wheel_and_sdist_ship_the_embedded_dataset(tmp_path: Path, kind: str) -> None:
    pytest.importorskip("setuptools")
    built = _build(kind, tmp_path)
    if kind == "wheel":
        with zipfile.ZipFile(built) as zf:
            sizes = {info.filename: info.file_size for info in zf.infolist()}
        prefix = "harness/data/embedded/WN18RR/"
    else:
        with tarfile.open(built) as tar:
            sizes = {info.name: info.size for info in tar.getmembers()}
        prefix = f"{built.name[: -len('.tar.gz')]}/harness/data/embedded/WN18RR/"
    for name in _FILES:
        assert prefix + name in sizes, f"{kind} lacks {prefix + name}"
    data = sum(size for name, size in sizes.items() if "/embedded/" in name)
    assert data < 1_200_000, f"embedded data is {data:,} bytes"  # about 0.9 MB: well under the 5 MB budget
    assert sum(sizes.values()) < 5_000_000
