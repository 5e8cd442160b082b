"""`sptx report` on the command line: files written, one-line errors, default folder, help."""

import json

import pytest

from harness.cli import main
from harness.runner import make_cell
from harness.runner.worker import base_record


def _results(path, frameworks=(("sparse", 10.0), ("torchkge", 30.0))):
    lines = []
    for framework, step in frameworks:
        cell = make_cell(framework, model="transe", dataset="FB15k", dim=8, batch_size=16,
                    backend="torch" if framework == "sparse" else None)
        record = base_record(cell, "run-1", "ok")
        record.time_ms = {p: {"median": step / 5, "iqr": 0.1, "ci_low": step / 5, "ci_high": step / 5}
                          for p in ("prepare", "forward", "backward", "optimizer")}
        record.time_ms["step"] = {"median": step, "iqr": 0.1, "ci_low": step * 0.9, "ci_high": step * 1.1}
        record.peak_memory_bytes, record.flops_executed, record.flops_model = 2**20, 10**6, 10**8
        lines.append(json.dumps(record.to_dict()))
    path.write_text("\n".join(lines) + "\n")
    return path


def test_report_writes_the_folder_and_lists_the_files(tmp_path, capsys):
    results = _results(tmp_path / "r.jsonl")
    out = tmp_path / "rep"
    assert main(["report", str(results), "--out", str(out), "--title", "My report"]) == 0
    printed = capsys.readouterr().out
    assert (out / "README.md").read_text().startswith("# My report")
    for name in ("README.md", "speedup-cpu.png", "memory-cpu.png", "flops-cpu.png", "time-split-cpu-transe.png",
                 "speedup.csv", "paper_vs_measured.csv"):
        assert (out / name).exists() and name in printed


def test_several_files_and_the_default_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    first = _results(tmp_path / "paper-cpu.jsonl")
    second = _results(tmp_path / "more.jsonl", (("pyg", 40.0),))
    assert main(["report", str(first), str(second)]) == 0
    speed = (tmp_path / "reports" / "paper-cpu" / "speedup.csv").read_text()
    assert "pyg" in speed and "torchkge" in speed


@pytest.mark.parametrize("content,message", [(None, "results file not found"), ("", "holds no records"),
                                             ("\n\n", "holds no records"), ("{}\n", "holds no records"),
                                             ("[1, 2, 3]\n", "holds no records")])
def test_missing_or_empty_file_is_a_one_line_error(tmp_path, capsys, content, message):
    path = tmp_path / "r.jsonl"
    if content is not None:
        path.write_text(content)
    assert main(["report", str(path), "--out", str(tmp_path / "rep")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert message in err[-1] and "Traceback" not in "".join(err)
    assert all(line.startswith("sptx report: warning: ") and ":1: skipped" in line for line in err[:-1])
    assert not (tmp_path / "rep").exists()


def test_help_explains_the_command(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["report", "--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    assert "--out" in out and "--title" in out and "README.md" in out


def test_a_device_is_refused_in_one_line_without_reading_it(tmp_path, capsys):
    from harness.cli import main as sptx

    assert sptx(["report", "/dev/zero", "--out", str(tmp_path / "report")]) == 2
    err = capsys.readouterr().err.strip()
    assert err == "sptx report: error: /dev/zero is a character device, not a regular results file"
