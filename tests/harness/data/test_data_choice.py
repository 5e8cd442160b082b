"""Which dataset a run measures: the embedded real WN18RR when the default FB15k-237 is missing (issue 12), modified
copies said out loud (issue 8 item 6), and folders that are incomplete or custom (issue 8 item 10)."""

from __future__ import annotations

import gzip
import shutil
import warnings
from pathlib import Path

import pytest

from harness.cli import main
from harness.data import IncompleteDatasetError, load_dataset, resolve_dataset
from harness.data.choice import choose_dataset
from harness.errors import SptxError


@pytest.fixture
def no_user_data(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """No $SPTX_DATA_DIR and an empty cache folder, as on a fresh clone; returns an empty data folder."""
    monkeypatch.delenv("SPTX_DATA_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    (tmp_path / "data").mkdir()
    return tmp_path / "data"


def _tiny(folder: Path, skip: str = "") -> Path:
    folder.mkdir(parents=True)
    for split, text in (("train", "a\tr\tb\nb\tr\tc\n"), ("valid", "a\tr\tc\n"), ("test", "c\tr\ta\n")):
        if split != skip:
            (folder / f"{split}.txt").write_text(text, encoding="utf-8")
    return folder


def test_no_dataset_named_and_no_fb15k237_means_real_embedded_wn18rr(no_user_data: Path) -> None:
    """Issue 12: before, this was `synthetic:FB15k-237`."""
    for data_dir in (None, no_user_data):
        choice = choose_dataset(None, data_dir, fallback_synthetic=True)
        assert choice.name == "WN18RR"
        assert choice.notice.startswith("FB15k-237 not found (")
        assert "measuring the real WN18RR instead, from the copy embedded in sptx" in choice.notice
        assert "synthetic:FB15k-237" in choice.notice and "\n" not in choice.notice
    ds = load_dataset(choice.name, no_user_data)
    assert (ds.kind, ds.label, ds.n_entities) == ("real", "WN18RR", 40_943)


def test_no_dataset_named_uses_fb15k237_where_found(no_user_data: Path) -> None:
    _tiny(no_user_data / "FB15k-237")
    choice = choose_dataset(None, no_user_data, fallback_synthetic=True)
    assert choice.name == "FB15k-237" and "n_train expected 272,115, found 2" in choice.notice


def test_synthetic_by_name_and_the_sweep_fallback_stay(no_user_data: Path) -> None:
    assert choose_dataset("synthetic:FB15k-237", no_user_data, False).name == "synthetic:FB15k-237"
    swept = choose_dataset("FB15k-237", no_user_data, fallback_synthetic=True)
    assert swept.name == "synthetic:FB15k-237" and "synthetic graph" in swept.notice
    assert choose_dataset("WN18RR", no_user_data, fallback_synthetic=True).name == "WN18RR"
    with pytest.raises(SptxError, match="FB15k-237 not found: expected"):
        choose_dataset("FB15k-237", no_user_data, fallback_synthetic=False)
    with pytest.raises(SptxError, match="unknown dataset 'NoSuch'"):
        choose_dataset("synthetic:NoSuch", no_user_data, fallback_synthetic=False)


def test_registry_folder_missing_valid_names_the_file(no_user_data: Path) -> None:
    """Issue 8 item 10: before, this fell back to the synthetic stand-in without naming the missing file."""
    folder = _tiny(no_user_data / "FB15k-237", skip="valid")
    expected = rf"{folder / 'valid'}\.txt\[\.gz\]: missing split file"
    for call in (
        lambda: choose_dataset("FB15k-237", no_user_data, fallback_synthetic=True),
        lambda: choose_dataset(None, no_user_data, fallback_synthetic=True),
        lambda: resolve_dataset("FB15k-237", no_user_data, fallback_synthetic=True),
        lambda: load_dataset("FB15k-237", no_user_data),
    ):
        with pytest.raises(IncompleteDatasetError, match=expected):
            call()
    _tiny(no_user_data / "WN18RR", skip="test")
    with pytest.raises(IncompleteDatasetError, match=r"WN18RR/test\.txt\[\.gz\]: missing split file"):
        load_dataset("WN18RR", no_user_data)


def test_custom_folder_inside_the_data_dir(no_user_data: Path) -> None:
    """Issue 8 item 10: `--data-dir D --dataset NAME` finds D/NAME even when NAME is in no registry."""
    _tiny(no_user_data / "family")
    assert choose_dataset("family", no_user_data, fallback_synthetic=False).name == "family"
    ds = load_dataset("family", no_user_data)
    assert (ds.name, ds.kind, ds.n_entities) == ("family", "real", 3)
    with pytest.raises(SptxError, match=f"not a folder here or in the data folder {no_user_data}"):
        choose_dataset("nobody", no_user_data, fallback_synthetic=True)
    _tiny(no_user_data / "broken", skip="train")
    with pytest.raises(IncompleteDatasetError, match=r"broken/train\.txt\[\.gz\]: missing split file"):
        choose_dataset("broken", no_user_data, fallback_synthetic=False)


def test_custom_folder_inside_the_data_dir_from_the_command_line(
    no_user_data: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pytest.importorskip("torchkge")
    _tiny(no_user_data / "family")
    assert main(["verify", "--model", "transe", "--dataset", "family", "--data-dir", str(no_user_data), "--dim", "4",
                 "--batch-size", "2"]) == 0
    assert "PASS" in capsys.readouterr().out


@pytest.fixture
def cut_wn18(request: pytest.FixtureRequest, no_user_data: Path) -> Path:
    """A WN18 folder whose train.txt is cut to 1,000 lines: from the shared WN18 when present, else (same check)
    from the embedded WN18RR files put in a folder named WN18."""
    try:
        source = request.getfixturevalue("shared_datasets_dir") / "WN18"
    except pytest.skip.Exception:
        source = request.getfixturevalue("embedded_wn18rr_dir")
    if not source.is_dir():
        source = request.getfixturevalue("embedded_wn18rr_dir")
    folder = no_user_data / "WN18"
    folder.mkdir()
    for split in ("valid", "test"):
        shutil.copyfile(source / f"{split}.txt.gz", folder / f"{split}.txt.gz")
    with gzip.open(source / "train.txt.gz", "rt", encoding="utf-8") as handle:
        lines = [next(handle) for _ in range(1_000)]
    (folder / "train.txt").write_text("".join(lines), encoding="utf-8")
    return folder


def test_wn18_with_train_cut_is_labelled_modified(
    cut_wn18: Path, no_user_data: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Issue 8 item 6: before, this was recorded as `WN18`, dataset_kind `real`, with no warning on screen."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ds = load_dataset("WN18", no_user_data)
        by_path = load_dataset(str(cut_wn18))
    assert (ds.kind, ds.label, ds.train.shape[0]) == ("modified", "WN18", 1_000)
    assert (by_path.kind, by_path.label) == ("modified", "WN18")
    messages = [str(w.message) for w in caught]
    assert len(messages) == 2 and all("n_train expected 141,442, found 1,000" in m for m in messages)
    assert all("dataset_kind 'modified'" in m and "\n" not in m for m in messages)
    choice = choose_dataset("WN18", no_user_data, fallback_synthetic=False)
    assert choice.name == "WN18" and "n_train expected 141,442, found 1,000" in choice.notice
    assert "dataset_kind 'modified'" in choice.notice
    assert main(["datasets", "--data-dir", str(no_user_data)]) == 0
    out = capsys.readouterr().out
    assert "modified" in out and "WN18: n_train expected 141,442, found 1,000" in out
