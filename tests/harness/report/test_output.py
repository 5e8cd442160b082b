"""The report's shared writers: markdown tables, atomic writes, slugs and framework colours."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from harness.report.output import framework_colors, markdown_table, slug, write_csv, write_text_atomic
from harness.report.tables import framework_order


def test_markdown_table_formats_escapes_and_blanks_missing_values() -> None:
    frame = pd.DataFrame({"a": ["x|y", None], "b": [1.23456, float("nan")]})
    assert markdown_table(frame, {"a": "A", "b": "B"}, {"b": ".2f"}).splitlines() == [
        "| A | B |", "|---|---|", "| x\\|y | 1.23 |", "|  |  |"]


def test_atomic_writes_leave_only_the_final_file(tmp_path: Path) -> None:
    write_text_atomic(tmp_path / "a.txt", "text")
    write_csv(pd.DataFrame({"n": [1]}), tmp_path / "b.csv")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.txt", "b.csv"]
    assert (tmp_path / "b.csv").read_text() == "n\n1\n"


def test_slug_and_colours_are_stable() -> None:
    assert slug("cpu: Xeon (8 cores)") == "cpu-xeon-8-cores" and slug("///") == "x"
    colors = framework_colors(["gather", "sparse[segment]", "sparse[fused]"])
    assert colors["gather"] == framework_colors(["gather"])["gather"]
    assert len(set(colors.values())) == 3 and set(framework_order()) >= {"sparse", "gather"}


def test_a_registered_framework_gets_its_own_fixed_colour(monkeypatch):
    from baselines import FRAMEWORKS

    monkeypatch.setitem(FRAMEWORKS, "fake", type("FakeStep", (), {"name": "fake"}))
    colors = framework_colors(["sparse[a]", "sparse[b]", "fake"])  # not a spare colour, whatever comes first
    assert colors["fake"] == framework_colors(["fake"])["fake"] and len(set(colors.values())) == 3
