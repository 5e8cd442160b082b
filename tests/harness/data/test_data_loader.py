"""The loader: the one-line errors for bad input, a tiny hand-made dataset, and the real datasets' counts."""

from __future__ import annotations

import gzip
import warnings
from pathlib import Path

import pytest
import torch

from harness.data import (
    DatasetNotFoundError,
    dataset_counts,
    load_dataset,
    load_folder,
    read_triples_file,
    resolve_dataset,
)
from harness.errors import SptxError

GOOD = "a\tr1\tb\nb\tr2\tc\nc\tr1\ta\n"


def _dataset(folder: Path, train: str = GOOD, valid: str = "a\tr2\tc\n", test: str = "c\tr2\td\n") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for split, text in (("train", train), ("valid", valid), ("test", test)):
        (folder / f"{split}.txt").write_text(text, encoding="utf-8")
    return folder


def _error(path: Path) -> str:
    with pytest.raises(SptxError) as info:
        read_triples_file(path)
    message = str(info.value)
    assert "\n" not in message
    return message


def test_wrong_column_count_names_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "train.txt"
    path.write_text("a\tr\tb\nc\tr\td\te\nf\tr\tg\n", encoding="utf-8")
    message = _error(path)
    assert str(path) in message and "line 2" in message and "found 4" in message


def test_too_few_columns_names_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "train.txt"
    path.write_text("a\tr\tb\nc\tr\td\ne\tr\n", encoding="utf-8")
    message = _error(path)
    assert str(path) in message and "line 3" in message and "found 2" in message


def test_empty_field_names_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "valid.txt"
    path.write_text("a\tr\tb\nc\t\td\n", encoding="utf-8")
    message = _error(path)
    assert str(path) in message and "line 2" in message and "empty relation field" in message


def test_undecodable_bytes_name_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "test.txt.gz"
    path.write_bytes(gzip.compress(b"a\tr\tb\nc\tr\td\nx\tr\t\xff\xfe\n"))
    message = _error(path)
    assert str(path) in message and "line 3" in message and "UTF-8" in message


def test_empty_file_names_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "train.txt"
    path.write_bytes(b"")
    message = _error(path)
    assert str(path) in message and "line 1" in message and "empty file" in message


def test_blank_line_inside_file_is_rejected(tmp_path: Path) -> None:
    path = tmp_path / "train.txt"
    path.write_text("a\tr\tb\n\nc\tr\td\n", encoding="utf-8")
    message = _error(path)
    assert "line 2" in message and "empty line" in message


def test_missing_split_names_the_file_and_loads_nothing(tmp_path: Path) -> None:
    folder = _dataset(tmp_path / "mini")
    (folder / "valid.txt").unlink()
    with pytest.raises(SptxError, match=r"mini/valid\.txt.*missing split file"):
        load_folder(folder)


def test_bad_split_fails_whole_load(tmp_path: Path) -> None:
    folder = _dataset(tmp_path / "mini", test="a\tr\n")
    with pytest.raises(SptxError, match=r"test\.txt, line 1"):
        load_dataset(str(folder))


def test_tiny_dataset_ids_follow_first_appearance(tmp_path: Path) -> None:
    folder = _dataset(tmp_path / "mini")
    ds = load_dataset(str(folder))
    assert ds.name == "mini" and ds.kind == "real" and ds.label == "mini"
    assert ds.entity_labels == ("a", "b", "c", "d")
    assert ds.relation_labels == ("r1", "r2")
    assert ds.train.dtype == torch.int64
    assert ds.train.tolist() == [[0, 0, 1], [1, 1, 2], [2, 0, 0]]
    assert ds.valid.tolist() == [[0, 1, 2]]
    assert ds.test.tolist() == [[2, 1, 3]]
    assert (ds.n_entities, ds.n_relations) == (4, 2)


def test_crlf_gzip_and_trailing_newlines_are_accepted(tmp_path: Path) -> None:
    folder = tmp_path / "crlf"
    folder.mkdir()
    (folder / "train.txt.gz").write_bytes(gzip.compress(GOOD.replace("\n", "\r\n").encode() + b"\r\n\n"))
    (folder / "valid.txt").write_text("a\tr2\tc", encoding="utf-8")
    (folder / "test.txt").write_text("c\tr2\td\n", encoding="utf-8")
    ds = load_folder(folder)
    assert ds.train.tolist() == [[0, 0, 1], [1, 1, 2], [2, 0, 0]]
    assert ds.entity_labels == ("a", "b", "c", "d")


def test_registry_name_missing_files_says_where_and_how(tmp_path: Path) -> None:
    with pytest.raises(DatasetNotFoundError) as info:
        load_dataset("fb15k", tmp_path)
    message = str(info.value)
    assert str(tmp_path / "FB15k") in message
    assert "sptx datasets --download FB15k" in message and "synthetic:FB15k" in message


def test_unknown_name_lists_known_datasets() -> None:
    with pytest.raises(SptxError, match="FB15k-237.*YAGO3-10"):
        load_dataset("no-such-dataset-anywhere")


def test_resolve_dataset_falls_back_to_synthetic(tmp_path: Path) -> None:
    ds = resolve_dataset("WN18", tmp_path, fallback_synthetic=True)
    assert ds.kind == "synthetic" and ds.label == "synthetic:WN18"
    with pytest.raises(DatasetNotFoundError):
        resolve_dataset("WN18", tmp_path, fallback_synthetic=False)


def test_resolve_dataset_finds_the_embedded_wn18rr_instead_of_a_stand_in(tmp_path: Path) -> None:
    ds = resolve_dataset("WN18RR", tmp_path, fallback_synthetic=True)
    assert ds.kind == "real" and ds.label == "WN18RR" and ds.train.shape == (86_835, 3)


def test_data_dir_env_and_count_mismatch_warning(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _dataset(tmp_path / "WN18RR")
    monkeypatch.setenv("SPTX_DATA_DIR", str(tmp_path))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ds = resolve_dataset("wn18rr", None, fallback_synthetic=False)
    assert ds.kind == "modified" and ds.label == "WN18RR" and ds.n_entities == 4
    messages = [str(w.message) for w in caught]
    assert len(messages) == 1 and "\n" not in messages[0]
    assert messages[0].startswith("dataset WN18RR: n_entities expected 40,943, found 4; n_relations expected 11")
    assert f"(files in {tmp_path / 'WN18RR'})" in messages[0] and "dataset_kind 'modified'" in messages[0]


def test_cache_dir_honours_xdg(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from harness.data import default_cache_dir, resolve_data_dir

    monkeypatch.delenv("SPTX_DATA_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert default_cache_dir() == tmp_path / "sptx" / "datasets"
    assert resolve_data_dir(None).path == tmp_path / "sptx" / "datasets"
    assert resolve_data_dir(tmp_path / "x").path == tmp_path / "x"


PUBLISHED = {
    "FB15k-237": (14_541, 237, 272_115, 17_535, 20_466),
    "WN18RR": (40_943, 11, 86_835, 3_034, 3_134),
    "WN18": (40_943, 18, 141_442, 5_000, 5_000),
}


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(PUBLISHED))
def test_shared_real_dataset_counts(request: pytest.FixtureRequest, name: str) -> None:
    """FB15k-237 and WN18 from the shared copies (skipped without them); WN18RR from the embedded copy, always."""
    data_dir = request.getfixturevalue("embedded_datasets_dir" if name == "WN18RR" else "shared_datasets_dir")
    if not (data_dir / name).is_dir():
        pytest.skip(f"{data_dir / name} does not exist")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ds = load_dataset(name, data_dir)
    assert ds.kind == "real"
    counts = dataset_counts(ds)
    assert tuple(counts.values()) == PUBLISHED[name]
    for split in (ds.train, ds.valid, ds.test):
        assert split.dtype == torch.int64 and split.shape[1] == 3
        assert int(split[:, [0, 2]].min()) >= 0 and int(split[:, [0, 2]].max()) < ds.n_entities
        assert int(split[:, 1].max()) < ds.n_relations
    assert ds.entity_labels is not None and len(ds.entity_labels) == ds.n_entities
