"""Seeded synthetic stand-ins with a paper dataset's sizes and a heavy-tailed (Zipf-like) degree distribution.

They let every stage run and be timed where the real files are missing; results on them are always labelled
`synthetic:NAME`, never passed off as the real dataset.
"""

from __future__ import annotations

import hashlib
import json

import numpy as np
import torch

from harness.data.dataset import KGDataset
from harness.data.registry import DatasetSpec, get_spec
from harness.errors import SptxError

__all__ = [
    "SYNTHETIC_PREFIX",
    "SYNTHETIC_VERSION",
    "ENTITY_EXPONENT",
    "RELATION_EXPONENT",
    "is_synthetic_name",
    "synthetic_base_name",
    "synthetic_split_sizes",
    "synthetic_fingerprint",
    "generate_synthetic",
]

SYNTHETIC_PREFIX = "synthetic:"
SYNTHETIC_VERSION = 1
"""Bumped whenever `generate_synthetic` would produce different triples for the same parameters."""
ENTITY_EXPONENT = 0.65
RELATION_EXPONENT = 1.0


def is_synthetic_name(name: str) -> bool:
    """Whether `name` asks for a synthetic stand-in (`synthetic:NAME`, case-insensitive prefix)."""
    return name.strip().casefold().startswith(SYNTHETIC_PREFIX)


def synthetic_base_name(name: str) -> str:
    """The paper dataset named by `synthetic:NAME`; an empty NAME is a user error."""
    base = name.strip()[len(SYNTHETIC_PREFIX) :].strip() if is_synthetic_name(name) else name.strip()
    if not base:
        raise SptxError(f"{name!r}: expected synthetic:NAME, e.g. synthetic:FB15k-237")
    return base


def synthetic_split_sizes(spec: DatasetSpec) -> tuple[int, int, int]:
    """Train size from the registry; valid/test from the registry, or 1% of train where the paper gives none."""
    fallback = max(1, round(spec.n_train * 0.01))
    return spec.n_train, spec.n_valid or fallback, spec.n_test or fallback


def _zipf_sampler(rng: np.random.Generator, n_items: int, exponent: float) -> tuple[np.ndarray, np.ndarray]:
    ranks = np.arange(1, n_items + 1, dtype=np.float64)
    cdf = np.cumsum(ranks**-exponent)
    return cdf / cdf[-1], rng.permutation(n_items).astype(np.int64)


def _sample(rng: np.random.Generator, sampler: tuple[np.ndarray, np.ndarray], size: int) -> np.ndarray:
    cdf, ids = sampler
    ranks = np.searchsorted(cdf, rng.random(size), side="right")
    return ids[np.minimum(ranks, len(ids) - 1)]


def _triples(
    rng: np.random.Generator,
    entities: tuple[np.ndarray, np.ndarray],
    relations: tuple[np.ndarray, np.ndarray],
    size: int,
) -> np.ndarray:
    out = np.empty((size, 3), dtype=np.int64)
    out[:, 0] = _sample(rng, entities, size)
    out[:, 1] = _sample(rng, relations, size)
    out[:, 2] = _sample(rng, entities, size)
    for _ in range(8):
        loops = np.flatnonzero(out[:, 0] == out[:, 2])
        if loops.size == 0:
            break
        out[loops, 2] = _sample(rng, entities, loops.size)
    return out


def _cover_all_ids(rng: np.random.Generator, train: np.ndarray, n_entities: int, n_relations: int) -> np.ndarray:
    every_entity = rng.permutation(n_entities)
    half = (n_entities + 1) // 2
    train[:half, 0] = every_entity[:half]
    train[: n_entities - half, 2] = every_entity[half:]
    train[:n_relations, 1] = rng.permutation(n_relations)
    fixed = train[:half]
    loops = np.flatnonzero(fixed[:, 0] == fixed[:, 2])
    fixed[loops, 2] = (fixed[loops, 2] + 1) % n_entities
    return train[rng.permutation(len(train))]


def synthetic_fingerprint(name: str, seed: int = 0) -> str:
    """The content hash of `synthetic:NAME` with `seed`: sha256 of the generator's name, version and parameters."""
    spec = get_spec(synthetic_base_name(name))
    parameters = {
        "generator": "harness.data.synthetic.generate_synthetic",
        "version": SYNTHETIC_VERSION,
        "dataset": spec.name,
        "n_entities": spec.n_entities,
        "n_relations": spec.n_relations,
        "split_sizes": list(synthetic_split_sizes(spec)),
        "entity_exponent": ENTITY_EXPONENT,
        "relation_exponent": RELATION_EXPONENT,
        "seed": seed,
    }
    text = json.dumps(parameters, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def generate_synthetic(name: str, seed: int = 0) -> KGDataset:
    """A deterministic stand-in for the paper dataset `name` (with or without the `synthetic:` prefix).

    Same entity, relation and train counts as the registry; heads/tails follow a Zipf-like law over a random
    permutation of entity ids; every entity and relation occurs in train.
    """
    spec = get_spec(synthetic_base_name(name))
    n_train, n_valid, n_test = synthetic_split_sizes(spec)
    if 2 * n_train < spec.n_entities or n_train < spec.n_relations:
        raise SptxError(f"synthetic:{spec.name}: too few train triples to cover every entity and relation")
    rng = np.random.default_rng(seed)
    entities = _zipf_sampler(rng, spec.n_entities, ENTITY_EXPONENT)
    relations = _zipf_sampler(rng, spec.n_relations, RELATION_EXPONENT)
    train = _cover_all_ids(rng, _triples(rng, entities, relations, n_train), spec.n_entities, spec.n_relations)
    valid = _triples(rng, entities, relations, n_valid)
    test = _triples(rng, entities, relations, n_test)
    return KGDataset(
        name=spec.name,
        kind="synthetic",
        n_entities=spec.n_entities,
        n_relations=spec.n_relations,
        train=torch.from_numpy(train),
        valid=torch.from_numpy(valid),
        test=torch.from_numpy(test),
        source=f"synthetic generator (Zipf exponents {ENTITY_EXPONENT}/{RELATION_EXPONENT}, seed={seed})",
        content_sha256=synthetic_fingerprint(spec.name, seed),
    )
