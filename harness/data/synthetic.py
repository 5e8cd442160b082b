"""Seeded synthetic graphs with a heavy-tailed (Zipf-like) degree distribution: stand-ins with a paper
dataset's sizes (`synthetic:NAME`), or graphs of any size (`synthetic:entities=4M,relations=1000,triples=20M`,
optional `,seed=S`; k and M suffixes; valid and test are 1% of train each).

They let every stage run and be timed where the real files are missing, and at scales no file here has;
results on them are always labelled `synthetic:...`, never passed off as a real dataset.
"""

from __future__ import annotations

import hashlib
import json

import numpy as np
import torch

from dataclasses import dataclass

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
    "SyntheticShape",
    "synthetic_shape",
    "parse_count",
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


def _held_out(n_train: int) -> int:
    """The size of a synthetic valid or test split the sizes do not give: 1% of train (at least one)."""
    return max(1, round(n_train * 0.01))


def synthetic_split_sizes(spec: DatasetSpec) -> tuple[int, int, int]:
    """Train size from the registry; valid/test from the registry, or 1% of train where the paper gives none."""
    return spec.n_train, spec.n_valid or _held_out(spec.n_train), spec.n_test or _held_out(spec.n_train)


@dataclass(frozen=True)
class SyntheticShape:
    """What a synthetic graph is generated from: its name, counts, split sizes and (when named) its seed."""

    name: str
    n_entities: int
    n_relations: int
    split_sizes: tuple[int, int, int]
    seed: int | None = None  # set by `seed=S` in the name; else the caller's seed


_SIZE_KEYS = ("entities", "relations", "triples", "seed")
_SUFFIXES = {"k": 10**3, "m": 10**6, "g": 10**9}


def parse_count(key: str, text: str, where: str) -> int:
    """An integer with an optional k/M/G suffix, e.g. 4M = 4,000,000."""
    value = text.strip().casefold()
    factor = _SUFFIXES.get(value[-1:], 1)
    digits = value[:-1] if factor > 1 else value
    try:
        number = float(digits) * factor
    except ValueError:
        raise SptxError(f"{where}: {key}={text!r} is not a count (e.g. 4M, 125k, 1000)") from None
    if number != int(number) or number < (0 if key == "seed" else 1):
        raise SptxError(f"{where}: {key}={text!r} must be a whole number{'' if key == 'seed' else ' >= 1'}")
    return int(number)


def synthetic_shape(name: str) -> SyntheticShape:
    """The shape `synthetic:NAME` (a registry dataset's sizes) or `synthetic:entities=..,relations=..,triples=..`
    asks for; SptxError for anything else."""
    base = synthetic_base_name(name)
    if "=" not in base:
        spec = get_spec(base)
        return SyntheticShape(spec.name, spec.n_entities, spec.n_relations, synthetic_split_sizes(spec))
    where = f"synthetic:{base}"
    given: dict[str, int] = {}
    for part in base.split(","):
        key, _, text = part.partition("=")
        key = key.strip().casefold()
        if key not in _SIZE_KEYS or not text:
            raise SptxError(f"{where}: expected entities=N,relations=N,triples=N[,seed=S], not {part.strip()!r}")
        given[key] = parse_count(key, text, where)
    missing = [k for k in _SIZE_KEYS[:3] if k not in given]
    if missing:
        raise SptxError(f"{where}: missing {', '.join(missing)} (e.g. synthetic:entities=4M,relations=1000,triples=20M)")
    train = given["triples"]
    label = ",".join(f"{k}={given[k]}" for k in _SIZE_KEYS if k in given)
    splits = (train, _held_out(train), _held_out(train))
    return SyntheticShape(label, given["entities"], given["relations"], splits, given.get("seed"))


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
    """The content hash of a synthetic graph with `seed` (unless its name sets one): sha256 of the generator's
    name, version and parameters."""
    shape = synthetic_shape(name)
    parameters = {
        "generator": "harness.data.synthetic.generate_synthetic",
        "version": SYNTHETIC_VERSION,
        "dataset": shape.name,
        "n_entities": shape.n_entities,
        "n_relations": shape.n_relations,
        "split_sizes": list(shape.split_sizes),
        "entity_exponent": ENTITY_EXPONENT,
        "relation_exponent": RELATION_EXPONENT,
        "seed": seed if shape.seed is None else shape.seed,
    }
    text = json.dumps(parameters, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def generate_synthetic(name: str, seed: int = 0) -> KGDataset:
    """A deterministic synthetic graph: `synthetic:NAME` (or NAME) with the registry's entity, relation and train
    counts, or `synthetic:entities=..,relations=..,triples=..[,seed=S]`.

    Heads/tails follow a Zipf-like law over a random permutation of entity ids; every entity and relation occurs
    in train. Vectorised: 20M triples take seconds.
    """
    shape = synthetic_shape(name)
    seed = seed if shape.seed is None else shape.seed
    n_train, n_valid, n_test = shape.split_sizes
    if 2 * n_train < shape.n_entities or n_train < shape.n_relations:
        raise SptxError(f"synthetic:{shape.name}: too few train triples to cover every entity and relation "
                        f"(need at least entities/2 and relations)")
    rng = np.random.default_rng(seed)
    entities = _zipf_sampler(rng, shape.n_entities, ENTITY_EXPONENT)
    relations = _zipf_sampler(rng, shape.n_relations, RELATION_EXPONENT)
    train = _cover_all_ids(rng, _triples(rng, entities, relations, n_train), shape.n_entities, shape.n_relations)
    valid = _triples(rng, entities, relations, n_valid)
    test = _triples(rng, entities, relations, n_test)
    return KGDataset(
        name=shape.name,
        kind="synthetic",
        n_entities=shape.n_entities,
        n_relations=shape.n_relations,
        train=torch.from_numpy(train),
        valid=torch.from_numpy(valid),
        test=torch.from_numpy(test),
        source=f"synthetic generator (Zipf exponents {ENTITY_EXPONENT}/{RELATION_EXPONENT}, seed={seed})",
        content_sha256=synthetic_fingerprint(name, seed),
    )
