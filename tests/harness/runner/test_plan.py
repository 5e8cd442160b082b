"""Interleaved rounds: every cell once per round, a fresh seeded order per round, FLOPs and memory in
round 0 only."""

from __future__ import annotations

from harness.runner import make_cell, plan_rounds


def _cells():
    return [make_cell(f, model="transe", dataset="synthetic:WN18RR", dim=8, batch_size=16)
            for f in ("sparse", "gather", "torchkge", "pyg", "pykeen", "dglke")]


def test_every_round_runs_every_cell_once_in_its_own_order():
    cells = _cells()
    planned = plan_rounds(cells, 4, seed=0)
    assert len(planned) == 4 * len(cells)
    orders = []
    for r in range(4):
        this = [c for c in planned if c.round == r]
        assert sorted(c.framework for c in this) == sorted(c.framework for c in cells)
        assert all(c.rounds == 4 for c in this)
        orders.append([c.framework for c in this])
    assert len({tuple(o) for o in orders}) > 1  # not the same order every round
    assert plan_rounds(cells, 4, seed=0) == planned  # seeded: the same plan again
    assert len({c.key for c in planned}) == len(planned)  # the round is part of the key
    assert len({c.group_key for c in planned}) == 1  # but not of the comparison group


def test_flops_and_memory_are_measured_in_the_first_round_only():
    planned = plan_rounds(_cells(), 3, seed=1)
    assert all(c.measure_flops and c.measure_memory for c in planned if c.round == 0)
    assert not any(c.measure_flops or c.measure_memory for c in planned if c.round > 0)
