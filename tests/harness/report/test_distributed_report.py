"""The report's distributed part: measured scaling table and efficiency, the scaling chart, the model on paper."""

from __future__ import annotations

import re

import pytest

from harness.records.schema import RecordType, by_record_type
from harness.report.distributed import collective_table, measured_step, prediction_table, scaling_table
from harness.report.writer import write_report
from harness.settings import RunSettings


def _stats(value: float) -> dict:
    return {"median": value, "iqr": 0.0, "ci_low": value * 0.9, "ci_high": value * 1.1}


def distributed_record(strategy: str, world_size: int, step_ms: float, communicate_ms: float, *,
                       status: str = "ok", adam_ms: float = 2.0) -> dict:
    """A record shaped as harness.distributed.worker writes it (the fields the report reads)."""
    settings = RunSettings(model="transe", dataset="FB15k-237", dim=128, batch_size=32768, threads=1).to_dict()
    compute = step_ms - communicate_ms
    return {
        "schema_version": 3, "record_type": "distributed", "run_id": "r", "cell_key": f"{strategy}{world_size}", "group_key": strategy, "framework": "sparse",
        "label": f"sparse[{strategy}] x{world_size}", "settings": settings, "status": status,
        "message": "" if status == "ok" else "rank 1 was killed by SIGKILL; torchrun stopped the other ranks",
        "steps_measured": 3,
        "time_ms": {} if status != "ok" else {"step": _stats(step_ms), "compute": _stats(compute),
                                              "communicate": _stats(communicate_ms), "adam": _stats(adam_ms)},
        "samples": {"wall_ms": {"compute": [compute] * 3, "adam": [adam_ms] * 3}},
        "load": {"loadavg_1m_start": 0.5, "neighbour_cores": 0.1}, "disturbed": False,
        "distributed": {"world_size": world_size, "backend": "gloo", "strategy": strategy,
                        "sent_bytes_per_step": 0 if world_size == 1 else 7 * 2**20,
                        "payload_bytes_per_step": 7 * 2**20, "touched_rows_per_step": 14000,
                        "parameters_identical": True, "n_entities": 14541, "n_relations": 237},
    }


@pytest.fixture
def records() -> list[dict]:
    return [distributed_record("dense", 1, 100.0, 1.0), distributed_record("dense", 2, 80.0, 20.0),
            distributed_record("rowsparse", 1, 110.0, 10.0), distributed_record("rowsparse", 2, 0.0, 0.0,
                                                                                  status="killed")]


def test_scaling_table_efficiency_is_t1_over_p_tp(records) -> None:
    table = scaling_table(records).set_index(["strategy", "world_size"])
    assert table.loc[("dense", 2), "efficiency"] == pytest.approx(100.0 / (2 * 80.0))
    assert table.loc[("dense", 1), "efficiency"] == pytest.approx(1.0)
    assert table.loc[("rowsparse", 2), "status"] == "killed"
    assert table.loc[("dense", 2), "communicate_ms"] == 20.0


def test_measured_step_splits_per_triple_and_whole_table_work(records) -> None:
    step = measured_step(records[:1])
    assert step.per_triple_s == pytest.approx((99.0 - 2.0) / 1e3)
    assert step.whole_table_s == pytest.approx(2.0 / 1e3)
    assert len(prediction_table(records)) == 135  # 5 graphs x 3 strategies x 3 rank counts x 3 bandwidths


def test_a_report_of_distributed_runs_only(tmp_path, records) -> None:
    out = tmp_path / "report"
    written = write_report(records, out, title="dist", sources=["d.jsonl"])
    assert written[-1] == out / "README.md" and all(p.exists() for p in written)
    names = {p.name for p in written}
    assert {"scaling.csv", "scaling_model.csv"} <= names and any(n.startswith("scaling-") for n in names)
    readme = (out / "README.md").read_text()
    assert all((out / link).exists() for link in re.findall(r"\]\(([^)]+)\)", readme))
    for text in ("## Distributed (data-parallel) runs", "### Scaling model on paper", "2(p-1)/p",
                 "rank 1 was killed by SIGKILL", "100M entities"):
        assert text in readme


def test_sharded_runs_sit_beside_the_others_with_their_collectives(tmp_path, records) -> None:
    sharded = []
    for world_size in (1, 2):
        record = distributed_record("sharded", world_size, 60.0, 5.0)
        record["distributed"].update(peak_rss_bytes_per_rank=2**30 // world_size, held_bytes_per_rank=2**29,
                                     collectives={"ids": {"sent_bytes": 2048.0, "payload_bytes": 4096.0, "ms": 0.5},
                                                  "rows": {"sent_bytes": 8192.0, "payload_bytes": 16384.0, "ms": 1.5}})
        sharded.append(record)
    table = scaling_table([*records, *sharded]).set_index(["strategy", "world_size"])
    assert table.loc[("sharded", 2), "peak_rss_bytes"] == 2**29
    assert table.loc[("sharded", 2), "efficiency"] == pytest.approx(60.0 / (2 * 60.0))
    assert list(collective_table(sharded)["collective"]) == ["ids", "rows", "ids", "rows"]
    # the model scales a replicated run's whole-table Adam: a sharded-only setting gives no predictions
    assert prediction_table(sharded).empty
    out = tmp_path / "report"
    write_report([*records, *sharded], out, title="dist", sources=["d.jsonl"])
    readme = (out / "README.md").read_text()
    assert "### Collectives per step" in readme and "| sharded |" in readme and (out / "collectives.csv").exists()


def test_rounds_pool_into_one_row_with_the_range_of_their_medians() -> None:
    rounds = []
    for round_, step_ms in enumerate((100.0, 120.0, 90.0)):
        record = distributed_record("dense", 2, step_ms, 10.0)
        record.update(round=round_, rounds=3, cell_key=f"dense2-{round_}")
        rounds.append(record)
    row = scaling_table(rounds).iloc[0]
    assert (row["rounds_ok"], row["step_ms"], row["step_low_ms"], row["step_high_ms"]) == (3, 100.0, 90.0, 120.0)


def test_distributed_records_stay_out_of_the_framework_comparison(tmp_path, records, simple_records) -> None:
    kinds = by_record_type([*simple_records, *records])
    assert len(kinds[RecordType.DISTRIBUTED]) == 4 and kinds[RecordType.MEASUREMENT] == simple_records
    written = write_report([*simple_records, *records], tmp_path / "both")
    readme = (tmp_path / "both" / "README.md").read_text()
    assert "## Summary" in readme and "## Distributed (data-parallel) runs" in readme
    assert "sparse[dense]" not in (tmp_path / "both" / "records.csv").read_text()
    assert any(p.name == "scaling.csv" for p in written)
