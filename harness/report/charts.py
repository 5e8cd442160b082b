"""Report charts (PNG, matplotlib Agg; no pyplot state): speedup with the paper's figures beside ours,
time split per phase, peak memory and FLOPs per step. Cells that did not run ok stay visible as a
hatched grey marker labelled with their status (OOM, unsupported, ...), never dropped.

- `write_charts(frame, out_dir)` -> list of `Chart` (path, title, caption): all charts of a results set.
- `write_comparison_charts(records, out_dir)` -> list of paths: the same charts for one comparison.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable

import pandas as pd
from matplotlib.figure import Figure
from matplotlib.patches import Patch
from matplotlib.lines import Line2D

from harness.models import MODELS
from harness.records.schema import Status
from harness.report.output import framework_colors, save_figure, slug
from harness.report.paper import paper_speedup
from harness.report.tables import latest_records, records_to_frame, settings_label, sort_frame

__all__ = ["Chart", "write_charts", "write_comparison_charts", "LOG_SPREAD"]

LOG_SPREAD = 30.0  # a log axis once the positive values span more than this factor
PHASES = ("prepare", "forward", "backward", "optimizer")
PHASE_COLORS = {"prepare": "#8da0cb", "forward": "#66c2a5", "backward": "#fc8d62", "optimizer": "#e5c494"}
FAIL_COLOR = "#bbbbbb"
MODEL_NAMES = {name: spec.title for name, spec in MODELS.items()}
STATUS_TEXT = {**{s.value: s.text for s in Status if s is not Status.OK}, "missing": "not run"}


@dataclass(frozen=True)
class Chart:
    """A written chart: where it is, its title and a one-paragraph caption for the report."""

    path: Path
    title: str
    caption: str


# ---------------------------------------------------------------------------------------------- helpers


def _ordered_labels(frame: pd.DataFrame) -> list[str]:
    return list(dict.fromkeys(sort_frame(frame)["label"]))


def _num(value: Any) -> float | None:
    if value is None:
        return None
    try:
        value = float(value)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(value) else value


def _use_log(ax, values: Iterable[float | None]) -> bool:
    positive = [v for v in values if v is not None and v > 0]
    if positive and max(positive) / min(positive) > LOG_SPREAD:
        ax.set_yscale("log")
        return True
    return False


def _fmt(value: float) -> str:
    if value >= 1000:
        return f"{value:,.0f}"
    return f"{value:.3g}"


@dataclass
class _Group:
    """One x-group: a comparison group (dataset + settings) of one device and model."""

    key: tuple
    label: str
    rows: pd.DataFrame
    dataset: str
    device: str
    model: str
    synthetic: bool


def _groups(frame: pd.DataFrame) -> list[_Group]:
    """The comparison groups of a frame, datasets in order; settings named when a dataset has several."""
    out = []
    per_dataset: dict[str, int] = {}
    for _, rows in frame.groupby("group_key", sort=False, dropna=False):
        dataset = rows.iloc[0]["dataset"]
        per_dataset[dataset] = per_dataset.get(dataset, 0) + 1
    for key, rows in frame.groupby("group_key", sort=False, dropna=False):
        first = rows.iloc[0]
        synthetic = first["dataset_kind"] == "synthetic" or str(first["dataset"]).startswith("synthetic:")
        label = str(first["dataset"]).replace("synthetic:", "synthetic:\n") if synthetic else str(first["dataset"])
        if synthetic:
            label += "\n(stand-in)"
        if per_dataset[first["dataset"]] > 1:
            label += "\n" + settings_label(first)
        out.append(_Group(key, label, rows, str(first["dataset"]), str(first["device"]), str(first["model"]), synthetic))
    return out


def _row(group: _Group, label: str) -> Any | None:
    rows = group.rows[group.rows["label"] == label]
    return None if rows.empty else rows.iloc[-1]


def _status_of(row: Any | None) -> str:
    return "missing" if row is None else str(row["status"])


@dataclass
class _Series:
    """One bar per (group, slot): value(group, slot) -> (height or None, status when not shown)."""

    name: str
    value: Callable[[_Group, str], tuple[float | None, str | None]]
    hatch: str | None = None
    alpha: float = 1.0
    annotate: Callable[[_Group, str, float], str] | None = None
    interval: Callable[[_Group, str], tuple[float, float] | None] | None = None  # drawn as an error bar


def _grouped_bars(ax, groups: list[_Group], slots: list[str], series: list[_Series], colors: dict[str, str],
                  fail_height: Callable[[], float]) -> int:
    """Draw grouped bars; a slot whose value is None gets a hatched grey marker with its status.
    Returns the number of bar positions drawn."""
    width = 0.8
    x = 0.0
    centres, failures, texts = [], [], []
    n_bars = 0
    for group in groups:
        start = x
        for slot in slots:
            for s in series:
                height, status = s.value(group, slot)
                if height is None and status is None:
                    continue  # nothing to show here (e.g. the paper has no figure for this cell)
                if height is not None:
                    ax.bar(x, height, width, color=colors.get(slot, "#444444"), alpha=s.alpha, hatch=s.hatch,
                           edgecolor=colors.get(slot, "#444444") if s.hatch else "white", linewidth=0.8)
                    top = height
                    bounds = s.interval(group, slot) if s.interval is not None else None
                    if bounds is not None:
                        low, high = bounds
                        ax.errorbar(x, height, yerr=[[max(height - low, 0.0)], [max(high - height, 0.0)]],
                                    fmt="none", ecolor="black", elinewidth=0.8, capsize=2)
                        top = max(height, high)
                    if s.annotate is not None:
                        texts.append((x, top, s.annotate(group, slot, height)))
                else:
                    failures.append((x, STATUS_TEXT.get(status, status)))
                x += 1.0
                n_bars += 1
        if x > start:
            centres.append(((start + x - 1.0) / 2, group.label))
        x += 0.9  # gap between groups
    fail = fail_height()
    for pos, text in failures:
        ax.bar(pos, fail, width, color="white", hatch="xx", edgecolor=FAIL_COLOR, linewidth=0.8)
        ax.annotate(text, (pos, fail), xytext=(0, 3), textcoords="offset points", ha="center", va="bottom",
                    rotation=90, fontsize=7, color="#555555")
    for pos, height, text in texts:
        if text:
            ax.annotate(text, (pos, height), xytext=(0, 2), textcoords="offset points", ha="center",
                        va="bottom", rotation=90, fontsize=7)
    ax.set_xticks([c for c, _ in centres], [lbl for _, lbl in centres], fontsize=8)
    ax.set_xlim(-0.9, max(x - 0.9, 1.0))
    return n_bars


def _headroom(ax, values: list[float], log: bool) -> None:
    """Room above the tallest bar for its rotated value label."""
    positive = [v for v in values if v is not None and v > 0]
    if not positive:
        ax.set_ylim(0, 1)
        return
    top = max(positive)
    if log:
        ax.set_ylim(min(positive) / 3, top * 12)
    else:
        ax.set_ylim(0, top * 1.45)


def _figure(n_rows: int, n_bars: int, *, row_height: float = 3.8, min_width: float = 7.5) -> Figure:
    width = min(max(min_width, 0.26 * n_bars + 3.5), 60.0)
    return Figure(figsize=(width, row_height * n_rows + 0.8), layout="constrained")


def _legend(ax, handles: list) -> None:
    ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.005, 1.0), fontsize=8, frameon=False)


def _fail_handle() -> Patch:
    return Patch(facecolor="white", hatch="xx", edgecolor=FAIL_COLOR, label="not ok or not measured\n(status shown)")


def _describe_settings(frame: pd.DataFrame) -> str:
    settings = sorted({settings_label(r) for _, r in frame.iterrows()})
    return settings[0] if len(settings) == 1 else f"{len(settings)} settings"


# ---------------------------------------------------------------------------------------------- charts


def speedup_chart(frame: pd.DataFrame, device: str, out_dir: Path, stem: str) -> Chart:
    """Speedup of sparse over each framework: rows = models, x = datasets, bars = frameworks,
    the paper's reported speedup (hatched, same colour) beside ours where it has one."""
    models = list(dict.fromkeys(frame["model"]))
    per_model = []
    for model in models:
        mframe = frame[frame["model"] == model]
        groups = _groups(mframe)
        slots = [lbl for lbl in _ordered_labels(mframe)
                 if not all(lbl == g.rows["reference_label"].iloc[0] for g in groups)]
        for g in groups:  # a paper baseline we did not run still gets its slot
            for fw in ("torchkge", "dglke", "pyg"):
                if paper_speedup(device, g.dataset, model, fw) and fw not in slots:
                    slots.append(fw)
        per_model.append((model, groups, slots))
    n_bars = max((len(g) * len(s) * 2 for _, g, s in per_model), default=1)
    fig = _figure(len(models), n_bars)
    axes = fig.subplots(len(models), 1, squeeze=False)[:, 0]
    colors = framework_colors(_ordered_labels(frame) + ["torchkge", "dglke", "pyg"])
    any_synthetic_paper = False
    any_paper = False
    for ax, (model, groups, slots) in zip(axes, per_model):
        values: list[float] = []

        def ours(group: _Group, slot: str) -> tuple[float | None, str | None]:
            row = _row(group, slot)
            if row is not None and row["label"] == row["reference_label"]:
                return None, None  # the reference itself (1x by definition)
            if row is None:
                return None, "missing"
            value = _num(row["speedup_of_sparse"])
            if value is None:
                status = str(row["status"])
                return None, status if status != "ok" else f"sparse {row['sparse_status']}"
            values.append(value)
            return value, None

        def paper(group: _Group, slot: str) -> tuple[float | None, str | None]:
            nonlocal any_paper, any_synthetic_paper
            cell = paper_speedup(device, group.dataset, model, slot)
            if cell is None:
                return None, None
            any_paper = True
            any_synthetic_paper |= group.synthetic
            if cell.speedup is None:
                return None, "paper: OOM"
            values.append(cell.speedup)
            return cell.speedup, None

        def interval(group: _Group, slot: str) -> tuple[float, float] | None:
            row = _row(group, slot)
            if row is None:
                return None
            low, high = _num(row["speedup_ci_low"]), _num(row["speedup_ci_high"])
            return (low, high) if low is not None and high is not None else None

        series = [_Series("ours", ours, annotate=lambda g, s, v: f"{v:.2f}x", interval=interval),
                  _Series("paper", paper, hatch="///", alpha=0.45, annotate=lambda g, s, v: f"{v:.1f}x")]
        _grouped_bars(ax, groups, slots, series, colors, fail_height=lambda: 1.0)
        log = _use_log(ax, values + [1.0])
        _headroom(ax, values + [1.0], log)
        ax.axhline(1.0, color="black", linestyle="--", linewidth=0.8)
        ax.set_ylabel("speedup of sparse (x)\nbaseline step / sparse step")
        ax.set_xlabel("dataset")
        ax.set_title(f"{MODEL_NAMES.get(model, model)}\n{_describe_settings(frame[frame['model'] == model])}",
                     fontsize=10)
        handles = [Patch(color=colors[s], label=s) for s in slots]
        paper_label = "paper's reported speedup (hatched)"
        if any_synthetic_paper:
            paper_label = "paper's speedup on the REAL dataset (hatched);\nours there: synthetic stand-in"
        handles += [Patch(facecolor="#999999", alpha=0.45, hatch="///", edgecolor="#666666", label=paper_label),
                    Line2D([], [], color="black", linestyle="--", linewidth=0.8, label="parity (1x)"),
                    _fail_handle()]
        _legend(ax, handles)
    title = f"Speedup of sparse over each framework, {device}"
    fig.suptitle(title + " (higher = sparse faster)", fontsize=12)
    path = save_figure(fig, out_dir / f"{stem}speedup-{slug(device)}.png")
    caption = ("Step-time speedup of the reference (`sparse` with its default backend) over each framework, per "
               "dataset, one panel per model: solid bars are ours (the median of paired per-round ratios, with "
               "its bootstrap 95% CI as an error bar), hatched bars beside them the paper's reported speedup "
               + ("(GPU speedup figure)" if device.startswith("cuda") else "(FB15k artifact table; CPU has no other)")
               + ". Grey cross-hatched markers are cells that did not run ok, labelled with their status.")
    if any_synthetic_paper:
        caption += (" Where our dataset is `synthetic:NAME`, ours was measured on a shape-matched synthetic "
                    "stand-in while the paper's bar is for the real dataset: not a like-for-like comparison.")
    if not any_paper:
        caption += " The paper reports no figure for these cells."
    return Chart(path, title, caption)


def time_split_chart(frame: pd.DataFrame, device: str, model: str, out_dir: Path, stem: str) -> Chart:
    """Stacked median ms per phase per framework, one panel per comparison group (dataset + settings)."""
    groups = _groups(frame)
    n_cols = min(3, len(groups))
    n_rows = math.ceil(len(groups) / n_cols)
    labels = _ordered_labels(frame)
    width = max(7.5, n_cols * (0.45 * len(labels) + 2.2) + 2.0)
    fig = Figure(figsize=(min(width, 40), 3.9 * n_rows + 0.9), layout="constrained")
    axes = fig.subplots(n_rows, n_cols, squeeze=False).ravel()
    for ax in axes[len(groups):]:
        ax.set_visible(False)
    for ax, group in zip(axes, groups):
        rows = [_row(group, lbl) for lbl in labels]
        tops = []
        for i, row in enumerate(rows):
            if row is None or row["status"] != "ok":
                continue
            bottom = 0.0
            for phase in PHASES:
                value = _num(row[f"{phase}_ms"]) or 0.0
                ax.bar(i, value, 0.7, bottom=bottom, color=PHASE_COLORS[phase], edgecolor="white", linewidth=0.5)
                bottom += value
            step = _num(row["step_ms"])
            if step is not None:
                ax.plot([i - 0.4, i + 0.4], [step, step], color="black", linewidth=1.5)
            tops.append(max(bottom, step or 0.0))
        top = max(tops, default=1.0)
        for i, row in enumerate(rows):
            if row is None or row["status"] == "ok":
                continue
            ax.bar(i, top * 0.08, 0.7, color="white", hatch="xx", edgecolor=FAIL_COLOR)
            ax.annotate(STATUS_TEXT.get(str(row["status"]), str(row["status"])), (i, top * 0.08), xytext=(0, 3),
                        textcoords="offset points", ha="center", va="bottom", rotation=90, fontsize=8, color="#555555")
        for i, row in enumerate(rows):
            if row is not None and row["status"] == "ok" and _num(row["step_ms"]) is not None:
                ax.annotate(_fmt(float(row["step_ms"])), (i, tops.pop(0)), xytext=(0, 2), textcoords="offset points",
                            ha="center", va="bottom", fontsize=7)
        ax.set_ylim(0, top * 1.25)
        present = [i for i, r in enumerate(rows) if r is not None]
        ax.set_xticks(present, [labels[i] for i in present], rotation=30, ha="right", fontsize=8)
        ax.set_ylabel("median time per step (ms)")
        ax.set_title(group.label.replace(":\n", ":").replace("\n", " ") + ("" if "d=" in group.label else f"\n{settings_label(group.rows.iloc[0])}"),
                     fontsize=9)
    handles = [Patch(color=PHASE_COLORS[p], label=p) for p in PHASES]
    handles += [Line2D([], [], color="black", linewidth=1.5, label="whole step (median)"), _fail_handle()]
    fig.legend(handles=handles, loc="outside right upper", fontsize=8, frameon=False)
    title = f"Time per phase, {MODEL_NAMES.get(model, model)} on {device}"
    fig.suptitle(title, fontsize=12)
    path = save_figure(fig, out_dir / f"{stem}time-split-{slug(device)}-{slug(model)}.png")
    caption = ("Median time per training step split into prepare / forward / backward / optimizer (stacked), "
               "one panel per dataset; the black line is the median of the whole step (medians do not add up "
               "exactly). Full numbers in the time-split CSV.")
    return Chart(path, title, caption)


def memory_chart(frame: pd.DataFrame, device: str, out_dir: Path, stem: str) -> Chart:
    """Peak memory per framework (MiB), labelled with the ratio framework / sparse."""
    models = list(dict.fromkeys(frame["model"]))
    labels = _ordered_labels(frame)
    colors = framework_colors(labels)
    n_bars = max(len(_groups(frame[frame["model"] == m])) * len(labels) for m in models)
    fig = _figure(len(models), n_bars)
    axes = fig.subplots(len(models), 1, squeeze=False)[:, 0]
    kind_names = {"cpu_live_tensors": "live-tensor peak during one step", "cuda_allocator": "CUDA allocator peak"}
    kinds = sorted({kind_names.get(str(k), str(k)) for k in frame["memory_kind"].dropna()})
    for ax, model in zip(axes, models):
        mframe = frame[frame["model"] == model]
        slots = _ordered_labels(mframe)
        values: list[float] = []

        def mib(group: _Group, slot: str) -> tuple[float | None, str | None]:
            row = _row(group, slot)
            if row is None:
                return None, None
            value = _num(row["peak_memory_bytes"])
            if row["status"] != "ok" or value is None:
                return None, str(row["status"]) if row["status"] != "ok" else "not measured"
            values.append(value / 2**20)
            return value / 2**20, None

        def ratio(group: _Group, slot: str, value: float) -> str:
            r = _num(_row(group, slot)["memory_ratio_vs_sparse"])
            return f"{_fmt(value)} ({r:.2f}x)" if r is not None else _fmt(value)

        groups = _groups(mframe)
        _grouped_bars(ax, groups, slots, [_Series("ours", mib, annotate=ratio)], colors,
                      fail_height=lambda: min(values) if values else 0.3)
        log = _use_log(ax, values)
        _headroom(ax, values, log)
        ax.set_ylabel("peak memory (MiB)" + (", log" if log else ""))
        ax.set_xlabel("dataset")
        ax.set_title(f"{MODEL_NAMES.get(model, model)}\n{_describe_settings(mframe)}; "
                     "bar label: MiB (framework / sparse)", fontsize=10)
        _legend(ax, [Patch(color=colors[s], label=s) for s in slots] + [_fail_handle()])
    title = f"Peak memory per framework, {device}"
    fig.suptitle(title + f"\n[{', '.join(kinds) or 'memory kind unknown'}]", fontsize=12)
    path = save_figure(fig, out_dir / f"{stem}memory-{slug(device)}.png")
    caption = ("Peak memory of one training step per framework in MiB, labelled with the ratio framework / "
               "sparse (above 1: sparse uses less). "
               + ("This is the CUDA caching allocator's peak over the measured steps." if device.startswith("cuda")
                  else "On CPU this is the peak of live tensors during one step; memory.csv also has the RSS "
                       "growth of the first step."))
    return Chart(path, title, caption)


def flops_chart(frame: pd.DataFrame, device: str, out_dir: Path, stem: str) -> Chart:
    """FLOPs per step: what each framework executed (solid) beside the model's analytic figure (hatched)."""
    models = list(dict.fromkeys(frame["model"]))
    labels = _ordered_labels(frame)
    colors = framework_colors(labels)
    n_bars = max(len(_groups(frame[frame["model"] == m])) * len(labels) * 2 for m in models)
    fig = _figure(len(models), n_bars)
    axes = fig.subplots(len(models), 1, squeeze=False)[:, 0]
    for ax, model in zip(axes, models):
        mframe = frame[frame["model"] == model]
        slots = _ordered_labels(mframe)
        values: list[float] = []

        def getter(column: str, show_status: bool):
            def value(group: _Group, slot: str) -> tuple[float | None, str | None]:
                row = _row(group, slot)
                if row is None:
                    return None, None
                v = _num(row[column])
                if row["status"] != "ok" or v is None or v <= 0:
                    if not show_status:
                        return None, None
                    return None, str(row["status"]) if row["status"] != "ok" else "not counted"
                values.append(v / 1e9)
                return v / 1e9, None
            return value

        series = [_Series("executed", getter("flops_executed", True), annotate=lambda g, s, v: _fmt(v)),
                  _Series("model", getter("flops_model", False), hatch="///", alpha=0.45,
                          annotate=lambda g, s, v: _fmt(v))]
        _grouped_bars(ax, _groups(mframe), slots, series, colors,
                      fail_height=lambda: min(values) if values else 0.3)
        log = _use_log(ax, values)
        _headroom(ax, values, log)
        ax.set_ylabel("GFLOP per training step" + (", log" if log else ""))
        ax.set_xlabel("dataset")
        ax.set_title(f"{MODEL_NAMES.get(model, model)}\n{_describe_settings(mframe)}", fontsize=10)
        handles = [Patch(color=colors[s], label=s) for s in slots]
        handles += [Patch(facecolor="#999999", label="executed, one rule for all (solid)"),
                    Patch(facecolor="#999999", alpha=0.45, hatch="///", edgecolor="#666666",
                          label="the model's analytic FLOPs,\nequal for all (hatched)"), _fail_handle()]
        _legend(ax, handles)
    title = f"FLOPs per training step, {device}"
    fig.suptitle(title, fontsize=12)
    path = save_figure(fig, out_dir / f"{stem}flops-{slug(device)}.png")
    caption = ("GFLOP per training step: solid bars are what each framework executed, counted under one rule "
               "for all (a gather is free, an add or multiply is 1 per element, a +-1 incidence product "
               "(nnz - rows) x d adds); hatched bars are the model's analytic FLOPs, the same for every framework "
               "(harness/measure/model_flops.py).")
    return Chart(path, title, caption)


# ---------------------------------------------------------------------------------------------- entry points


def write_charts(frame: pd.DataFrame, out_dir: str | os.PathLike[str], stem: str = "") -> list[Chart]:
    """Every chart of a records frame (`records_to_frame` of the newest record per cell) into out_dir."""
    out = Path(out_dir)
    charts: list[Chart] = []
    if frame.empty:
        return charts
    frame = sort_frame(frame)
    for device in dict.fromkeys(frame["device"]):
        dframe = frame[frame["device"] == device]
        charts.append(speedup_chart(dframe, device, out, stem))
        for model in dict.fromkeys(dframe["model"]):
            charts.append(time_split_chart(dframe[dframe["model"] == model], device, model, out, stem))
        charts.append(memory_chart(dframe, device, out, stem))
        charts.append(flops_chart(dframe, device, out, stem))
    return charts


def write_comparison_charts(records: list[dict], out_dir: str | os.PathLike[str]) -> list[Path]:
    """The report's charts for one comparison (one model, one dataset, several frameworks); the paths."""
    frame = records_to_frame(latest_records(records))
    return [chart.path for chart in write_charts(frame, out_dir)]
