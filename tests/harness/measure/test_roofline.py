"""The memory roofline: the least bytes of a step, counted by hand on a tiny case, and a triad bandwidth."""

from __future__ import annotations

from harness.measure.roofline import min_bytes_per_step, triad_bandwidth


def test_least_bytes_of_a_transe_step_by_hand():
    # 100 entities, 4 relations, d = 8, 10 positives + 10 negatives = 20 rows
    rows, d = 20, 8
    touched = min(100, 2 * rows) * d + min(4, rows) * d  # entity and relation rows read once
    tables = 100 * d + 4 * d
    expected = 4 * (2 * touched + 7 * tables + 2 * 100 * d) + 8 * 3 * rows
    assert min_bytes_per_step("transe", 100, 4, d, None, 10, 1) == expected


def test_transr_counts_its_projection_matrices():
    transe = min_bytes_per_step("transe", 100, 4, 8, None, 10, 1)
    transr = min_bytes_per_step("transr", 100, 4, 8, 8, 10, 1)
    # each relation used adds its 8 x 8 projection (read, gradient written) and Adam over 4 of them
    assert transr - transe == 4 * (2 * 4 * 64 + 7 * 4 * 64)


def test_triad_bandwidth_is_a_plausible_rate():
    bandwidth = triad_bandwidth(n_elements=2**20, repeats=3)
    assert 1e8 < bandwidth < 1e13  # bytes per second: between 0.1 GB/s and 10 TB/s
