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


def _recorded(tmp_path, group_name: str, medians: dict[str, float]):
    """A results file with three rounds of the group's cells, measured on files whose hash this machine lacks."""
    from harness.records import ResultsStore
    from harness.report.targets import GROUPS
    from harness.runner import make_cell
    from harness.runner.worker import base_record

    group = next(g for g in GROUPS if g.name == group_name)
    store = ResultsStore(tmp_path / "t.jsonl")
    for index in range(3):
        for framework, options in group.cells:
            cell = make_cell(framework, options=dict(options), dataset_sha256="f" * 64, round=index, rounds=3,
                             **group.settings)
            record = base_record(cell, "run-1", "ok")
            median = medians[framework] * (1 + 0.01 * index)
            record.time_ms = {"step": {"median": median, "iqr": 0.1, "ci_low": median, "ci_high": median}}
            store.append(record)
    return store.path


def test_no_run_reads_records_only_without_any_dataset(tmp_path, capsys, monkeypatch):
    import harness.data

    def no_data(*args, **kwargs):
        raise AssertionError("--no-run must not read a dataset")

    monkeypatch.setattr(harness.data, "dataset_fingerprint", no_data)
    monkeypatch.setattr(harness.data, "load_dataset", no_data)
    out = _recorded(tmp_path, "transe-1024", {"sparse": 10.0, "torchkge": 50.0})
    empty = tmp_path / "no-data"
    empty.mkdir()
    main(["targets", "--no-run", "--groups", "transe-1024", "--data-dir", str(empty), "--out", str(out)])
    printed = capsys.readouterr()
    assert "Traceback" not in printed.err
    assert "TransE d=1024" in printed.out and "5.00x" in printed.out and "no records" not in printed.out


def test_no_run_says_when_the_results_file_is_missing(tmp_path, capsys):
    missing = tmp_path / "nothing.jsonl"
    assert main(["targets", "--no-run", "--out", str(missing)]) == 2
    err = capsys.readouterr().err.strip()
    assert err == f"sptx targets: error: results file not found: {missing}"


def test_more_threads_than_cores_is_a_one_line_error(tmp_path, capsys):
    from harness.settings import available_cores

    assert main(["targets", "--threads", "999", "--out", str(tmp_path / "t.jsonl")]) == 2
    err = capsys.readouterr().err.strip()
    assert err == (f"sptx targets: error: --threads 999: this machine has {available_cores()} core(s) available "
                   f"to this process; use at most {available_cores()} (0 = all)")
    assert not (tmp_path / "t.jsonl").exists()
