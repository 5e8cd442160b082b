"""Data-parallel training is exact: 2 gloo ranks end with the parameters of 1 process on the whole batches,
replicated (dense, rowsparse) or with the entity rows sharded over the ranks (sharded)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from harness.distributed.settings import DistributedSettings
from harness.distributed.training import shard_batch, touched_rows
from harness.models import TableSpec
from harness.sampling import Batch
from harness.settings import RunSettings

# A hand-made graph: 10 entities, 3 relations, 24 distinct triples (every entity used).
TRIPLES = [(h, r, (h * 3 + r + 1) % 10) for h in range(10) for r in range(3) if (h + r) % 5 != 4]


def _write_graph(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    lines = "".join(f"e{h}\tr{r}\te{t}\n" for h, r, t in TRIPLES)
    for split in ("train", "valid", "test"):
        (folder / f"{split}.txt").write_text(lines if split == "train" else lines.splitlines(True)[0])
    return folder


def test_shards_partition_the_batch_and_keep_the_negative_layout() -> None:
    positives = torch.arange(15).reshape(5, 3)
    negatives = torch.cat([positives + 100, positives + 200])  # k = 2 blocks of B = 5 rows
    shards = [shard_batch(Batch(positives, negatives), rank, 2) for rank in range(2)]
    assert [s.size for s in shards] == [3, 2]
    assert torch.equal(torch.cat([s.positives for s in shards]), positives)
    for shard in shards:  # block j, row i of the shard corrupts the shard's positive i
        k_blocks = shard.negatives.reshape(2, shard.size, 3)
        assert torch.equal(k_blocks[0], shard.positives + 100)
        assert torch.equal(k_blocks[1], shard.positives + 200)


def test_touched_rows_per_table() -> None:
    triples = torch.tensor([[4, 1, 2], [2, 0, 7], [4, 1, 9]])
    assert touched_rows(TableSpec((10, 4), "entity"), triples).tolist() == [2, 4, 7, 9]
    assert touched_rows(TableSpec((2, 4), "relation"), triples).tolist() == [0, 1]
    assert touched_rows(TableSpec((2, 4, 4), "relation"), triples).tolist() == [0, 1]


def _reference_parameters(settings: RunSettings, data_dir: str, steps: int) -> dict[str, torch.Tensor]:
    """One process, one SparseStep, the global batches whole (the same seeded negatives, the same summed loss)."""
    from baselines.sparse import SparseStep
    from harness.measure.driver import drive_steps
    from harness.runner.cell import Cell
    from harness.runner.worker import prepare_workload

    work = prepare_workload(Cell(framework="sparse", settings=settings, data_dir=data_dir))
    step = SparseStep(work.cfg, work.train, work.params, torch.device("cpu"))
    drive_steps(step, iter(work.stream), steps)
    return step.canonical_parameters()


def _assert_two_ranks_trained_as_one_process(saved: Path, settings: RunSettings, graph: Path):
    """The saved parameters of the 2-rank run equal one process's after the same global batches, and training moved
    them; returns (two ranks', one process's, initial) parameters."""
    two_ranks = torch.load(saved)
    one_process = _reference_parameters(settings, str(graph), settings.warmup + settings.steps)
    assert set(two_ranks) == set(one_process)
    for name, value in one_process.items():
        torch.testing.assert_close(two_ranks[name], value, rtol=1e-5, atol=1e-6, msg=name)
    initial = _reference_parameters(settings, str(graph), 0)
    assert not torch.allclose(initial["entity"], one_process["entity"])  # training did move the parameters
    return two_ranks, one_process, initial


@pytest.mark.slow
@pytest.mark.parametrize("model,strategy", [("transe", "dense"), ("transe", "rowsparse"), ("transh", "rowsparse")])
def test_two_ranks_end_with_the_parameters_of_one_process(tmp_path: Path, model: str, strategy: str) -> None:
    from harness.distributed.launch import launch

    graph = _write_graph(tmp_path / "graph")
    settings = RunSettings(model=model, dataset=str(graph), dim=6, batch_size=10, num_negatives=2, steps=3,
                           warmup=2, threads=1, seed=3)
    saved = tmp_path / "params.pt"
    result = launch(settings, DistributedSettings(world_size=2, strategy=strategy), out=tmp_path / "r.jsonl",
                    run_id="t", save_parameters=str(saved), time_limit_s=300)
    record = result.record
    assert record["status"] == "ok", record["message"]
    assert record["distributed"]["parameters_identical"]
    assert record["distributed"]["world_size"] == 2 and record["distributed"]["backend"] == "gloo"
    assert record["settings"]["threads"] == 1  # per rank
    assert len(record["distributed"]["ranks"]) == 2
    assert record["distributed"]["sent_bytes_per_step"] > 0
    _assert_two_ranks_trained_as_one_process(saved, settings, graph)


@pytest.mark.slow
@pytest.mark.parametrize("optimizer", ["adagrad-rowwise", "adam-lazy"])
def test_two_ranks_sharded_end_with_the_parameters_of_one_process(tmp_path: Path, optimizer: str) -> None:
    from harness.distributed.launch import launch

    graph = _write_graph(tmp_path / "graph")
    # TransH: a relation-side table with its own constraint (unit normals) beside the relation table
    settings = RunSettings(model="transh", dataset=str(graph), dim=6, batch_size=10, num_negatives=2, steps=3,
                           warmup=2, threads=1, seed=3, optimizer=optimizer)
    saved = tmp_path / "params.pt"
    result = launch(settings, DistributedSettings(world_size=2, strategy="sharded"), out=tmp_path / "r.jsonl",
                    run_id="t", save_parameters=str(saved), time_limit_s=300)
    record = result.record
    assert record["status"] == "ok", record["message"]
    d = record["distributed"]
    assert d["parameters_identical"]  # the replicated relation-side tables
    n_entities = len({e for h, _, t in TRIPLES for e in (h, t)})
    assert [r["entity_rows_held"] for r in d["ranks"]] == [n_entities // 2, n_entities - n_entities // 2]
    assert set(d["collectives"]) == {"counts", "ids", "rows", "row_gradients", "relations_all_reduce"}
    assert d["sent_bytes_per_step"] > 0 and d["peak_rss_bytes_per_rank"] > d["held_bytes_per_rank"] > 0
    assert len(record["samples"]["wall_ms"]["adam"]) == settings.steps
    two_ranks, one_process, initial = _assert_two_ranks_trained_as_one_process(saved, settings, graph)
    assert list(two_ranks) == list(one_process)
    assert not torch.allclose(initial["normal"], one_process["normal"])


@pytest.mark.slow
def test_a_rank_that_dies_fails_the_run_with_one_line_within_a_bounded_time(tmp_path: Path) -> None:
    from harness.distributed.launch import launch
    from harness.distributed.worker import FAULT_VARIABLE

    graph = _write_graph(tmp_path / "graph")
    settings = RunSettings(model="transe", dataset=str(graph), dim=6, batch_size=10, steps=10_000, warmup=1,
                           threads=1)
    out = tmp_path / "r.jsonl"
    result = launch(settings, DistributedSettings(world_size=2, collective_timeout_s=20), out=out, run_id="t",
                    time_limit_s=120, extra_env={FAULT_VARIABLE: "1:3"})
    assert result.record["status"] == "killed"
    assert result.record["message"] == "rank 1 was killed by SIGKILL; torchrun stopped the other ranks"
    assert result.seconds < 60
    from harness.records.store import read_records

    assert [r["status"] for r in read_records([out])] == ["killed"]


@pytest.mark.slow
def test_a_rank_that_hangs_fails_the_run_after_the_collective_timeout(tmp_path: Path) -> None:
    from harness.distributed.launch import launch
    from harness.distributed.worker import FAULT_VARIABLE

    graph = _write_graph(tmp_path / "graph")
    settings = RunSettings(model="transe", dataset=str(graph), dim=6, batch_size=10, steps=10_000, warmup=1,
                           threads=1)
    result = launch(settings, DistributedSettings(world_size=2, collective_timeout_s=3), out=tmp_path / "r.jsonl",
                    run_id="t", time_limit_s=120, extra_env={FAULT_VARIABLE: "1:2:stop"})
    message = result.record["message"]
    assert result.record["status"] == "error"
    assert message.startswith("rank 0 exited with code 1 (") and "Timed out" in message and "\n" not in message
    assert result.seconds < 100  # the 3 s timeout, then torchrun's 30 s grace before it SIGKILLs the hung rank


def test_the_worker_outside_torchrun_says_how_to_start_it(monkeypatch, capsys) -> None:
    from harness.distributed import worker

    for variable in ("RANK", "WORLD_SIZE", "LOCAL_RANK"):
        monkeypatch.delenv(variable, raising=False)
    assert worker.main(["--model", "transe"]) == 2
    assert "start the worker with torchrun" in capsys.readouterr().err
