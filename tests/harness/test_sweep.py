"""Sweep grids: the built-in paper grid's shape, strict TOML parsing, and a tiny user grid run end to end."""

import pytest

from harness.cli import main
from harness.errors import SptxError
from harness.records.store import ResultsStore
from harness.sweep import grid_cells, load_grid

PAPER_DATASETS = ("FB15k", "FB15k-237", "WN18", "WN18RR", "FB13", "YAGO3-10", "BioKG")


def test_the_paper_grid_covers_seven_datasets_and_four_models():
    grid = load_grid("paper")
    assert grid.datasets == PAPER_DATASETS
    assert set(grid.frameworks) == {"transe", "transr", "transh", "toruse"}
    assert {"torchkge", "dglke", "pyg"} <= set(grid.frameworks["transe"])  # the paper's TransE baselines
    assert "dglke" in grid.frameworks["transr"] and "pyg" not in grid.frameworks["transr"]
    paper = grid.scales["paper"].settings
    assert (paper["dim"]["transe"], paper["batch_size"]["transe"]) == (1024, 393216)
    assert (paper["dim"]["transr"], paper["batch_size"]["transr"]) == (128, 65536)
    assert (paper["dim"]["transh"], paper["batch_size"]["transh"]) == (128, 32768)
    names = {d: (f"synthetic:{d}", "") for d in PAPER_DATASETS}
    cells = grid_cells(grid, "quick", "cpu", None, names)
    per_dataset = sum(len(f) for f in grid.frameworks.values())
    assert len(cells) == 7 * per_dataset and len({c.key for c in cells}) == len(cells)
    assert {c.settings.allocator for c in cells} == {"pinned"}


def test_a_list_of_values_makes_one_comparison_group_per_value(tmp_path):
    path = tmp_path / "g.toml"
    path.write_text("[grid]\ndatasets=['WN18RR']\n[models.transe]\nframeworks=['sparse', 'gather']\n"
                    "[scales.s]\nthreads=[1, 2]\ndim={transe=[8, 16]}\n")
    cells = grid_cells(load_grid(str(path)), "s", "cpu", None, {"WN18RR": ("WN18RR", "")})
    assert len(cells) == 2 * 2 * 2
    assert len({c.group_key for c in cells}) == 4  # threads x dim; both frameworks share a group
    assert {(c.settings.threads, c.settings.dim) for c in cells} == {(1, 8), (1, 16), (2, 8), (2, 16)}


@pytest.mark.parametrize("text,message", [
    ("[grid]\ndatasets=['WN18RR']\ncolour='red'\n", "unknown key(s) colour"),
    ("[grid]\ndatasets=['WN18RR']\n[models.hole]\nframeworks=['sparse']\n", "unknown model(s) hole"),
    ("[grid]\ndatasets=['WN18RR']\n[models.transe]\nframeworks=['sparse']\n[scales.s]\nrounds=0\n", "rounds must be"),
    ("[grid\n", "not valid TOML"),
])
def test_bad_grids_are_one_line_errors(tmp_path, text, message):
    path = tmp_path / "g.toml"
    path.write_text(text)
    with pytest.raises(SptxError, match=message.replace("(", r"\(").replace(")", r"\)")):
        load_grid(str(path))


@pytest.mark.parametrize("scale,message", [
    ("steps = 'one'", "must be an integer"),
    ("steps = 0", "--steps must be at least 1"),
    ("warmup = -2", "--warmup must be at least 0"),
    ("allocator = 'mine'", "--allocator 'mine'"),
])
def test_out_of_range_settings_in_a_grid_are_one_line_errors(tmp_path, scale, message):
    path = tmp_path / "g.toml"
    path.write_text(f"[grid]\ndatasets=['WN18RR']\n[models.transe]\nframeworks=['sparse']\n[scales.s]\n{scale}\n")
    with pytest.raises(SptxError, match=message):
        grid_cells(load_grid(str(path)), "s", "cpu", None, {"WN18RR": ("WN18RR", "")})


def test_a_strict_subset_of_the_paper_datasets_runs(capsys):
    """`--datasets WN18RR` once died with KeyError: 'FB13'."""
    assert main(["sweep", "paper", "--scale", "smoke", "--datasets", "WN18RR", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "WN18RR" in out and "FB13" not in out


TINY_GRID = """
[grid]
datasets = ["FB13"]
fallback_synthetic = true
[models.transe]
frameworks = ["sparse", "gather"]
[models.transh]
frameworks = ["sparse", "pyg"]
[scales.tiny]
steps = 2
warmup = 1
time_limit_s = 120
measure_flops = false
dim = { transe = 8, transh = 8 }
batch_size = { transe = 256, transh = 256 }
"""


@pytest.mark.slow
def test_a_user_grid_runs_and_resumes(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("SPTX_DATA_DIR", str(tmp_path / "no-data"))  # force the synthetic stand-in
    grid = tmp_path / "tiny.toml"
    grid.write_text(TINY_GRID)
    out = tmp_path / "r.jsonl"
    assert main(["sweep", str(grid), "--scale", "tiny", "--out", str(out)]) == 0
    records = ResultsStore(out).records()
    assert len(records) == 4
    assert {r["settings"]["dataset"] for r in records} == {"synthetic:FB13"}
    assert {r["dataset_kind"] for r in records} == {"synthetic"}
    status = {(r["framework"], r["settings"]["model"]): r["status"] for r in records}
    assert status[("pyg", "transh")] == "unsupported"
    assert [s for k, s in status.items() if k != ("pyg", "transh")] == ["ok", "ok", "ok"]
    assert "synthetic:FB13" in capsys.readouterr().out
    assert main(["sweep", str(grid), "--scale", "tiny", "--out", str(out), "--resume"]) == 0
    assert len(ResultsStore(out).records()) == 4


CLAMP_GRID = """
[grid]
datasets = ["tiny"]
[models.transe]
frameworks = ["sparse"]
[scales.s]
steps = 2
warmup = 1
time_limit_s = 120
measure_flops = false
measure_memory = false
dim = 8
batch_size = [10, 1000]
"""


def test_a_batch_larger_than_the_training_split_is_clamped_to_it(tmp_path, tiny_graph_dir):
    path = tmp_path / "g.toml"
    path.write_text(CLAMP_GRID)
    cells = grid_cells(load_grid(str(path)), "s", "cpu", None, {"tiny": (str(tiny_graph_dir), "")})
    by_batch = {c.settings.batch_size: c.batch_clamped_from for c in cells}
    assert by_batch == {10: None, 18: 1000}  # 18 training triples: the settings hold the batch used
    paper = grid_cells(load_grid("paper"), "paper", "cpu", None, {"FB15k-237": ("synthetic:FB15k-237", "")})
    transe = {c.settings.batch_size: c.batch_clamped_from for c in paper if c.settings.model == "transe"}
    assert transe == {272_115: 393_216}  # the paper's TransE batch on FB15k-237's split
    transr = {c.batch_clamped_from for c in paper if c.settings.model == "transr"}
    assert transr == {None}


def test_the_record_carries_the_size_asked_for_and_says_so():
    from harness.runner import make_cell
    from harness.runner.worker import base_record, step_notes

    cell = make_cell("sparse", model="transe", dataset="synthetic:WN18RR", dim=8, batch_size=86_835,
                     batch_clamped_from=393_216)
    record = base_record(cell, "run", "ok").to_dict()
    assert record["batch_clamped_from"] == 393_216 and record["settings"]["batch_size"] == 86_835
    assert "batch 393,216 clamped to 86,835, the whole training split" in step_notes(cell, object())
    unclamped = make_cell("sparse", model="transe", dataset="synthetic:WN18RR", dim=8, batch_size=64)
    assert base_record(unclamped, "run", "ok").batch_clamped_from is None


@pytest.mark.slow
def test_a_sweep_with_a_clamped_batch_measures_the_split_and_reports_the_note(tmp_path, tiny_graph_dir):
    path = tmp_path / "g.toml"
    path.write_text(CLAMP_GRID.replace('datasets = ["tiny"]', f'datasets = ["{tiny_graph_dir}"]')
                    .replace("[10, 1000]", "1000"))
    out, report = tmp_path / "r.jsonl", tmp_path / "report"
    assert main(["sweep", str(path), "--scale", "s", "--out", str(out)]) == 0
    (record,) = ResultsStore(out).records()
    assert record["status"] == "ok" and record["settings"]["batch_size"] == 18
    assert record["batch_clamped_from"] == 1000 and "batch 1,000 clamped to 18" in record["message"]
    assert main(["report", str(out), "--out", str(report)]) == 0
    assert "(b clamped from 1000)" in (report / "README.md").read_text()
