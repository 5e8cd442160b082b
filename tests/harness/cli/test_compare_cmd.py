"""`sptx compare` on the command line: range checks at the edge, exit codes, rounds and --explain."""

from __future__ import annotations

import json

import pytest

from harness.cli import main
from harness.cli.compare_cmd import EXPLAIN_LABELS

TINY = ["--dataset", "synthetic:WN18RR", "--dim", "8", "--batch-size", "256", "--steps", "2", "--warmup", "1",
        "--no-flops", "--no-memory"]


@pytest.mark.parametrize("argv,message", [
    (["--frameworks", ""], "--frameworks is empty"),
    (["--warmup", "-1"], "--warmup must be at least 0"),
    (["--steps", "0"], "--steps must be at least 1"),
    (["--time-limit", "0"], "--time-limit must be positive"),
    (["--memory-limit-mb", "-5"], "--memory-limit-mb must be at least 1"),
    (["--rounds", "0"], "--rounds must be at least 1"),
    (["--backend", "nosuch"], "sparse backend 'nosuch': choose one of"),
    (["--dataset", "synthetic:NoSuch"], "unknown dataset 'NoSuch'"),
])
def test_out_of_range_options_are_one_line_errors(tmp_path, capsys, argv, message):
    assert main(["compare", *TINY, "--out", str(tmp_path / "r.jsonl"), *argv]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1 and "Traceback" not in err
    assert not (tmp_path / "r.jsonl").exists()


@pytest.mark.slow
def test_every_cell_failing_exits_non_zero_with_a_summary(tmp_path, capsys):
    out = tmp_path / "r.jsonl"
    code = main(["compare", *TINY, "--frameworks", "sparse,gather", "--dissimilarity", "L7", "--rounds", "1",
                 "--out", str(out)])
    assert code == 1
    assert "statuses: 2 error" in capsys.readouterr().out
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert {r["status"] for r in records} == {"error"} and all("L7" in r["message"] for r in records)


@pytest.mark.slow
def test_rounds_interleave_and_explain_splits_the_speedup(tmp_path, capsys):
    out = tmp_path / "r.jsonl"
    assert main(["compare", *TINY, "--frameworks", "sparse", "--explain", "--rounds", "2", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    records = [json.loads(line) for line in out.read_text().splitlines()]
    labels = {r["label"] for r in records}
    assert labels == set(EXPLAIN_LABELS)
    assert sorted(r["round"] for r in records) == [0] * 5 + [1] * 5
    assert len({r["group_key"] for r in records}) == 1
    assert "Where sparse[fused]'s" in printed and "normalising the entity table once" in printed
    assert "one fused kernel" in printed


def test_the_default_frameworks_are_every_registered_one_in_registry_order(monkeypatch):
    from baselines import FRAMEWORKS
    from harness.cli import build_parser

    assert build_parser().parse_args(["compare"]).frameworks == "sparse,gather,torchkge,pyg,pykeen,dglke"
    monkeypatch.setitem(FRAMEWORKS, "fake", type("FakeStep", (), {"name": "fake"}))
    assert build_parser().parse_args(["compare"]).frameworks.split(",")[-1] == "fake"
