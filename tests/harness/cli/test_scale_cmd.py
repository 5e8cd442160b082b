"""`sptx scale` end to end on tiny synthetic graphs: records with the graph's size, the growth tables, the report."""

from __future__ import annotations

import json

import pytest

from harness.cli import main


@pytest.mark.slow
def test_scale_measures_every_size_and_optimizer_and_writes_the_report(tmp_path, capsys):
    out, report = tmp_path / "scale.jsonl", tmp_path / "report"
    argv = ["scale", "--sizes", "300,1200", "--relations", "3", "--frameworks", "sparse,torchkge",
            "--optimizers", "adagrad-rowwise,adam-fused", "--dim", "8", "--batch-size", "128", "--steps", "2",
            "--warmup", "1", "--rounds", "1", "--no-flops", "--no-memory", "--threads", "1", "--out", str(out),
            "--report", str(report)]
    assert main(argv) == 0
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(records) == 8
    by_cell = {(r["framework"], r["settings"]["optimizer"]): r for r in records}
    assert all(r["status"] == "ok" for r in records)
    assert "row gradients: TorchKGE's nn.Embedding tables" in by_cell[("torchkge", "adagrad-rowwise")]["message"]
    ok = [r for r in records if r["status"] == "ok"]
    assert {r["graph"]["n_entities"] for r in ok} == {300, 1200}
    assert all(r["process_peak_rss_bytes"] > 0 and r["graph"]["load_s"] >= 0 for r in ok)
    text = capsys.readouterr().out
    assert "Step time and memory against graph size" in text and "1.00x (base)" in text
    assert "sparse[fused]" in text  # labels are not taken for markup
    assert "Issue 19's targets, target by target" in text and "not measured (sptx scale --sizes" in text
    assert (report / "README.md").is_file() and (report / "step-time.png").is_file()


def test_bad_sizes_and_optimizers_are_one_line_errors(capsys):
    assert main(["scale", "--optimizers", "sgd"]) == 2
    assert "unknown optimizer(s) sgd" in capsys.readouterr().err
    assert main(["scale", "--sizes", "12q", "--no-run"]) == 2
    assert "is not a count" in capsys.readouterr().err
