"""The scaling model on paper, on a case small enough to compute by hand."""

from __future__ import annotations

import pytest

from harness.distributed.scaling import GraphScale, MeasuredStep, Network, predict, prediction_grid, rows_touched
from harness.models import TableSpec

# TransE, d = 1: 999 entity rows + 1 relation row = 1000 floats = 4000 bytes of gradient tables.
GRAPH = GraphScale("hand", 999, 1, 4000)
MEASURED = MeasuredStep(model="transe", dim=1, batch_size=400, num_negatives=1, per_triple_s=0.1,
                        whole_table_s=0.008, n_entities=999, n_relations=1)
NETWORK = Network(bandwidth_gbit=1.0, latency_s=1e-5)  # 125e6 bytes/s


def test_dense_all_reduce_by_hand() -> None:
    got = predict(MEASURED, GRAPH, "dense", 4, NETWORK)
    assert got.sent_bytes == pytest.approx(2 * 3 / 4 * 4000)  # 6000
    assert got.compute_s == pytest.approx(0.1 * 100 / 400 + 0.008)  # 0.033: a quarter of the batch, all of Adam
    assert got.communicate_s == pytest.approx(6000 / 125e6 + 6 * 1e-5)  # 2(p-1) = 6 rounds of one all-reduce
    assert got.steps_per_epoch == 10
    assert got.epoch_s == pytest.approx(10 * (0.033 + 108e-6))


def test_row_sparse_all_gather_by_hand() -> None:
    got = predict(MEASURED, GRAPH, "rowsparse", 4, NETWORK)
    # 100 positives per rank, k = 1: <= 300 entity rows and 1 relation row, each an int64 index + 1 float;
    # plus one int64 count per table.
    payload = 300 * (8 + 4) + 1 * (8 + 4) + 2 * 8
    assert got.sent_bytes == pytest.approx(3 * payload)  # (p-1) x payload = 10884
    # (p-1) = 3 rounds for each of 5 collectives (the counts, then indices and rows of 2 tables)
    assert got.communicate_s == pytest.approx(3 * payload / 125e6 + 15 * 1e-5)


def test_sharded_by_hand() -> None:
    got = predict(MEASURED, GRAPH, "sharded", 4, NETWORK)
    # 100 positives per rank, k = 1: <= 300 entity rows, 3/4 of them (225) owned elsewhere, each asked for by an
    # int64 id, answered with a row (4 bytes) and its gradient sent back (4 bytes); 3 int64 counts; then the
    # all-reduce of the 1 x 1 relation table and its 1 row count: 2 (p-1)/p x 8 bytes.
    all_to_all = 3 * 8 + 225 * (8 + 4 + 4)
    assert got.sent_bytes == pytest.approx(all_to_all + 1.5 * 8)  # 3636
    # 4 all-to-alls of p-1 = 3 rounds, one all-reduce of 2(p-1) = 6
    assert got.communicate_s == pytest.approx(3636 / 125e6 + 18 * 1e-5)
    # a quarter of the batch; the update moves a quarter of the 999 rows the global batch touches
    # (min(999, 3 x 400)) and the relation row, at the measured 0.008 s / 1000 values
    assert got.compute_s == pytest.approx(0.1 * 100 / 400 + 0.008 * (999 / 4 + 1) / 1000)
    assert got.parameter_bytes == pytest.approx((999 / 4 + 1) * 4)  # a quarter of the entity rows, every relation
    assert predict(MEASURED, GRAPH, "dense", 4, NETWORK).parameter_bytes == 4000


def test_the_big_graphs_are_predicted() -> None:
    from harness.distributed.scaling import FREEBASE86M, GRAPHS, OGBL_WIKIKG2, WIKIDATA5M

    assert {FREEBASE86M, OGBL_WIKIKG2, WIKIDATA5M} <= set(GRAPHS)
    assert (WIKIDATA5M.n_entities, OGBL_WIKIKG2.n_entities, FREEBASE86M.n_entities) == (
        4_594_485, 2_500_604, 86_054_151)


def test_whole_table_work_grows_with_the_graph_and_rows_are_capped() -> None:
    bigger = GraphScale("twice", 1999, 1, 4000)
    assert predict(MEASURED, bigger, "dense", 4, NETWORK).compute_s == pytest.approx(0.025 + 0.016)
    assert rows_touched(TableSpec((GRAPH.n_entities, 8), "entity"), GRAPH, 1000, 1) == 999
    assert rows_touched(TableSpec((GRAPH.n_relations, 8), "relation"), GRAPH, 100, 1) == 1


def test_the_grid_covers_every_graph_strategy_rank_count_and_bandwidth() -> None:
    grid = list(prediction_grid(MEASURED))
    assert len(grid) == 5 * 3 * 3 * 3  # graphs x strategies x rank counts x bandwidths
    assert {p.ranks for p in grid} == {8, 64, 512} and {p.bandwidth_gbit for p in grid} == {10, 100, 400}
