"""`--strategy sharded`: the blocks of entity rows, a block's initial rows and the one-line refusals (its
2-rank agreement with 1 process is in test_training.py, beside the replicated strategies')."""

from __future__ import annotations

import pytest
import torch

from harness.distributed.exchange import DenseAllReduce, RowSharded, RowSparseAllGather
from harness.distributed.sharded import EntityBlocks, initial_block
from harness.models import MODELS
from harness.spec import ModelConfig, init_parameters


def test_blocks_are_contiguous_and_cover_the_table() -> None:
    blocks = EntityBlocks(10, 3)
    assert [blocks.start(r) for r in range(4)] == [0, 4, 7, 10]  # torch.tensor_split's sizes: 4, 3, 3
    assert blocks.counts(torch.tensor([0, 3, 4, 9])) == [2, 1, 1]
    assert blocks.counts(torch.tensor([5, 6])) == [0, 2, 0]


@pytest.mark.parametrize("model", sorted(MODELS))
def test_a_block_of_initial_rows_is_the_whole_draw_s(model: str, monkeypatch) -> None:
    from harness.distributed import sharded

    monkeypatch.setattr(sharded, "INIT_CHUNK_ROWS", 7)  # blocks that start and end inside a chunk
    cfg = ModelConfig(model, 50, 4, 8)
    whole = init_parameters(cfg, seed=5)
    for start, stop in ((0, 17), (17, 34), (34, 50)):
        block = initial_block(cfg, 5, start, stop)
        assert list(block) == list(whole)
        assert torch.equal(block["entity"], whole["entity"][start:stop])
        for name in whole:
            if name != "entity":
                assert torch.equal(block[name], whole[name]), name


def test_refusals_are_one_line() -> None:
    refusal = RowSharded.refusal("adam-fused")
    assert "dense Adam (adam-fused)" in refusal and "adagrad-rowwise or adam-lazy" in refusal and "\n" not in refusal
    assert RowSharded.refusal("adam-lazy") is None and RowSharded.refusal("adagrad-rowwise") is None
    for replicated in (DenseAllReduce, RowSparseAllGather):
        assert "use --strategy sharded" in replicated.refusal("adagrad-rowwise")
        assert replicated.refusal("adam-fused") is None
