"""`sptx train` end to end on a tiny graph: one complete record appended, one-line errors, and the report's
quality section."""

from __future__ import annotations

import json

import pytest

from harness.cli import main
from sparse_impl.backends import DEFAULT_BACKEND


def _args(folder, out, *extra):
    return ["train", "--model", "transe", "--dataset", str(folder), "--framework", "sparse", "--epochs", "3",
            "--eval-every", "1", "--dim", "8", "--batch-size", "6", "--threads", "1", "--lr", "0.05",
            "--out", str(out), *extra]


@pytest.mark.slow
def test_train_in_a_fresh_process_appends_one_record(tiny_graph_dir, tmp_path):
    out = tmp_path / "q.jsonl"
    assert main(_args(tiny_graph_dir, out)) == 0
    lines = out.read_text().splitlines()
    assert len(lines) == 1
    record = json.loads(lines[0])
    assert record["record_type"] == "training" and record["status"] == "ok"
    assert record["settings"]["steps"] == 9 and record["settings"]["warmup"] == 0  # 3 epochs x 3 batches
    assert record["env"]["process_env"]["GLIBC_TUNABLES"]  # the pinned allocator, as compare's workers
    assert record["env"]["threads"] == 1
    assert len(record["epochs"]) == 3 and record["test"]["both_mrr"] > 0


def test_report_has_a_quality_section(tiny_graph_dir, tmp_path):
    out = tmp_path / "q.jsonl"
    for framework in ("sparse", "gather"):
        args = _args(tiny_graph_dir, out, "--in-process", "--target-mrr", "0.01")
        args[args.index("sparse")] = framework
        assert main(args) == 0
    report = tmp_path / "report"
    assert main(["report", str(out), "--out", str(report)]) == 0
    text = (report / "README.md").read_text()
    assert "## Quality" in text and "| gather |" in text and f"| sparse[{DEFAULT_BACKEND}] |" in text
    assert any(p.suffix == ".png" for p in report.iterdir())
    assert (report / "quality.csv").read_text().count("\n") == 3


@pytest.mark.parametrize("extra, message", [
    (("--option", "backend"), "write KEY=VALUE"),
    (("--option", "colour=red"), "sparse has no option(s) colour"),
    (("--target-mrr", "3"), "--target-mrr must be in"),
    (("--batch-size", "1000"), "larger than the 18 training triples"),
])
def test_bad_input_is_a_one_line_error(tiny_graph_dir, tmp_path, capsys, extra, message):
    args = _args(tiny_graph_dir, tmp_path / "q.jsonl", "--in-process")
    args += list(extra)
    assert main(args) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert not (tmp_path / "q.jsonl").exists()


def test_unknown_framework(tiny_graph_dir, tmp_path, capsys):
    args = _args(tiny_graph_dir, tmp_path / "q.jsonl")
    args[args.index("sparse")] = "nope"
    assert main(args) == 2
    assert "unknown framework 'nope'" in capsys.readouterr().err
