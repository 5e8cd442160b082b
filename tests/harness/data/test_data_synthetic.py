"""Synthetic stand-ins: registry sizes, determinism, id ranges and a heavy-tailed degree distribution."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from harness.data import REGISTRY, get_spec, load_dataset
from harness.data.synthetic import generate_synthetic, synthetic_split_sizes
from harness.errors import SptxError


@pytest.mark.parametrize("name", ["FB15k-237", "WN18RR", "FB13"])
def test_sizes_match_registry(name: str) -> None:
    spec = get_spec(name)
    ds = load_dataset(f"synthetic:{name.lower()}")
    assert ds.kind == "synthetic" and ds.label == f"synthetic:{spec.name}"
    assert (ds.n_entities, ds.n_relations) == (spec.n_entities, spec.n_relations)
    assert ds.train.shape == (spec.n_train, 3)
    n_valid = spec.n_valid if spec.n_valid is not None else round(spec.n_train * 0.01)
    assert ds.valid.shape == (n_valid, 3)
    assert ds.test.shape == (synthetic_split_sizes(spec)[2], 3)


def test_same_seed_same_tensors_other_seed_differs() -> None:
    a = generate_synthetic("WN18RR", seed=0)
    b = generate_synthetic("synthetic:WN18RR", seed=0)
    c = generate_synthetic("WN18RR", seed=1)
    for split in ("train", "valid", "test"):
        assert torch.equal(getattr(a, split), getattr(b, split))
    assert not torch.equal(a.train, c.train)
    assert load_dataset("synthetic:WN18RR", seed=1).train.equal(c.train)


def test_ids_in_range_and_every_id_used() -> None:
    ds = generate_synthetic("FB15k-237", seed=3)
    for split in (ds.train, ds.valid, ds.test):
        assert split.dtype == torch.int64
        assert int(split[:, [0, 2]].min()) >= 0 and int(split[:, [0, 2]].max()) < ds.n_entities
        assert int(split[:, 1].min()) >= 0 and int(split[:, 1].max()) < ds.n_relations
    assert torch.unique(ds.train[:, 1]).numel() == ds.n_relations
    assert torch.unique(ds.train[:, [0, 2]]).numel() == ds.n_entities
    assert int((ds.train[:, 0] == ds.train[:, 2]).sum()) == 0


def test_entity_degrees_are_heavy_tailed() -> None:
    ds = generate_synthetic("FB15k-237")
    degrees = np.sort(np.bincount(ds.train[:, [0, 2]].numpy().ravel(), minlength=ds.n_entities))[::-1]
    top = degrees[: ds.n_entities // 100].sum() / degrees.sum()
    assert top > 0.10
    relations = np.sort(np.bincount(ds.train[:, 1].numpy(), minlength=ds.n_relations))[::-1]
    assert relations[0] > 10 * np.median(relations)


def test_every_registry_dataset_has_a_synthetic_spec() -> None:
    assert [s.name for s in REGISTRY] == ["FB15k", "FB15k-237", "WN18", "WN18RR", "FB13", "YAGO3-10", "BioKG",
                                         "Wikidata5M", "ogbl-wikikg2"]
    for spec in REGISTRY:
        assert synthetic_split_sizes(spec)[0] == spec.n_train


def test_unknown_synthetic_name_is_an_error() -> None:
    with pytest.raises(SptxError, match="known datasets: FB15k"):
        load_dataset("synthetic:Nope")
    with pytest.raises(SptxError, match="synthetic:NAME"):
        load_dataset("synthetic:")
