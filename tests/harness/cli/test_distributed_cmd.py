"""`sptx distributed` end to end on a tiny graph, its commands for torchrun, and its one-line errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.cli import main
from harness.cli.distributed_cmd import parse_strategies, parse_world_sizes
from harness.errors import SptxError
from harness.settings import available_cores


def _graph(folder: Path) -> Path:
    folder.mkdir(parents=True)
    lines = "".join(f"e{h}\tr{h % 2}\te{(h * 5 + 1) % 9}\n" for h in range(9))
    for split in ("train", "valid", "test"):
        (folder / f"{split}.txt").write_text(lines)
    return folder


def test_world_sizes_parse_and_bad_ones_are_one_line_errors() -> None:
    assert parse_world_sizes("2,1,2") == [1, 2]
    for bad in ("0", "a", ""):
        with pytest.raises(SptxError):
            parse_world_sizes(bad)


def test_strategies_parse_and_sharded_refuses_dense_adam_in_one_line(tmp_path, capsys) -> None:
    assert parse_strategies("both") == ["dense", "rowsparse"]  # the replicated ones, as before sharded
    assert parse_strategies("all") == ["dense", "rowsparse", "sharded"]
    assert parse_strategies("sharded,dense,sharded") == ["sharded", "dense"]
    with pytest.raises(SptxError, match="--strategy 'ring'"):
        parse_strategies("ring")
    graph = str(_graph(tmp_path / "g"))
    assert main(["distributed", "--strategy", "sharded", "--optimizer", "adam-fused", "--dataset", graph]) == 2
    err = capsys.readouterr().err
    assert "dense Adam (adam-fused)" in err and err.count("\n") == 1 and "Traceback" not in err
    assert main(["distributed", "--strategy", "dense", "--optimizer", "adagrad-rowwise", "--dataset", graph]) == 2
    assert "use --strategy sharded" in capsys.readouterr().err


def test_bad_input_is_one_line_no_traceback(tmp_path, capsys) -> None:
    assert main(["distributed", "--nproc", "0", "--dataset", str(_graph(tmp_path / "g"))]) == 2
    err = capsys.readouterr().err
    assert err.startswith("sptx distributed: error: --nproc") and "Traceback" not in err


def test_show_command_prints_the_torchrun_commands(tmp_path, capsys) -> None:
    out = tmp_path / "r.jsonl"
    assert main(["distributed", "--nproc", "1,2", "--strategy", "rowsparse", "--show-command", "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "torch.distributed.run --standalone --nnodes 1 --nproc-per-node 2" in text
    assert "--rdzv-backend c10d" in text and "--strategy rowsparse" in text and "--threads" in text
    assert not out.exists()


@pytest.mark.slow
def test_runs_every_process_count_and_strategy_into_one_record_each(tmp_path, capsys) -> None:
    from harness.records.store import read_records

    out = tmp_path / "r.jsonl"
    code = main(["distributed", "--dataset", str(_graph(tmp_path / "g")), "--nproc", "1,2", "--dim", "4",
                 "--batch-size", "6", "--steps", "2", "--warmup", "1", "--rounds", "1", "--out", str(out)])
    text = capsys.readouterr().out
    assert code == 0, text
    records = read_records([out])
    assert sorted((r["distributed"]["strategy"], r["distributed"]["world_size"]) for r in records) == [
        ("dense", 1), ("dense", 2), ("rowsparse", 1), ("rowsparse", 2)]
    assert all(r["status"] == "ok" and r["distributed"]["parameters_identical"] for r in records)
    assert {r["settings"]["threads"] for r in records} == {max(1, available_cores() // 2)}  # cores / largest --nproc
    assert all(r["settings"]["dataset_sha256"] for r in records)
    assert "efficiency" in text and "4 record(s) appended" in text
