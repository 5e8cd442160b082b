"""Loading at scale (issue 19, item 2): the streamed, chunked id mapping gives exactly the ids of the old all-at-once
pd.factorize; labels as one buffer; OGB's sampled candidates kept in the dataset's ids; the big graphs listed."""

from __future__ import annotations

import gzip
import io
import re
import zipfile
import warnings
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from harness.cli import main
from harness.data import Labels, download_dataset, get_spec, load_candidates, load_dataset, load_folder
from harness.data import loader
from harness.errors import SptxError


def _reference(splits: dict[str, list[tuple[str, str, str]]]) -> tuple[dict[str, list], list[str], list[str]]:
    """The id mapping as encode_splits defined it before (issue 19): pd.factorize over every split at once, heads and
    tails interleaved line by line, train then valid then test."""
    rows = [row for split in ("train", "valid", "test") for row in splits[split]]
    entities = np.empty(2 * len(rows), dtype=object)
    entities[0::2], entities[1::2] = [r[0] for r in rows], [r[2] for r in rows]
    entity_codes, entity_labels = pd.factorize(entities)
    relation_codes, relation_labels = pd.factorize(np.array([r[1] for r in rows], dtype=object))
    triples = np.stack([entity_codes[0::2], relation_codes, entity_codes[1::2]], axis=1).tolist()
    out, start = {}, 0
    for split in ("train", "valid", "test"):
        out[split], start = triples[start : start + len(splits[split])], start + len(splits[split])
    return out, list(entity_labels), list(relation_labels)


def _random_splits(seed: int) -> dict[str, list[tuple[str, str, str]]]:
    rng = np.random.default_rng(seed)
    names = ["1", "01", "001", "True", "nan", "NA", "x y", "#c", '"q', "é", "/m/027rn", "-3", "1e5"]
    names += [f"e{i}" for i in range(40)]
    def rows(n: int) -> list[tuple[str, str, str]]:
        return [(names[a], f"r{b}" if b else "0", names[c])
                for a, b, c in zip(rng.integers(0, len(names), n), rng.integers(0, 5, n), rng.integers(0, len(names), n))]
    return {"train": rows(300), "valid": rows(20), "test": rows(25)}


@pytest.mark.parametrize("rows_per_chunk", [7, 1 << 20])
def test_streamed_ids_equal_the_old_all_at_once_mapping(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                        rows_per_chunk: int) -> None:
    """Labels that look like numbers, NA markers, quotes or comments stay distinct strings; gzip and CRLF too."""
    monkeypatch.setattr(loader, "_ROWS_PER_CHUNK", rows_per_chunk)
    monkeypatch.setenv("SPTX_CACHE_DIR", "off")
    splits = _random_splits(0)
    folder = tmp_path / "g"
    folder.mkdir()
    for split, rows in splits.items():
        text = "".join(f"{h}\t{r}\t{t}\n" for h, r, t in rows)
        if split == "train":
            (folder / "train.txt.gz").write_bytes(gzip.compress(text.encode()))
        else:
            (folder / f"{split}.txt").write_bytes(text.replace("\n", "\r\n").encode())
    expected, entity_labels, relation_labels = _reference(splits)
    ds = load_folder(folder)
    assert {s: getattr(ds, s).tolist() for s in ("train", "valid", "test")} == expected
    assert ds.entity_labels == entity_labels and ds.relation_labels == relation_labels
    assert isinstance(ds.entity_labels, Labels) and ds.n_entities == len(entity_labels)


@pytest.mark.parametrize("text,message", [
    ("a\tr\tb\nc\tr\td\t\n", "line 2: expected 3 tab-separated fields (head, relation, tail), found 4"),
    ("a\tr\tb\tx\nc\tr\td\ty\n", "line 1: expected 3 tab-separated fields (head, relation, tail), found 4"),
    ("a\tr\tb\n\tr\td\n", "line 2: empty head field"),
])
def test_the_streamed_reader_refuses_what_the_validator_names(tmp_path: Path, text: str, message: str) -> None:
    folder = tmp_path / "g"
    folder.mkdir()
    for split in ("train", "valid", "test"):
        (folder / f"{split}.txt").write_text("a\tr\tb\n")
    (folder / "test.txt").write_text(text)
    with pytest.raises(SptxError, match=re.escape(message)):
        load_folder(folder)


def test_labels_are_one_buffer_saved_and_read_lazily(tmp_path: Path) -> None:
    labels = Labels.from_strings(["a", "é", "c d"])
    assert len(labels) == 3 and labels[1] == "é" and labels[-1] == "c d" and labels[:2] == ["a", "é"]
    assert labels == ("a", "é", "c d") and labels != ("a", "é") and list(labels) == ["a", "é", "c d"]
    labels.save(tmp_path / "l.txt")
    read = Labels.from_file(tmp_path / "l.txt")
    assert read == labels and len(Labels.from_strings([])) == 0
    with pytest.raises(IndexError):
        labels[3]
    with pytest.raises(ValueError):
        Labels.from_strings(["a\nb"])


def _ogb_zip(path: Path, top: str, kind: str, rows: dict) -> Path:
    """An OGB link-property zip as snap.stanford.edu serves it: <top>/split/<kind>/{train,valid,test}.pt."""
    with zipfile.ZipFile(path, "w") as zf:
        for split, content in rows.items():
            buffer = io.BytesIO()
            torch.save({k: (v if k.endswith("_type") else np.asarray(v)) for k, v in content.items()}, buffer)
            zf.writestr(f"{top}/split/{kind}/{split}.pt", buffer.getvalue())
    return path


def _sha(path: Path) -> str:
    import hashlib

    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_wikikg2_candidates_are_kept_in_the_datasets_ids(tmp_path: Path) -> None:
    rows = {
        "train": {"head": [10, 11, 12], "relation": [0, 1, 0], "tail": [11, 12, 13]},
        "valid": {"head": [13], "relation": [1], "tail": [10], "head_neg": [[11, 12, 99]], "tail_neg": [[12, 13, 10]]},
        "test": {"head": [12, 11], "relation": [0, 0], "tail": [10, 13],
                 "head_neg": [[10, 11, 12], [13, 12, 11]], "tail_neg": [[11, 11, 11], [12, 10, 13]]},
    }
    archive = _ogb_zip(tmp_path / "wikikg-v2.zip", "wikikg-v2", "time", rows)
    spec = replace(get_spec("ogbl-wikikg2"), url=archive.as_uri(), sha256=_sha(archive))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        folder = download_dataset(spec, tmp_path / "data")
        ds = load_dataset("ogbl-wikikg2", tmp_path / "data")
    for split in ("valid", "test"):
        candidates = load_candidates(folder, split)
        assert candidates is not None
        for side, got in zip(("head_neg", "tail_neg"), candidates):
            want = [[str(x) for x in row] for row in rows[split][side]]
            assert got.dtype == np.int64 and got.shape == np.asarray(rows[split][side]).shape
            named = [[ds.entity_labels[i] if i >= 0 else "99" for i in row] for row in got.tolist()]
            assert named == want  # the same entities, in the dataset's ids; 99 names no entity: -1
    assert int(load_candidates(folder, "valid")[0][0, 2]) == -1
    with pytest.raises(SptxError, match="only valid, test"):
        load_candidates(folder, "train")


def test_biokg_candidates_are_offset_by_entity_type(tmp_path: Path) -> None:
    """ogbl-biokg numbers entities per type: a negative is of its triple's head (tail) type."""
    types = {"head_type": ["protein", "drug"], "tail_type": ["drug", "protein"]}
    rows = {
        "train": {"head": [0, 0], "relation": [0, 1], "tail": [0, 1], **types},
        "valid": {"head": [1], "relation": [0], "tail": [0], "head_type": ["protein"], "tail_type": ["drug"],
                  "head_neg": [[0, 1]], "tail_neg": [[1, 0]]},
        "test": {"head": [0, 0], "relation": [1, 0], "tail": [0, 1], **types,
                 "head_neg": [[1, 0], [0, 1]], "tail_neg": [[0, 1], [1, 0]]},
    }
    archive = _ogb_zip(tmp_path / "biokg.zip", "biokg", "random", rows)
    spec = replace(get_spec("BioKG"), url=archive.as_uri(), sha256=_sha(archive))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        folder = download_dataset(spec, tmp_path / "data")
        ds = load_dataset("BioKG", tmp_path / "data")
    head_neg, tail_neg = load_candidates(folder, "test")
    def named(ids: np.ndarray) -> list[list[str]]:
        return [[ds.entity_labels[i] if i >= 0 else "-" for i in row] for row in ids.tolist()]
    # drug:1 is in no triple: -1 (`-`); protein 1 is, and protein 0 and drug 0 keep their types apart
    assert named(head_neg) == [["protein:1", "protein:0"], ["drug:0", "-"]]
    assert named(tail_neg) == [["drug:0", "-"], ["protein:1", "protein:0"]]
    assert load_candidates(tmp_path, "valid") is None  # no candidates file: not an OGB dataset


def test_big_public_graphs_are_listed_with_their_published_counts(tmp_path: Path,
                                                                  capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["datasets", "--data-dir", str(tmp_path), "--no-load"]) == 0
    out = capsys.readouterr().out
    for name, counts in (("Wikidata5M", ("4,594,485", "822", "20,614,279", "5,163", "5,133")),
                         ("ogbl-wikikg2", ("2,500,604", "535", "16,109,182", "429,456", "598,543"))):
        row = next(line for line in out.splitlines() if f" {name} " in line)
        assert all(count in row for count in counts) and "missing" in row


def test_a_cached_text_graph_is_the_fresh_parse_and_a_changed_file_is_not_it(tmp_path: Path,
                                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    from harness.data import cache as graph_cache

    monkeypatch.setenv("SPTX_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(graph_cache, "CACHE_MIN_TRIPLES", 1)
    monkeypatch.setattr(loader, "_large", lambda files, n: True)
    folder = tmp_path / "g"
    folder.mkdir()
    splits = _random_splits(1)
    for split, rows in splits.items():
        (folder / f"{split}.txt").write_text("".join(f"{h}\t{r}\t{t}\n" for h, r, t in rows))
    fresh = load_folder(folder)
    cached = load_folder(folder)
    assert (tmp_path / "cache" / fresh.content_sha256 / "entities.txt").is_file()
    for split in ("train", "valid", "test"):
        assert torch.equal(getattr(fresh, split), getattr(cached, split))
    assert cached.entity_labels == fresh.entity_labels and cached.relation_labels == fresh.relation_labels
    with (folder / "valid.txt").open("a") as handle:
        handle.write("e1\tr1\tnew-entity\n")
    changed = load_folder(folder)
    assert changed.content_sha256 != fresh.content_sha256 and changed.n_entities == fresh.n_entities + 1
    assert "new-entity" in list(changed.entity_labels) and len(list((tmp_path / "cache").iterdir())) == 2
