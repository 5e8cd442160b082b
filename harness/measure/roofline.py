"""A memory roofline for the training step: the machine's practical bandwidth (a STREAM-like triad, in
the measuring process, at its thread count) and the least bytes a step must move, so a record can say
how far its step time is from the memory-bound floor (time / (bytes / bandwidth); 1 = at the roof).

The least bytes per step of identical work (float32; a lower bound, every tensor touched once):
- the batch: its (B + kB) x 3 int64 ids, read once;
- forward: each embedding row the batch uses, read once: entity rows min(n_entities, 2 x rows), the
  relation rows min(n_relations, rows) (TransR adds a d_r x d projection per relation used, TransH a
  normal vector);
- backward: a gradient for each of those rows, written once;
- the dense Adam step over every table: read parameter, gradient and both moments, write parameter and
  both moments (7 passes), then TorchKGE's re-normalisation of the entity table (read and write: 2).
"""

from __future__ import annotations

import math
import time

import torch

__all__ = ["FLOAT_BYTES", "min_bytes_per_step", "triad_bandwidth"]

FLOAT_BYTES = 4
_ADAM_PASSES = 7
_RENORMALISE_PASSES = 2


def triad_bandwidth(n_elements: int = 2**24, repeats: int = 5) -> float:
    """Bytes per second of a = b + 3 c over float32 arrays (3 arrays x 4 bytes per element, as STREAM
    counts), best of `repeats` after one warm-up, with torch's current thread count."""
    b = torch.rand(n_elements)
    c = torch.rand(n_elements)
    a = torch.empty(n_elements)
    torch.add(b, c, alpha=3.0, out=a)
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        torch.add(b, c, alpha=3.0, out=a)
        best = min(best, time.perf_counter() - start)
    return 3 * FLOAT_BYTES * n_elements / best


def _relation_side_shapes(model: str, dim: int, rel_dim: int | None, n_relations: int) -> list[tuple[int, ...]]:
    """Shapes of the model's relation-side tables (every canonical table but `entity`; see harness.models)."""
    from harness.models import get_model

    shapes = get_model(model).shapes(1, n_relations, dim, rel_dim)
    return [shape for name, shape in shapes.items() if name != "entity"]


def _table_elements(model: str, n_entities: int, n_relations: int, dim: int, rel_dim: int) -> tuple[int, int]:
    """(entity table elements, all relation-side table elements) of a model."""
    relation = sum(math.prod(shape) for shape in _relation_side_shapes(model, dim, rel_dim, n_relations))
    return n_entities * dim, relation


def _relation_row_elements(model: str, dim: int, rel_dim: int) -> int:
    """Elements a batch row reads from the relation side: the translation (and projection or normal)."""
    return sum(math.prod(shape[1:]) for shape in _relation_side_shapes(model, dim, rel_dim, 1))


def min_bytes_per_step(model: str, n_entities: int, n_relations: int, dim: int, rel_dim: int | None,
                       batch_size: int, num_negatives: int) -> int:
    """The least bytes one identical-work training step moves (see the module docstring)."""
    rel_dim = rel_dim or dim
    rows = batch_size * (1 + num_negatives)
    entity_rows = min(n_entities, 2 * rows)
    relation_rows = min(n_relations, rows)
    touched = entity_rows * dim + relation_rows * _relation_row_elements(model, dim, rel_dim)
    entity_table, relation_tables = _table_elements(model, n_entities, n_relations, dim, rel_dim)
    elements = 2 * touched + _ADAM_PASSES * (entity_table + relation_tables) + _RENORMALISE_PASSES * entity_table
    return FLOAT_BYTES * elements + 8 * 3 * rows
