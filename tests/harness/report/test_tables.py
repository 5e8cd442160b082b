"""Report tables on hand-made records with known times: speedups, failures kept, memory ratio, paper rows."""

import math

import pandas as pd

from harness.report.tables import (
    failures_table, flops_table, latest_records, memory_table, paper_vs_measured, records_to_frame, speedup_table,
    time_split_table,
)


def _by_label(table, label):
    rows = table[table["label"] == label]
    assert len(rows) == 1, table
    return rows.iloc[0]


def test_speedup_memory_and_the_oom_row(simple_records):
    frame = records_to_frame(simple_records)
    speed = speedup_table(frame)
    assert _by_label(speed, "torchkge")["speedup_of_sparse"] == 3.0
    assert _by_label(speed, "sparse[torch]")["speedup_of_sparse"] == 1.0
    oom = _by_label(speed, "pyg")
    assert oom["status"] == "oom" and math.isnan(oom["speedup_of_sparse"]) and "out of memory" in oom["note"]
    assert _by_label(speed, "torchkge")["paper_speedup"] == 4.85  # CPU FB15k artifact table
    memory = memory_table(frame)
    assert _by_label(memory, "torchkge")["memory_ratio_vs_sparse"] == 2.5
    assert _by_label(memory, "torchkge")["peak_memory_mib"] == 250.0
    assert _by_label(memory, "pyg")["status"] == "oom"
    flops = flops_table(frame)
    assert _by_label(flops, "torchkge")["executed_gflop_per_step"] == 2.0
    assert _by_label(flops, "torchkge")["model_gflop_per_step"] == 1.0
    split = time_split_table(frame)
    assert _by_label(split, "sparse[torch]")["backward_ms"] == 4.0 and _by_label(split, "pyg")["status"] == "oom"
    assert list(failures_table(frame)["label"]) == ["pyg"]


def test_paper_vs_measured_has_the_cpu_transe_torchkge_row(simple_records):
    table = paper_vs_measured(records_to_frame(simple_records))
    row = table[(table["device"] == "cpu") & (table["dataset"] == "FB15k") & (table["model"] == "transe")
                & (table["baseline"] == "TorchKGE")].iloc[0]
    assert row["paper_speedup"] == 4.85 and row["measured_speedup"] == 3.0 and row["synthetic"] is False
    assert abs(row["measured_over_paper"] - 3.0 / 4.85) < 1e-12
    pyg = table[(table["device"] == "cpu") & (table["baseline"] == "PyG") & (table["model"] == "transe")].iloc[0]
    assert pyg["status"] == "oom" and pd.isna(pyg["measured_speedup"]) and "oom" in pyg["note"]
    dglke = table[(table["device"] == "cpu") & (table["baseline"] == "DGL-KE") & (table["model"] == "transe")].iloc[0]
    assert pd.isna(dglke["measured_speedup"]) and dglke["note"].startswith("not measured")
    gpu = table[table["device"] == "cuda"]
    assert len(gpu) == 7 + 49  # every GPU cell is listed (artifact and figure), though none was measured
    assert (gpu["note"].str.startswith("not measured")).all()
    oom = table[(table["device"] == "cuda") & (table["dataset"] == "FB13") & (table["model"] == "transh")].iloc[0]
    assert oom["paper_status"] == "oom" and pd.isna(oom["paper_speedup"])


def test_synthetic_stand_in_is_matched_and_flagged(record_factory):
    make_record = record_factory
    records = [make_record("sparse", dataset="synthetic:FB15k"), make_record("torchkge", dataset="synthetic:FB15k", step_ms=20)]
    table = paper_vs_measured(records_to_frame(records))
    row = table[(table["device"] == "cpu") & (table["model"] == "transe") & (table["baseline"] == "TorchKGE")].iloc[0]
    assert row["synthetic"] is True and row["measured_dataset"] == "synthetic:FB15k"
    assert row["measured_speedup"] == 2.0 and "synthetic stand-in" in row["note"]


def test_the_newest_record_of_a_re_run_cell_wins(simple_records, record_factory):
    make_record = record_factory
    rerun = make_record("torchkge", step_ms=50.0, run_id="run-2")
    latest = latest_records([*simple_records, rerun])
    assert len(latest) == 3
    frame = records_to_frame(latest)
    assert frame.loc[frame["label"] == "torchkge", "speedup_of_sparse"].iloc[0] == 5.0


def test_without_a_sparse_record_the_note_says_why(record_factory):
    make_record = record_factory
    records = [make_record("sparse", status="error", message="boom"), make_record("torchkge", step_ms=20)]
    speed = speedup_table(records_to_frame(records))
    row = _by_label(speed, "torchkge")
    assert math.isnan(row["speedup_of_sparse"]) and "no ok sparse record" in row["note"] and "error" in row["note"]
    assert _by_label(speed, "sparse[torch]")["note"] == "error: boom"
