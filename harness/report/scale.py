"""How a step's cost grows with the graph (`sptx scale`): from records of the same work on graphs of
increasing entity count, per framework and optimizer, the step time and its growth over the smallest graph
(median of paired per-round ratios with a bootstrap 95% CI), which phase grew most, and the memory."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Any, Iterable

import pandas as pd
from matplotlib.figure import Figure

from harness.measure.timing import RatioStats, ratio_stats
from harness.report.output import framework_colors, markdown_table, save_figure, write_csv, write_text_atomic
from harness.report.tables import latest_records

__all__ = ["PHASES", "best_speedup_by_size", "growth_table", "speedup_by_size", "write_scale_report"]

PHASES = ("prepare", "forward", "backward", "optimizer")


def _median(record: dict[str, Any], phase: str = "step") -> float | None:
    stats = (record.get("time_ms") or {}).get(phase) or {}
    return stats.get("median")


def _entities(record: dict[str, Any]) -> int:
    return int((record.get("graph") or {}).get("n_entities") or 0)


def _round_key(record: dict[str, Any]) -> tuple[str, int]:
    return str(record.get("code_version", "")), int(record.get("round", 0))


def _series_key(record: dict[str, Any]) -> tuple[str, str]:
    return record["label"], record["settings"].get("optimizer", "")


def _ok(records: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """The newest record of each cell that measured a step on a graph of known size."""
    return [r for r in latest_records(records) if r.get("status") == "ok" and _median(r) is not None and _entities(r)]


def _step(runs: list[dict[str, Any]], phase: str = "step") -> float:
    """The median over rounds of the per-record medians of a phase (NaN where none has it)."""
    return float(pd.Series([_median(r, phase) for r in runs], dtype=float).median())


def _ratio_text(stats: RatioStats | None) -> str:
    if stats is None:
        return "-"
    return f"{stats.median:.2f}x [{stats.ci_low:.2f}-{stats.ci_high:.2f}]"


def growth_table(records: Iterable[dict[str, Any]]) -> pd.DataFrame:
    """One row per (framework label, optimizer, graph): step ms, growth over that series' smallest graph
    (paired by round), the phase whose time grew most, process peak RSS and live-tensor peak."""
    ok = _ok(records)
    series: dict[tuple[str, str], dict[int, list[dict[str, Any]]]] = defaultdict(lambda: defaultdict(list))
    for r in ok:
        series[_series_key(r)][_entities(r)].append(r)
    rows = []
    for (label, optimizer), by_size in sorted(series.items()):
        smallest = min(by_size)
        base = {_round_key(r): r for r in by_size[smallest]}
        for n_entities in sorted(by_size):
            runs = by_size[n_entities]
            ratios = [_median(r) / _median(base[_round_key(r)]) for r in runs if _round_key(r) in base]
            phase_growth = {phase: _step(runs, phase) - _step(by_size[smallest], phase) for phase in PHASES}
            grew = max(phase_growth, key=lambda p: phase_growth[p]) if n_entities != smallest else "-"
            rss = [r.get("process_peak_rss_bytes") for r in runs if r.get("process_peak_rss_bytes")]
            live = [r.get("peak_memory_bytes") for r in runs if r.get("peak_memory_bytes")]
            rows.append({
                "framework": label, "optimizer": optimizer, "dataset": runs[0]["settings"]["dataset"],
                "entities": n_entities, "rounds": len(runs),
                "step_ms": _step(runs),
                "growth": _ratio_text(ratio_stats(ratios)) if n_entities != smallest else "1.00x (base)",
                "grew_most": grew if n_entities == smallest else f"{grew} (+{phase_growth[grew]:.1f} ms)",
                "peak_rss_gib": max(rss) / 2**30 if rss else None,
                "live_peak_gib": max(live) / 2**30 if live else None,
            })
    return pd.DataFrame(rows)


def speedup_by_size(records: Iterable[dict[str, Any]], reference: str = "sparse") -> pd.DataFrame:
    """Per graph and optimizer: how many times faster the reference framework's step is than each other
    framework's (median of paired per-round ratios, 95% CI)."""
    ok = _ok(records)
    groups: dict[tuple[int, str], list[dict[str, Any]]] = defaultdict(list)
    for r in ok:
        groups[(_entities(r), r["settings"].get("optimizer", ""))].append(r)
    rows = []
    for (n_entities, optimizer), runs in sorted(groups.items()):
        refs = {_round_key(r): _median(r) for r in runs if r["framework"] == reference}
        for label in sorted({r["label"] for r in runs if r["framework"] != reference}):
            ratios = [_median(r) / refs[_round_key(r)] for r in runs if r["label"] == label and _round_key(r) in refs]
            rows.append({"entities": n_entities, "optimizer": optimizer, "vs": label,
                         "speedup": _ratio_text(ratio_stats(ratios))})
    return pd.DataFrame(rows)


def best_speedup_by_size(records: Iterable[dict[str, Any]], reference: str = "sparse") -> pd.DataFrame:
    """Per graph: the reference with its fastest optimizer against each other framework with its fastest
    optimizer (fastest by median step time), as the median of paired per-round ratios with a 95% CI."""
    ok = _ok(records)
    by_size: dict[int, dict[tuple[str, str], list[dict[str, Any]]]] = defaultdict(lambda: defaultdict(list))
    for r in ok:
        by_size[_entities(r)][_series_key(r)].append(r)
    rows = []
    for n_entities, series in sorted(by_size.items()):
        fastest: dict[str, tuple[str, list[dict[str, Any]]]] = {}
        for (_, optimizer), runs in sorted(series.items(), key=lambda item: _step(item[1])):
            fastest.setdefault(runs[0]["framework"], (optimizer, runs))  # the first seen is the fastest
        if reference not in fastest:
            continue
        ref_optimizer, ref_runs = fastest[reference]
        ref_steps = {_round_key(r): _median(r) for r in ref_runs}
        for framework, (optimizer, runs) in sorted(fastest.items()):
            if framework == reference:
                continue
            ratios = [_median(r) / ref_steps[_round_key(r)] for r in runs if _round_key(r) in ref_steps]
            rows.append({"entities": n_entities, reference: ref_optimizer, "vs": f"{runs[0]['label']} ({optimizer})",
                         "speedup": _ratio_text(ratio_stats(ratios))})
    return pd.DataFrame(rows)


def _plot(frame: pd.DataFrame, column: str, ylabel: str, title: str, path: Path) -> Path:
    fig = Figure(figsize=(7.5, 4.8))
    ax = fig.subplots()
    colors = framework_colors(frame["framework"].unique())
    styles = {name: style for name, style in zip(sorted(frame["optimizer"].unique()), ("-", "--", ":", "-."))}
    for (label, optimizer), series in frame.groupby(["framework", "optimizer"]):
        series = series.dropna(subset=[column]).sort_values("entities")
        if not series.empty:
            ax.plot(series["entities"], series[column], styles.get(optimizer, "-"), marker="o",
                    color=colors[label], label=f"{label} ({optimizer})")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("entities")
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=10)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7)
    return save_figure(fig, path)


def write_scale_report(records: list[dict[str, Any]], out: str | Path, describe: str = "") -> list[Path]:
    """README.md, CSVs and log-log charts (step time and peak RSS against entities) of scale records in `out`."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    growth, per_optimizer, best = growth_table(records), speedup_by_size(records), best_speedup_by_size(records)
    written = [write_csv(growth, out / "growth.csv"), write_csv(per_optimizer, out / "speedup.csv"),
               write_csv(best, out / "speedup-fastest-optimizer.csv")]
    if not growth.empty:
        written.append(_plot(growth, "step_ms", "ms per step (median)", f"Step time against entities. {describe}",
                             out / "step-time.png"))
        written.append(_plot(growth, "peak_rss_gib", "peak RSS of the measuring process (GiB)",
                             f"Memory against entities. {describe}", out / "memory.png"))
    failed = sorted({(r["label"], r["settings"].get("optimizer", ""), _entities(r) or r["settings"]["dataset"],
                      r["status"], r.get("message", "")) for r in latest_records(records)
                     if r.get("status") not in ("ok", "unsupported")}, key=str)
    columns = {"framework": "framework", "optimizer": "optimizer", "entities": "entities", "rounds": "rounds",
               "step_ms": "ms/step", "growth": "vs smallest graph", "grew_most": "phase that grew most",
               "peak_rss_gib": "peak RSS GiB", "live_peak_gib": "live tensors GiB"}
    text = ["# Step cost against graph size (`sptx scale`)", "", describe, "",
            markdown_table(growth, columns, {"step_ms": ".1f", "peak_rss_gib": ".2f", "live_peak_gib": ".2f"})
            if not growth.empty else "No ok records.", "",
            "## sparse's speedup per graph and optimizer (median of paired per-round ratios, 95% CI)", "",
            markdown_table(per_optimizer, {c: c for c in per_optimizer.columns}) if not per_optimizer.empty else "-", "",
            "## sparse with its fastest optimizer against each framework with its fastest", "",
            markdown_table(best, {c: c for c in best.columns}) if not best.empty else "-", "",
            "## Cells that did not finish", ""]
    text += [f"- {label} ({optimizer}) at {size}: {status}: {message}" for label, optimizer, size, status, message
             in failed] or ["none"]
    text += ["", "Charts: step-time.png, memory.png (log-log)."]
    written.append(write_text_atomic(out / "README.md", "\n".join(text) + "\n"))
    return written
