"""The append-only JSON Lines store: whole lines, torn-line recovery, pandas-readable, resume keys."""

import json

import pandas as pd
import pytest

from harness.records import SCHEMA_VERSION, Record, ResultsStore, read_records, records_frame
from harness.runner import make_cell
from harness.runner.worker import base_record


def _record(framework: str, status: str = "ok") -> Record:
    cell = make_cell(framework, model="transe", dataset="synthetic:WN18RR", dim=8, batch_size=16)
    record = base_record(cell, "run-1", status)
    record.time_ms = {"step": {"median": 2.0, "iqr": 0.1, "ci_low": 1.9, "ci_high": 2.1}}
    return record


def test_append_writes_one_whole_line_per_record(tmp_path):
    store = ResultsStore(tmp_path / "sub" / "r.jsonl")
    store.append(_record("sparse"))
    store.append(_record("gather", "oom"))
    lines = store.path.read_text().splitlines()
    assert len(lines) == 2 and all(json.loads(line)["schema_version"] == SCHEMA_VERSION for line in lines)
    assert all(json.loads(line)["record_type"] == "measurement" for line in lines)
    assert store.completed_keys() == {_record("sparse").cell_key, _record("gather").cell_key}


def test_a_torn_last_line_is_skipped_and_the_next_record_stays_whole(tmp_path):
    store = ResultsStore(tmp_path / "r.jsonl")
    store.append(_record("sparse"))
    with open(store.path, "a") as fh:
        fh.write('{"framework": "half-writ')  # what a writer killed mid-line would leave
    store.append(_record("gather"))
    with pytest.warns(UserWarning, match="r.jsonl:2: skipped an unreadable record"):
        records = read_records([store.path])
    assert [r["framework"] for r in records] == ["sparse", "gather"]


def test_records_load_into_pandas_with_nested_fields_flattened(tmp_path):
    store = ResultsStore(tmp_path / "r.jsonl")
    store.append(_record("sparse"))
    frame = records_frame([store.path])
    assert isinstance(frame, pd.DataFrame)
    assert frame.loc[0, "time_ms.step.median"] == 2.0 and frame.loc[0, "env.seed"] == 0
    plain = pd.read_json(store.path, lines=True)
    assert list(plain["framework"]) == ["sparse"]


def test_a_newer_schema_is_refused_with_a_clear_message(tmp_path):
    path = tmp_path / "r.jsonl"
    path.write_text(json.dumps({"schema_version": 99, "framework": "x"}) + "\n")
    with pytest.warns(UserWarning, match="newer than this sptx"):
        assert read_records([path]) == []


def test_unreadable_lines_are_skipped_with_file_and_line(tmp_path):
    """Non-UTF-8 bytes, a JSON array and an empty object once raised tracebacks in report and --resume."""
    store = ResultsStore(tmp_path / "r.jsonl")
    store.append(_record("sparse"))
    with open(store.path, "ab") as fh:
        fh.write(b'{"framework": "caf\xe9"}\n[1, 2, 3]\n{}\n')
    store.append(_record("gather"))
    with pytest.warns(UserWarning) as caught:
        records = read_records([store.path])
    assert [r["framework"] for r in records] == ["sparse", "gather"]
    assert [str(w.message).split(": skipped")[0] for w in caught] == [f"{store.path}:{n}" for n in (2, 3, 4)]
    with pytest.warns(UserWarning):
        assert store.completed_keys() == {_record("sparse").cell_key, _record("gather").cell_key}


def test_a_full_disk_is_a_one_line_error_and_the_record_is_printed(capsys):
    from harness.errors import SptxError

    store = ResultsStore("/dev/full")
    with pytest.raises(SptxError, match="cannot write results to /dev/full"):
        store.append(_record("sparse"))
    printed = capsys.readouterr().err
    assert '"framework": "sparse"' in printed  # the finished measurement is not lost


def test_retry_failed_keeps_only_final_records_as_done(tmp_path):
    store = ResultsStore(tmp_path / "r.jsonl")
    for framework, status in (("sparse", "ok"), ("gather", "killed"), ("pyg", "unsupported"), ("torchkge", "timeout")):
        store.append(_record(framework, status))
    keys = {f: _record(f).cell_key for f in ("sparse", "gather", "pyg", "torchkge")}
    assert store.completed_keys() == set(keys.values())
    assert store.completed_keys(retry_failed=True) == {keys["sparse"], keys["pyg"]}


def test_records_are_strict_json(tmp_path):
    record = _record("sparse")
    record.time_ms = {"step": {"median": float("nan"), "iqr": float("inf"), "ci_low": 1.0, "ci_high": 2.0}}
    store = ResultsStore(tmp_path / "r.jsonl")
    store.append(record)
    text = store.path.read_text()
    assert "NaN" not in text and "Infinity" not in text
    assert json.loads(text)["time_ms"]["step"]["median"] is None


@pytest.mark.parametrize("path", ["/dev/zero", "/dev/full"])
def test_a_device_is_refused_on_read_without_reading_it(path):
    from harness.errors import SptxError

    with pytest.raises(SptxError, match=f"^{path} is a character device, not a regular results file$"):
        read_records([path])
    with pytest.raises(SptxError, match="character device"):
        ResultsStore(path).records()
    with pytest.raises(SptxError, match="character device"):
        ResultsStore(path).size()


def test_a_fifo_is_refused_on_read_and_write_without_blocking(tmp_path, capsys):
    import os

    from harness.errors import SptxError

    fifo = tmp_path / "r.jsonl"
    os.mkfifo(fifo)
    with pytest.raises(SptxError, match="is a FIFO, not a regular results file"):
        read_records([fifo])
    with pytest.raises(SptxError, match=f"cannot write results to {fifo}: .* is a FIFO"):
        ResultsStore(fifo).append(_record("sparse"))
    assert '"framework": "sparse"' in capsys.readouterr().err


def test_a_missing_file_is_created_on_write_and_refused_on_read(tmp_path):
    from harness.errors import SptxError

    store = ResultsStore(tmp_path / "new.jsonl")
    assert store.size() == 0 and store.records() == []
    with pytest.raises(SptxError, match="results file not found"):
        read_records([store.path])
    store.append(_record("sparse"))
    assert len(store.records()) == 1


def test_records_after_reads_only_what_was_appended(tmp_path):
    store = ResultsStore(tmp_path / "r.jsonl")
    store.append(_record("sparse"))
    start = store.size()
    assert store.records_after(start) == []
    store.append(_record("gather"))
    assert [r["framework"] for r in store.records_after(start)] == ["gather"]
