"""Tables derived from records with pandas: per-framework phase times, speedups, memory and FLOPs."""

from __future__ import annotations

from typing import Any, Iterable

import pandas as pd

__all__ = ["GROUP_KEYS", "framework_label", "records_to_frame", "comparison_table"]

# A comparison group: the same work measured by several frameworks.
GROUP_KEYS: tuple[str, ...] = ("model", "dataset", "device", "dim", "batch_size", "num_negatives", "mode")
PHASE_COLUMNS: tuple[str, ...] = ("prepare", "forward", "backward", "optimizer", "step")


def framework_label(framework: str, backend: str | None) -> str:
    """`sparse[torch]` for our model on a backend, the framework's name otherwise."""
    return f"{framework}[{backend}]" if framework == "sparse" and backend else framework


def records_to_frame(records: Iterable[dict[str, Any]]) -> pd.DataFrame:
    """One row per record with the columns reports use (medians in ms, bytes, FLOPs)."""
    rows = []
    for r in records:
        row = {k: r.get(k) for k in ("framework", "backend", "model", "dataset", "dataset_kind", "device", "dim",
                                     "batch_size", "num_negatives", "mode", "status", "message", "peak_memory_bytes",
                                     "peak_rss_bytes", "flops", "flops_profiler", "epoch_time_s",
                                     "epoch_time_extrapolated", "steps_measured", "memory_kind")}
        row["label"] = framework_label(r.get("framework", ""), r.get("backend"))
        for phase in PHASE_COLUMNS:
            stats = (r.get("time_ms") or {}).get(phase) or {}
            row[f"{phase}_ms"] = stats.get("median")
            if phase == "step":
                row["step_ci_low_ms"], row["step_ci_high_ms"] = stats.get("ci_low"), stats.get("ci_high")
                row["step_iqr_ms"] = stats.get("iqr")
        rows.append(row)
    frame = pd.DataFrame(rows)
    if not frame.empty:
        frame = _add_ratios(frame)
    return frame


def _add_ratios(frame: pd.DataFrame) -> pd.DataFrame:
    """Speedup and memory ratio of `sparse` over each framework within its comparison group."""
    frame = frame.copy()
    frame["speedup_of_sparse"] = float("nan")
    frame["memory_ratio_vs_sparse"] = float("nan")
    for _, group in frame.groupby(list(GROUP_KEYS), dropna=False):
        ours = group[(group["framework"] == "sparse") & (group["status"] == "ok")]
        if ours.empty:
            continue
        ref = ours.sort_values("step_ms").iloc[0]
        ok = group["status"] == "ok"
        idx = group.index[ok]
        frame.loc[idx, "speedup_of_sparse"] = group.loc[idx, "step_ms"] / ref["step_ms"]
        if ref["peak_memory_bytes"]:
            frame.loc[idx, "memory_ratio_vs_sparse"] = group.loc[idx, "peak_memory_bytes"] / ref["peak_memory_bytes"]
    return frame


def comparison_table(records: Iterable[dict[str, Any]]) -> pd.DataFrame:
    """The table `sptx compare` prints: one row per framework, fastest first, failures last."""
    frame = records_to_frame(records)
    if frame.empty:
        return frame
    frame["_order"] = (frame["status"] != "ok").astype(int)
    frame = frame.sort_values(["_order", "step_ms"], na_position="last").drop(columns="_order")
    return frame.reset_index(drop=True)
