"""Graphs of any size: synthetic:entities=..,relations=..,triples=.. and the on-disk graph cache."""

from __future__ import annotations

import pytest
import torch

from harness.data import load_dataset
from harness.data import cache as graph_cache
from harness.data.loader import dataset_fingerprint
from harness.data.synthetic import parse_count, synthetic_shape
from harness.errors import SptxError


def test_explicit_sizes_with_suffixes_and_seed():
    shape = synthetic_shape("synthetic:entities=2k,relations=7,triples=10k,seed=3")
    assert (shape.n_entities, shape.n_relations, shape.split_sizes, shape.seed) == (2000, 7, (10000, 100, 100), 3)
    assert parse_count("entities", "4M", "x") == 4_000_000 and parse_count("entities", "1.5k", "x") == 1500


def test_a_sized_graph_is_labelled_synthetic_covers_every_id_and_is_seeded():
    name = "synthetic:entities=500,relations=4,triples=3k"
    a, b = load_dataset(name), load_dataset(name)
    assert a.label == "synthetic:entities=500,relations=4,triples=3000" and a.kind == "synthetic"
    assert (a.n_entities, a.n_relations, a.train.shape[0]) == (500, 4, 3000)
    assert torch.equal(a.train, b.train)
    assert set(torch.cat((a.train[:, 0], a.train[:, 2])).tolist()) == set(range(500))
    assert a.content_sha256 == dataset_fingerprint(name)
    other = load_dataset("synthetic:entities=500,relations=4,triples=3k,seed=1")
    assert not torch.equal(a.train, other.train) and other.content_sha256 != a.content_sha256


@pytest.mark.parametrize("name,message", [
    ("synthetic:entities=10,relations=2", "missing triples"),
    ("synthetic:entities=ten,relations=2,triples=50", "is not a count"),
    ("synthetic:entities=10,relations=2,triples=50,colour=red", "expected entities=N"),
    ("synthetic:entities=100,relations=2,triples=10", "too few train triples"),
    ("synthetic:entities=0,relations=2,triples=10", ">= 1"),
])
def test_bad_sizes_are_one_line_errors(name, message):
    with pytest.raises(SptxError, match=message):
        load_dataset(name)


def test_big_graphs_are_cached_and_read_back_the_same(tmp_path, monkeypatch):
    monkeypatch.setenv("SPTX_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(graph_cache, "CACHE_MIN_TRIPLES", 1000)
    name = "synthetic:entities=300,relations=3,triples=2k"
    built = load_dataset(name)
    folders = list(tmp_path.iterdir())
    assert [f.name for f in folders] == [built.content_sha256]
    monkeypatch.setattr("harness.data.loader.generate_synthetic", lambda *a, **k: pytest.fail("not from the cache"))
    read = load_dataset(name)
    assert torch.equal(read.train, built.train) and torch.equal(read.test, built.test)
    assert (read.label, read.content_sha256, read.n_entities) == (built.label, built.content_sha256, built.n_entities)


def test_the_cache_can_be_turned_off(tmp_path, monkeypatch):
    monkeypatch.setenv("SPTX_CACHE_DIR", "off")
    monkeypatch.setattr(graph_cache, "CACHE_MIN_TRIPLES", 1)
    load_dataset("synthetic:entities=300,relations=3,triples=2k")
    assert graph_cache.cache_folder() is None


def test_a_big_text_graph_is_parsed_once_then_read_from_the_cache(tmp_path, monkeypatch):
    """Text graphs are cached by their content hash like synthetic ones (here 'big' from 1 triple on); a changed file
    is another graph."""
    from harness.data import loader

    monkeypatch.setenv("SPTX_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(graph_cache, "CACHE_MIN_TRIPLES", 1)
    folder = tmp_path / "g"
    folder.mkdir()
    (folder / "train.txt").write_text("a\tr\tb\nb\tr\tc\nc\ts\ta\n" * 2)
    (folder / "valid.txt").write_text("a\ts\tc\n")
    (folder / "test.txt").write_text("b\ts\ta\n")
    first = load_dataset(str(folder))
    parses = []
    real_parse = loader._parse_split_files
    monkeypatch.setattr(loader, "_parse_split_files", lambda *a: parses.append(a) or real_parse(*a))
    again = load_dataset(str(folder))
    assert parses == []  # from the cache: id arrays, with the labels read from its text files only when asked for
    assert again.entity_labels == first.entity_labels == ("a", "b", "c") and again.relation_labels == ("r", "s")
    assert torch.equal(first.train, again.train) and torch.equal(first.test, again.test)
    assert (again.n_entities, again.n_relations, again.content_sha256) == (3, 2, first.content_sha256)
    assert again.name == first.name and again.source == first.source
    (folder / "test.txt").write_text("c\ts\ta\n")
    changed = load_dataset(str(folder))
    assert len(parses) == 1 and changed.test.tolist() == [[2, 1, 0]]
