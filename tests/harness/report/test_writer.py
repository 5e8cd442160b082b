"""The report folder: readable non-blank PNGs, CSVs with every cell, a README linking all of it."""

import re

import matplotlib.image as mpimg
import numpy as np
import pandas as pd
import pytest

from harness.report.charts import write_comparison_charts
from harness.report.writer import write_report


def _assert_not_blank(path):
    image = mpimg.imread(path)
    assert image.ndim == 3 and image.shape[0] > 200 and image.shape[1] > 200
    assert float(np.std(image)) > 0
    rgb = (image[..., :3] * 255).astype(np.uint32)
    colours = np.unique(rgb[..., 0] << 16 | rgb[..., 1] << 8 | rgb[..., 2])
    assert len(colours) > 2


def test_report_folder_of_several_models_devices_and_failures(tmp_path, multi_records):
    out = tmp_path / "report"
    written = write_report(multi_records, out, title="test report", sources=["x.jsonl"])
    assert written[-1] == out / "README.md"
    assert all(p.exists() for p in written)
    assert not list(out.glob(".*tmp"))  # nothing half-written left behind
    pngs = [p for p in written if p.suffix == ".png"]
    csvs = [p for p in written if p.suffix == ".csv"]
    # speedup, memory, flops per device; a time split per device and model
    assert len(pngs) == 2 * 3 + 4 + 1 and len(csvs) == 9  # the 8 tables and the CUDA rows' gpu_vs_paper.csv
    for png in pngs:
        _assert_not_blank(png)
    readme = (out / "README.md").read_text()
    links = set(re.findall(r"\]\(([^)]+)\)", readme))
    assert {p.name for p in pngs + csvs} <= links
    assert all((out / link).exists() for link in links)
    assert readme.startswith("# test report")
    for text in ("OOM", "unsupported", "pykeen has no TorusE", "ValueError: boom", "synthetic stand-in",
                 "extrapolated", "## Environment", "## Caveats", "## Paper vs measured",
                 "## GPU: speedups and memory beside the paper's GPU figures"):
        assert text in readme, text
    records = pd.read_csv(out / "records.csv")
    assert len(records) == len(multi_records) and set(records["status"]) == {"ok", "oom", "unsupported", "error"}
    failures = pd.read_csv(out / "failures.csv")
    assert len(failures) == 5 and set(failures["status"]) == {"oom", "unsupported", "error"}
    pvm = pd.read_csv(out / "paper_vs_measured.csv")
    assert len(pvm) >= 63
    env = pd.read_csv(out / "environment.csv")
    assert len(env) == 1 and env.loc[0, "records"] == len(multi_records)


def test_comparison_charts_of_one_comparison(tmp_path, simple_records):
    paths = write_comparison_charts(simple_records, tmp_path / "charts")
    assert [p.name for p in paths] == ["speedup-cpu.png", "time-split-cpu-transe.png", "memory-cpu.png", "flops-cpu.png"]
    for path in paths:
        _assert_not_blank(path)


def test_a_re_run_replaces_the_older_record_in_the_report(tmp_path, simple_records, record_factory):
    rerun = record_factory("pyg", step_ms=20.0, run_id="run-2")
    write_report([*simple_records, rerun], tmp_path)
    speed = pd.read_csv(tmp_path / "speedup.csv")
    assert speed.loc[speed["label"] == "pyg", "speedup_of_sparse"].iloc[0] == 2.0
    assert "superseded" in (tmp_path / "README.md").read_text()


def test_a_rewritten_report_removes_only_its_own_stale_files(tmp_path, simple_records, record_factory):
    from harness.report.writer import write_report

    make_record = record_factory
    transr = [make_record("sparse", model="transr"), make_record("torchkge", model="transr", step_ms=20.0)]
    write_report([*simple_records, *transr], tmp_path)
    assert (tmp_path / "time-split-cpu-transr.png").exists()
    (tmp_path / "notes.txt").write_text("mine")
    write_report(simple_records, tmp_path)  # TransR is gone from the records
    assert not (tmp_path / "time-split-cpu-transr.png").exists()
    assert (tmp_path / "time-split-cpu-transe.png").exists() and (tmp_path / "notes.txt").read_text() == "mine"


def test_the_gpu_section_sets_cuda_groups_beside_the_papers_gpu_figures(tmp_path, multi_records):
    """TransE on cuda (FB15k-237): each baseline's speedup and memory ratio beside the GPU figure (PyG 3.2x, TorchKGE
    3.4x, DGL-KE 1.6x) and TorchKGE's paper memory ratio (13.55 / 5.61 GB); CPU groups only with paper_gpu, marked."""
    from harness.report import paper

    write_report(multi_records, tmp_path / "cuda-only")
    table = pd.read_csv(tmp_path / "cuda-only" / "gpu_vs_paper.csv")
    assert set(table["device"]) == {"cuda"} and set(table["model"]) == {"transe"}
    real = table[(table["dataset"] == "FB15k-237")].set_index("framework")
    for framework in ("pyg", "torchkge", "dglke"):
        assert real.loc[framework, "paper_gpu_speedup"] == paper.GPU_FIGURE[("FB15k-237", "transe", framework)]
    assert real.loc["torchkge", "paper_memory_ratio"] == pytest.approx(13.55 / 5.61)
    assert real.loc["torchkge", "speedup"] > 1 and real.loc["torchkge", "memory_ratio"] > 1
    assert "sparse[fused]" not in set(table["framework"])  # the reference itself is not a row
    assert table["note"].fillna("").str.contains("synthetic stand-in").any()
    write_report(multi_records, tmp_path / "every", paper_gpu=True, sections=["## Extra\n\nverified."])
    every = pd.read_csv(tmp_path / "every" / "gpu_vs_paper.csv")
    assert {"cpu", "cuda"} <= set(every["device"])
    assert every.loc[every["device"] == "cpu", "note"].str.contains("not comparable").all()
    readme = (tmp_path / "every" / "README.md").read_text()
    assert "## Extra" in readme and "verified." in readme
