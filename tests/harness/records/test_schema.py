"""The record format: one Status enum, one record base, record_type on every kind, migration to version 3."""

import json

import pytest

from harness.records import SCHEMA_VERSION, Record, RecordBase, RecordType, ResultsStore, Status, read_records
from harness.records.schema import by_record_type, migrate
from harness.train import TrainingRecord

_SETTINGS = {"model": "transe", "dataset": "FB15k-237", "device": "cpu", "dim": 8, "seed": 0}


def _v2(**extra) -> dict:
    """A version-2 record as written before record_type named every kind."""
    return {"schema_version": 2, "run_id": "r", "cell_key": "k", "group_key": "g", "framework": "sparse",
            "options": {}, "label": "sparse", "settings": dict(_SETTINGS), "status": "ok", "distributed": None,
            **extra}


def test_status_values_are_the_strings_records_hold():
    assert [s.value for s in Status] == ["ok", "oom", "timeout", "killed", "error", "unsupported", "unavailable"]
    assert Status("oom") is Status.OOM and Status.OOM == "oom" and f"{Status.OOM}" == "oom"
    assert json.dumps({"status": Status.KILLED}) == '{"status": "killed"}'


def test_final_and_failed_statuses_split_them_all():
    assert Status.final() == {"ok", "unsupported", "unavailable"}
    assert Status.failures() == {"error", "timeout", "oom", "killed"}
    assert all(s.is_final != s.is_failure for s in Status)
    assert "timeout" in Status.failures() and "ok" not in Status.failures()


def test_every_kind_shares_the_base_and_names_its_type():
    common = dict(run_id="r", group_key="g", framework="sparse", options={}, label="sparse", settings=_SETTINGS,
                  status="ok")
    measurement = Record(cell_key="k", **common)
    distributed = Record(cell_key="k", distributed={"world_size": 2}, **common)
    training = TrainingRecord(training={"epochs": 1}, **common)
    assert all(isinstance(r, RecordBase) for r in (measurement, distributed, training))
    kinds = [r.to_dict()["record_type"] for r in (measurement, distributed, training)]
    assert kinds == ["measurement", "distributed", "training"]
    for record in (measurement, distributed, training):
        out = record.to_dict()
        assert out["schema_version"] == SCHEMA_VERSION == 3
        assert type(out["status"]) is str and type(out["record_type"]) is str


def test_an_unknown_status_is_refused():
    with pytest.raises(ValueError):
        Record(run_id="r", cell_key="k", group_key="g", framework="x", options={}, label="x", settings={},
               status="fine")


@pytest.mark.parametrize("extra, kind", [
    ({}, "measurement"),
    ({"distributed": {"world_size": 2, "strategy": "dense"}}, "distributed"),
    ({"record_type": "training", "training": {"epochs": 1}, "distributed": None}, "training"),
])
def test_version_2_records_migrate_to_version_3_with_their_type(tmp_path, extra, kind):
    path = tmp_path / "v2.jsonl"
    path.write_text(json.dumps(_v2(**extra)) + "\n")
    (record,) = read_records([path])
    assert record["record_type"] == kind and record["schema_version"] == 3 and record["migrated_from"] == 2


def test_version_1_records_migrate_to_measurements():
    v1 = {"schema_version": 1, "run_id": "r", "cell_key": "k", "framework": "sparse", "backend": "segment",
          "model": "transe", "dataset": "FB15k-237", "device": "cpu", "dim": 8, "status": "ok"}
    record = migrate(v1)
    assert (record["record_type"], record["schema_version"], record["migrated_from"]) == ("measurement", 3, 1)


def test_migrate_leaves_the_record_read_unchanged_and_current_ones_alone():
    raw = _v2()
    record = migrate(raw)
    assert "record_type" not in raw and raw["schema_version"] == 2
    assert migrate(record) == record


def test_a_version_3_record_without_a_known_type_is_skipped(tmp_path):
    path = tmp_path / "r.jsonl"
    current = {**_v2(), "schema_version": 3, "record_type": "measurement"}
    path.write_text("\n".join(json.dumps(r) for r in (
        {**current, "record_type": "mystery"}, {k: v for k, v in current.items() if k != "record_type"}, current)))
    with pytest.warns(UserWarning) as caught:
        records = read_records([path])
    assert len(records) == 1 and len(caught) == 2


def test_records_written_now_read_back_with_their_type(tmp_path):
    store = ResultsStore(tmp_path / "r.jsonl")
    common = dict(run_id="r", group_key="g", framework="sparse", options={}, label="sparse", settings=_SETTINGS,
                  status=Status.OK)
    store.append(Record(cell_key="k", **common))
    store.append(Record(cell_key="k2", record_type=RecordType.DISTRIBUTED, distributed={"world_size": 1}, **common))
    store.append(TrainingRecord(training={}, **common))
    kinds = by_record_type(store.records())
    assert [len(kinds[k]) for k in (RecordType.MEASUREMENT, RecordType.DISTRIBUTED, RecordType.TRAINING)] == [1, 1, 1]
    assert "migrated_from" not in kinds[RecordType.TRAINING][0]
    with pytest.raises(ValueError, match="no known record_type"):
        by_record_type([{"run_id": "r"}])
