"""What every report module writes with: markdown tables, atomic text/CSV/PNG writes, file-name slugs and the
fixed colour of each framework. It imports no other report module except tables' framework order, so
writer, charts, distributed and quality can all import it without a cycle."""

from __future__ import annotations

import itertools
import os
import re
from pathlib import Path
from typing import Any, Iterable

import pandas as pd
from matplotlib.figure import Figure

from harness.report.tables import framework_order

__all__ = ["TAB10", "framework_colors", "markdown_table", "save_figure", "slug", "write_csv", "write_text_atomic"]

TAB10 = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22",
         "#17becf")


def write_text_atomic(path: Path, text: str) -> Path:
    """Write text to a temporary file beside `path`, then move it into place."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    return path


def write_csv(frame: pd.DataFrame, path: Path) -> Path:
    """Write a frame as CSV (no index) atomically, so a reader never sees half a table."""
    return write_text_atomic(path, frame.to_csv(index=False))


def save_figure(fig: Figure, path: Path) -> Path:
    """Write a figure as PNG atomically: a half-written PNG never remains under the final name."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        fig.savefig(tmp, format="png", dpi=110)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    return path


def slug(text: str) -> str:
    """A file-name-safe lower-case form of `text` (runs of other characters become one dash)."""
    return re.sub(r"[^A-Za-z0-9]+", "-", str(text)).strip("-").lower() or "x"


def framework_colors(labels: Iterable[str]) -> dict[str, str]:
    """A fixed colour per framework (tab10 by framework_order()), further sparse backends in spare colours, so a
    framework looks the same in every chart."""
    out: dict[str, str] = {}
    labels = list(dict.fromkeys(labels))
    order = framework_order()
    reserved = {TAB10[order.index(base) % len(TAB10)] for base in (lbl.split("[", 1)[0] for lbl in labels)
                if base in order}
    spare = itertools.cycle([c for c in TAB10[len(order) % len(TAB10):] + TAB10 if c not in reserved] or TAB10)
    for label in labels:
        base = label.split("[", 1)[0]
        if base in order and base not in {lbl.split("[", 1)[0] for lbl in out}:
            out[label] = TAB10[order.index(base) % len(TAB10)]
        else:
            out[label] = next(spare)
    return out


def _cell(value: Any, fmt: str | None = None, limit: int = 160) -> str:
    """One markdown table cell: blank for missing, formatted, on one line, pipes escaped, cut at `limit`."""
    if value is None or (isinstance(value, float) and value != value) or value is pd.NA:
        return ""
    if fmt and isinstance(value, (int, float)):
        text = format(value, fmt)
    else:
        text = str(value)
    text = " ".join(text.split()).replace("|", "\\|")
    return text if len(text) <= limit else text[: limit - 1] + "…"


def markdown_table(frame: pd.DataFrame, columns: dict[str, str], formats: dict[str, str] | None = None) -> str:
    """A GitHub-flavoured markdown table of `frame[columns]` with the given headers and number formats."""
    formats = formats or {}
    lines = ["| " + " | ".join(columns.values()) + " |", "|" + "---|" * len(columns)]
    for _, row in frame.iterrows():
        lines.append("| " + " | ".join(_cell(row.get(c), formats.get(c)) for c in columns) + " |")
    return "\n".join(lines)
