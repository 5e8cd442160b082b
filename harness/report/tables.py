"""Tables derived from records with pandas: per-framework phase times, speedups, memory and FLOPs."""

from __future__ import annotations

from typing import Any, Iterable

import pandas as pd

__all__ = [
    "GROUP_KEYS", "FRAMEWORK_ORDER", "framework_label", "latest_records", "records_to_frame", "comparison_table",
    "settings_label", "speedup_table", "time_split_table", "memory_table", "flops_table", "paper_vs_measured",
    "failures_table", "environment_table",
]

# A comparison group: the same work measured by several frameworks.
GROUP_KEYS: tuple[str, ...] = ("model", "dataset", "device", "dim", "batch_size", "num_negatives", "mode")
PHASE_COLUMNS: tuple[str, ...] = ("prepare", "forward", "backward", "optimizer", "step")
# The order frameworks appear in in tables and charts (others follow, by name).
FRAMEWORK_ORDER: tuple[str, ...] = ("sparse", "gather", "torchkge", "pyg", "pykeen", "dglke")


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
    frame["reference_label"] = None
    frame["sparse_step_ms"] = float("nan")
    frame["sparse_status"] = None
    for _, group in frame.groupby(list(GROUP_KEYS), dropna=False):
        sparse_rows = group[group["framework"] == "sparse"]
        frame.loc[group.index, "sparse_status"] = (
            "missing" if sparse_rows.empty else ",".join(sorted(set(sparse_rows["status"].astype(str)))))
        ours = sparse_rows[sparse_rows["status"] == "ok"]
        if ours.empty:
            continue
        ref = ours.sort_values("step_ms").iloc[0]
        frame.loc[group.index, "reference_label"] = ref["label"]
        frame.loc[group.index, "sparse_step_ms"] = ref["step_ms"]
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


# ----------------------------------------------------------------------------------------------
# Report tables (`sptx report`): every record appears, failures included, with its status.


def latest_records(records: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """One record per cell: the newest (last) of each `cell_key` wins, where the first one stood.

    Records without a cell_key are keyed by their group keys, framework and backend.
    """
    latest: dict[Any, dict[str, Any]] = {}
    for r in records:
        key = r.get("cell_key") or tuple(str(r.get(k)) for k in (*GROUP_KEYS, "framework", "backend"))
        latest[key] = r
    return list(latest.values())


def _framework_rank(framework: str) -> int:
    return FRAMEWORK_ORDER.index(framework) if framework in FRAMEWORK_ORDER else len(FRAMEWORK_ORDER)


MODEL_ORDER: tuple[str, ...] = ("transe", "transr", "transh", "toruse")


def _model_rank(model: str) -> int:
    return MODEL_ORDER.index(model) if model in MODEL_ORDER else len(MODEL_ORDER)


def _dataset_rank(dataset: str) -> tuple[int, int]:
    """The paper's dataset order; a real dataset before its synthetic stand-in; others after."""
    from harness.report.paper import PAPER_DATASETS, base_dataset

    name, synthetic = base_dataset(str(dataset))
    return (PAPER_DATASETS.index(name) if name in PAPER_DATASETS else len(PAPER_DATASETS), int(synthetic))


def sort_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """Device, model (paper order), dataset (paper order), settings, then frameworks in FRAMEWORK_ORDER."""
    if frame.empty:
        return frame
    frame = frame.assign(_rank=frame["framework"].map(_framework_rank), _mrank=frame["model"].map(_model_rank),
                         _drank=frame["dataset"].map(_dataset_rank))
    keys = ["device", "_mrank", "model", "_drank", "dataset", "dim", "batch_size", "num_negatives", "mode", "_rank",
            "label"]
    return frame.sort_values(keys, kind="stable").drop(columns=["_rank", "_mrank", "_drank"]).reset_index(drop=True)


def settings_label(row: Any) -> str:
    """'d=64 b=8192x(1+1) identical' for a comparison group."""
    return f"d={row['dim']} b={row['batch_size']}x(1+{row['num_negatives']}) {row['mode']}"


def _is_missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and value != value)


def _why_blank(row: Any) -> str:
    """Why a row has no speedup: its own failure, or no successful `sparse` record in its group."""
    if row["status"] != "ok":
        return f"{row['status']}: {row['message']}" if row["message"] else str(row["status"])
    if _is_missing(row.get("reference_label")):
        return f"no ok sparse record in this group (sparse: {row.get('sparse_status')})"
    return ""


_ID = ["device", "dataset", "dataset_kind", "model", "dim", "batch_size", "num_negatives", "mode", "label", "status"]


def speedup_table(frame: pd.DataFrame) -> pd.DataFrame:
    """Step time and speedup of `sparse` over every framework, with the paper's figure where it has one."""
    from harness.report.paper import paper_speedup

    if frame.empty:
        return frame
    frame = sort_frame(frame)
    out = frame[_ID + ["step_ms", "step_ci_low_ms", "step_ci_high_ms", "sparse_step_ms", "reference_label",
                       "speedup_of_sparse", "epoch_time_s", "epoch_time_extrapolated"]].copy()
    papers = [paper_speedup(r["device"], r["dataset"], r["model"], r["framework"]) for _, r in frame.iterrows()]
    out["paper_speedup"] = [p.speedup if p else None for p in papers]
    out["paper_status"] = [p.status if p else None for p in papers]
    out["paper_source"] = [p.source if p else None for p in papers]
    out["note"] = [_why_blank(r) for _, r in frame.iterrows()]
    return out


def time_split_table(frame: pd.DataFrame) -> pd.DataFrame:
    """Median ms per phase (prepare / forward / backward / optimizer) and per whole step."""
    if frame.empty:
        return frame
    frame = sort_frame(frame)
    out = frame[_ID + [f"{p}_ms" for p in PHASE_COLUMNS] + ["step_iqr_ms"]].copy()
    out["note"] = [_why_blank(r) if r["status"] != "ok" else "" for _, r in frame.iterrows()]
    return out


def memory_table(frame: pd.DataFrame) -> pd.DataFrame:
    """Peak memory (bytes and MiB), what was measured, and the ratio framework / sparse."""
    if frame.empty:
        return frame
    frame = sort_frame(frame)
    out = frame[_ID + ["memory_kind", "peak_memory_bytes", "peak_rss_bytes", "memory_ratio_vs_sparse"]].copy()
    out.insert(out.columns.get_loc("peak_rss_bytes"), "peak_memory_mib", pd.to_numeric(out["peak_memory_bytes"]) / 2**20)
    out["note"] = [_why_blank(r) for _, r in frame.iterrows()]
    return out


def flops_table(frame: pd.DataFrame) -> pd.DataFrame:
    """FLOPs per step: sparse-aware (2 * nnz * d per SpMM) and torch.profiler's dense-counting figure."""
    if frame.empty:
        return frame
    frame = sort_frame(frame)
    out = frame[_ID + ["flops", "flops_profiler"]].copy()
    flops, profiler = pd.to_numeric(out["flops"]), pd.to_numeric(out["flops_profiler"])
    out["gflop_per_step"] = flops / 1e9
    out["profiler_gflop_per_step"] = profiler / 1e9
    out["profiler_over_sparse_aware"] = profiler / flops.where(flops > 0)
    out["note"] = [_why_blank(r) if r["status"] != "ok" else "" for _, r in frame.iterrows()]
    return out


def failures_table(frame: pd.DataFrame) -> pd.DataFrame:
    """Every cell whose status is not ok, with its message."""
    if frame.empty:
        return frame
    frame = sort_frame(frame)
    return frame.loc[frame["status"] != "ok", _ID + ["message"]].reset_index(drop=True)


def paper_vs_measured(frame: pd.DataFrame) -> pd.DataFrame:
    """One row per speedup the paper reports (and per matching group of ours): its ratio and ours.

    Ours is looked up on the same device kind, model and framework, on the real dataset or its
    synthetic stand-in (flagged `synthetic`); when we have no usable record the `note` says why.
    """
    from harness.report.paper import PAPER_CELLS, base_dataset, device_kind

    rows = []
    if not frame.empty:
        frame = frame.assign(_device_kind=frame["device"].map(device_kind),
                             _base=frame["dataset"].map(lambda d: base_dataset(d)[0]))
    for cell in PAPER_CELLS:
        base = {"device": cell.device, "dataset": cell.dataset, "model": cell.model, "baseline": cell.baseline,
                "framework": cell.framework, "paper_source": cell.source,
                "paper_speedup": cell.speedup, "paper_status": cell.status}
        matches = pd.DataFrame() if frame.empty else frame[
            (frame["_device_kind"] == cell.device) & (frame["_base"] == cell.dataset)
            & (frame["model"] == cell.model) & (frame["framework"] == cell.framework)]
        if matches.empty:
            ours_group = pd.DataFrame() if frame.empty else frame[
                (frame["_device_kind"] == cell.device) & (frame["_base"] == cell.dataset) & (frame["model"] == cell.model)]
            note = ("not measured: no record for this framework in our results" if not ours_group.empty
                    else "not measured: no record for this device, dataset and model")
            rows.append({**base, "measured_dataset": None, "synthetic": None, "settings": None, "status": None,
                         "measured_speedup": None, "measured_over_paper": None, "note": note})
            continue
        for _, r in matches.iterrows():
            synthetic = r["dataset_kind"] == "synthetic" or str(r["dataset"]).startswith("synthetic:")
            ours = None if _is_missing(r["speedup_of_sparse"]) else float(r["speedup_of_sparse"])
            note = _why_blank(r)
            if synthetic:
                note = "; ".join(n for n in ("ours on a synthetic stand-in, not the real dataset", note) if n)
            rows.append({**base, "measured_dataset": r["dataset"], "synthetic": bool(synthetic),
                         "settings": settings_label(r), "status": r["status"], "measured_speedup": ours,
                         "measured_over_paper": (ours / cell.speedup) if ours and cell.speedup else None,
                         "note": note})
    return pd.DataFrame(rows)


_ENV_FIELDS = ("hostname", "cpu", "cores_physical", "cores_logical", "threads", "omp_num_threads",
               "memory_total_bytes", "gpu", "gpu_memory_bytes", "cuda", "python", "platform", "git_commit")


def environment_table(records: Iterable[dict[str, Any]]) -> pd.DataFrame:
    """One row per distinct environment the records were measured in, with library versions and a count."""
    rows: dict[tuple, dict[str, Any]] = {}
    for r in records:
        env = r.get("env") or {}
        row = {k: env.get(k) for k in _ENV_FIELDS}
        for lib, version in sorted((env.get("versions") or {}).items()):
            row[f"version.{lib}"] = version if version is not None else "not installed"
        row["devices"] = r.get("device")
        key = tuple(sorted((k, str(v)) for k, v in row.items() if k != "devices"))
        if key in rows:
            rows[key]["records"] += 1
            if str(r.get("device")) not in rows[key]["devices"].split(","):
                rows[key]["devices"] += f",{r.get('device')}"
        else:
            rows[key] = {**row, "devices": str(r.get("device")), "records": 1}
    return pd.DataFrame(list(rows.values()))
