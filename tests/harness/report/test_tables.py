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


def test_groups_never_mix_settings_that_change_the_work(record_factory):
    """L1 and L2sq TransE in one file (or two seeds, or two thread counts) are separate comparisons:
    TorchKGE's speedup is 1.5x for L1 and 6.0x for L2sq, never 6.0x = 60 ms (L2sq) / 10 ms (L1)."""
    make_record = record_factory
    for change in ({"dissimilarity": ("L1", "L2sq")}, {"seed": (0, 1)}, {"threads": (1, 2)}):
        (name, (a, b)), = change.items()
        records = [make_record("sparse", step_ms=10.0, **{name: a}), make_record("torchkge", step_ms=15.0, **{name: a}),
                   make_record("sparse", step_ms=20.0, **{name: b}), make_record("torchkge", step_ms=120.0, **{name: b})]
        frame = records_to_frame(records)
        torchkge = frame[frame["label"] == "torchkge"].set_index(name)["speedup_of_sparse"]
        assert torchkge.to_dict() == {a: 1.5, b: 6.0}, name
        assert frame["group_key"].nunique() == 2


def test_speedup_is_the_median_of_paired_round_ratios_with_a_ci(record_factory):
    make_record = record_factory
    sparse = [10.0, 20.0, 10.0, 10.0, 10.0]  # round 2 was disturbed for both frameworks alike
    torchkge = [30.0, 60.0, 31.0, 29.0, 30.0]
    records = [make_record(f, step_ms=ms, round=i, rounds=5)
               for i, (a, b) in enumerate(zip(sparse, torchkge)) for f, ms in (("sparse", a), ("torchkge", b))]
    row = records_to_frame(records).set_index("label").loc["torchkge"]
    assert row["speedup_of_sparse"] == 3.0 and row["speedup_rounds"] == 5
    assert row["speedup_ci_low"] <= 3.0 <= row["speedup_ci_high"] and not row["speedup_noisy"]
    few = records_to_frame(records[:4]).set_index("label").loc["torchkge"]  # two rounds: too few to trust
    assert few["speedup_noisy"]


def test_version_1_records_are_still_read(tmp_path):
    import json

    from harness.records.store import read_records

    v1 = {"schema_version": 1, "run_id": "r", "cell_key": "k1", "framework": "sparse", "backend": "segment",
          "model": "transe", "dissimilarity": "L2sq", "dataset": "FB15k-237", "dataset_kind": "real", "device": "cpu",
          "dim": 128, "rel_dim": None, "batch_size": 32768, "num_negatives": 1, "mode": "identical", "status": "ok",
          "time_ms": {"step": {"median": 10.0, "iqr": 1, "ci_low": 9, "ci_high": 11}}, "flops": 5, "env": {"threads": 2}}
    other = dict(v1, cell_key="k2", framework="torchkge", backend=None,
                 time_ms={"step": {"median": 25.0, "iqr": 1, "ci_low": 24, "ci_high": 26}})
    path = tmp_path / "old.jsonl"
    path.write_text(json.dumps(v1) + "\n" + json.dumps(other) + "\n")
    records = read_records([path])
    assert records[0]["settings"]["dim"] == 128 and records[0]["label"] == "sparse[segment]"
    row = records_to_frame(records).set_index("label").loc["torchkge"]
    assert row["speedup_of_sparse"] == 2.5


def test_disturbed_rounds_are_left_out_of_speedups_where_clean_ones_exist(record_factory):
    make_record = record_factory
    records = []
    for i, (sparse, torchkge, busy) in enumerate([(10, 30, False), (10, 200, True), (10, 31, False), (10, 29, False)]):
        a, b = make_record("sparse", step_ms=sparse, round=i, rounds=4), make_record("torchkge", step_ms=torchkge, round=i, rounds=4)
        b["disturbed"] = busy
        records += [a, b]
    row = records_to_frame(records).set_index("label").loc["torchkge"]
    assert row["speedup_of_sparse"] == 3.0 and row["speedup_rounds"] == 3 and row["speedup_rounds_excluded"] == 1
    for r in records:
        r["disturbed"] = True  # a busy machine throughout: every ratio kept, and flagged
    row = records_to_frame(records).set_index("label").loc["torchkge"]
    assert row["speedup_rounds"] == 4 and row["speedup_noisy"]


def test_frameworks_are_ordered_as_registered_and_a_new_one_takes_its_place(record_factory, monkeypatch):
    from baselines import FRAMEWORKS
    from harness.report.tables import framework_order, sort_frame

    assert framework_order() == ("sparse", "gather", "torchkge", "pyg", "pykeen", "dglke")
    frame = records_to_frame([record_factory(f) for f in ("dglke", "torchkge", "gather")])
    extra = pd.concat([frame.iloc[[0]]] * 2, ignore_index=True)
    extra["framework"] = extra["label"] = ["zfake", "aaa"]  # registered (below) / not registered
    frame = pd.concat([frame, extra], ignore_index=True)
    monkeypatch.setitem(FRAMEWORKS, "zfake", type("FakeStep", (), {"name": "zfake"}))
    assert framework_order()[-1] == "zfake"
    assert list(sort_frame(frame)["label"]) == ["gather", "torchkge", "dglke", "zfake", "aaa"]
