"""Exchange strategies in a one-rank gloo group: the sum is the gradient itself, and the costs add up."""

from __future__ import annotations

import pytest
import torch
import torch.distributed as dist

from harness.distributed.exchange import (STRATEGIES, DenseAllReduce, RowSharded, RowSparseAllGather, all_to_all_rows,
                                          get_strategy)
from harness.errors import SptxError


@pytest.fixture
def one_rank_group():
    dist.init_process_group("gloo", store=dist.HashStore(), rank=0, world_size=1)
    yield
    dist.destroy_process_group()


def _grads() -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    entity = torch.zeros(6, 3)
    entity[[1, 4]] = torch.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
    relation = torch.tensor([[0.5, 0.5, 0.5], [0.0, 0.0, 0.0]])
    return {"entity": entity, "relation": relation}, {"entity": torch.tensor([1, 4]), "relation": torch.tensor([0])}


@pytest.mark.parametrize("name", list(STRATEGIES))
def test_one_rank_exchange_leaves_the_gradient_as_it_was(one_rank_group, name: str) -> None:
    grads, touched = _grads()
    expected = {k: v.clone() for k, v in grads.items()}
    get_strategy(name).exchange(grads, touched)
    for key, value in expected.items():
        assert torch.equal(grads[key], value)


def test_costs_of_one_rank(one_rank_group) -> None:
    grads, touched = _grads()
    dense = DenseAllReduce().exchange(grads, touched)
    assert (dense.payload_bytes, dense.sent_bytes, dense.touched_rows) == ((6 + 2) * 3 * 4, 0, 8)
    sparse = RowSparseAllGather().exchange(grads, touched)
    # counts (2 int64), then 2 entity rows and 1 relation row, each an int64 index + 3 float32
    assert sparse.payload_bytes == 2 * 8 + 3 * (8 + 3 * 4)
    assert (sparse.sent_bytes, sparse.touched_rows) == (0, 3)


def test_sharded_sums_the_replicated_tables_with_the_rows_any_rank_touched(one_rank_group) -> None:
    grads, touched = _grads()
    cost, union = RowSharded().sum_replicated(grads, touched)
    assert union["entity"].tolist() == [1, 4] and union["relation"].tolist() == [0]
    assert cost.payload_bytes == ((6 + 2) * 3 + 6 + 2) * 4  # the gradients and one float count per row, one buffer
    assert (cost.sent_bytes, cost.touched_rows) == (0, 3)


def test_all_to_all_rows_counts_only_the_blocks_for_other_ranks(one_rank_group) -> None:
    rows = torch.arange(6.0).reshape(3, 2)
    got, payload, sent = all_to_all_rows(rows, [3], [3])
    assert torch.equal(got, rows) and (payload, sent) == (3 * 2 * 4, 0)


def test_ring_formulas() -> None:
    assert DenseAllReduce.sent_bytes(4, 1000) == 1500 and DenseAllReduce.message_rounds(4) == 6
    assert RowSparseAllGather.sent_bytes(4, 1000) == 3000 and RowSparseAllGather.message_rounds(4) == 3
    assert RowSharded.sent_bytes(4, 1000) == 750 and RowSharded.message_rounds(4) == 3


def test_unknown_strategy_is_a_one_line_error() -> None:
    with pytest.raises(SptxError, match="choose one of dense, rowsparse"):
        get_strategy("ring")
