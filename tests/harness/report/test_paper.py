"""The paper's reference figures: mapped baselines, both sources, lookups by device and dataset."""

from harness.report.paper import ARTIFACT_FB15K, GPU_FIGURE, PAPER_CELLS, paper_speedup


def test_artifact_table_and_gpu_figure_are_complete():
    assert len(ARTIFACT_FB15K) == 14 and len(GPU_FIGURE) == 7 * 7
    assert len(PAPER_CELLS) == 14 + 49
    cpu_transe = {r.framework: r.slowdown for r in ARTIFACT_FB15K if r.device == "cpu" and r.model == "transe"}
    assert cpu_transe == {"torchkge": 4.85, "dglke": 5.42, "pyg": 4.65}
    for row in ARTIFACT_FB15K:  # the slowdowns are the seconds' ratio, to the table's rounding
        assert abs(row.baseline_s / row.sptransx_s - row.slowdown) < 0.011


def test_lookup_uses_the_gpu_figure_on_cuda_and_the_artifact_on_cpu():
    assert paper_speedup("cpu", "FB15k", "transe", "torchkge").speedup == 4.85
    assert paper_speedup("cuda:0", "FB15k", "transe", "torchkge").speedup == 3.7
    assert paper_speedup("cpu", "synthetic:FB15k", "transr", "dglke").speedup == 3.89
    assert paper_speedup("cpu", "FB15k-237", "transe", "torchkge") is None  # the paper has no such CPU cell
    assert paper_speedup("cuda", "FB15k", "transe", "pykeen") is None
    oom = paper_speedup("cuda", "FB13", "transr", "torchkge")
    assert oom.status == "oom" and oom.speedup is None and oom.text == "OOM"


def test_a_clamped_batch_is_noted_beside_the_paper_row(record_factory):
    from harness.report.tables import paper_vs_measured, records_to_frame

    records = [record_factory(framework, dataset="FB15k-237", device="cuda", step_ms=step, batch_size=272_115,
                              batch_clamped_from=393_216) for framework, step in (("sparse", 10.0), ("torchkge", 30.0))]
    table = paper_vs_measured(records_to_frame(records))
    row = table[(table["dataset"] == "FB15k-237") & (table["model"] == "transe")
                & (table["framework"] == "torchkge")].iloc[0]
    assert row["measured_speedup"] == 3.0 and row["paper_speedup"] == 3.4  # beside the paper's GPU figure
    assert "batch 393,216 clamped to 272,115" in row["note"] and "(b clamped from 393216)" in row["settings"]
