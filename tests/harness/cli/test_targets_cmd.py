"""`sptx targets` on the command line: one-line errors, and evaluating a results file without running."""

from __future__ import annotations

import pytest

from harness.cli import main


@pytest.mark.parametrize("argv,message", [
    (["--groups", "nosuch"], "unknown group(s) nosuch"),
    (["--native"], "--native does not apply"),
    (["--rounds", "0"], "--rounds must be at least 1"),
])
def test_bad_input_is_a_one_line_error(tmp_path, capsys, argv, message):
    assert main(["targets", "--out", str(tmp_path / "t.jsonl"), *argv]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1 and "Traceback" not in err
    assert not (tmp_path / "t.jsonl").exists()


def test_no_run_on_a_file_without_those_groups_says_not_applicable(shared_datasets_dir, tmp_path, capsys):
    out = tmp_path / "t.jsonl"
    out.write_text("")
    assert main(["targets", "--no-run", "--groups", "toruse-128", "--data-dir", str(shared_datasets_dir),
                 "--out", str(out)]) == 1
    printed = capsys.readouterr().out
    assert "TorusE d=128" in printed and "no records for this group" in printed and "pass" not in printed
