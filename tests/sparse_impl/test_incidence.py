"""Incidence matrices on a hand-made 3-triple example whose dense form is known."""

import torch

from sparse_impl.incidence import entity_incidence, translation_incidence

# (head, relation, tail); the last triple is a self-loop, whose +1 and -1 cancel in the head/tail column.
TRIPLES = torch.tensor([[0, 1, 2], [3, 0, 1], [2, 1, 2]])
N_ENT, N_REL = 4, 2


def test_translation_incidence_dense_form():
    expected = torch.tensor(
        [
            # e0  e1  e2  e3  r0  r1
            [1, 0, -1, 0, 0, 1],
            [0, -1, 0, 1, 1, 0],
            [0, 0, 0, 0, 0, 1],
        ],
        dtype=torch.float32,
    )
    pattern = translation_incidence(TRIPLES, N_ENT, N_REL)
    assert pattern.shape == (3, N_ENT + N_REL)
    assert pattern.nnz == 9
    assert torch.equal(pattern.crow, torch.tensor([0, 3, 6, 9]))
    assert torch.equal(pattern.to_dense(), expected)


def test_entity_incidence_dense_form():
    expected = torch.tensor([[1, 0, -1, 0], [0, -1, 0, 1], [0, 0, 0, 0]], dtype=torch.float32)
    pattern = entity_incidence(TRIPLES, N_ENT)
    assert pattern.shape == (3, N_ENT)
    assert torch.equal(pattern.to_dense(), expected)


def test_transpose_pattern_is_the_transpose():
    for pattern in (translation_incidence(TRIPLES, N_ENT, N_REL), entity_incidence(TRIPLES, N_ENT)):
        n_rows, n_cols = pattern.shape
        counts = pattern.t_crow[1:] - pattern.t_crow[:-1]
        t_rows = torch.repeat_interleave(torch.arange(n_cols), counts)
        dense_t = torch.zeros(n_cols, n_rows)
        dense_t.index_put_((t_rows, pattern.t_cols), pattern.t_values, accumulate=True)
        assert torch.equal(dense_t, pattern.to_dense().T)


def test_incidence_times_table_is_h_plus_r_minus_t():
    table = torch.randn(N_ENT + N_REL, 5, dtype=torch.float64)
    pattern = translation_incidence(TRIPLES, N_ENT, N_REL, dtype=torch.float64)
    h, r, t = table[TRIPLES[:, 0]], table[N_ENT + TRIPLES[:, 1]], table[TRIPLES[:, 2]]
    torch.testing.assert_close(pattern.to_dense() @ table, h + r - t)


def test_compact_entities_renumbers_only_when_few_are_touched():
    from sparse_impl.incidence import compact_entities

    triples = torch.tensor([[9, 0, 2], [2, 1, 30], [30, 0, 9]])
    compact = compact_entities(triples, 40)
    assert compact is not None and compact.ids.tolist() == [2, 9, 30]
    assert compact.triples.tolist() == [[1, 0, 0], [0, 1, 2], [2, 0, 1]]  # relations untouched
    assert compact_entities(torch.tensor([[0, 0, 1], [2, 0, 3]]), 6) is None  # 4 of 6 touched: whole table
