"""The report's GPU section: each framework's speedup and memory ratio against `sparse` beside the paper's GPU
figures (harness.report.paper: the GPU speedup figure, dataset x model x baseline, and the secondary review's
peak GPU memory of SpTransX and TorchKGE), with the CUDA-event step times.

Rows are the CUDA groups of the records; `sptx report --paper-gpu` sets every group beside the GPU figures
whatever its device (benchmarks/gpu.sh's CPU dry run: its rows say they are not comparable)."""

from __future__ import annotations

from typing import Any

import pandas as pd

from harness.report import paper
from harness.report.output import markdown_table

__all__ = ["GPU_CSV", "gpu_vs_paper", "gpu_section"]

GPU_CSV = "gpu_vs_paper.csv"


def _number(value: Any) -> float | None:
    try:
        out = float(value)
    except (TypeError, ValueError):
        return None
    return out if out == out else None


def _paper_memory_ratio(model: str, framework: str) -> float | None:
    """TorchKGE's peak GPU memory / SpTransX's (the secondary review has TorchKGE only)."""
    if framework != "torchkge" or model not in paper.PEAK_GPU_MEMORY_GB:
        return None
    ours, theirs = paper.PEAK_GPU_MEMORY_GB[model]
    return theirs / ours


def gpu_vs_paper(frame: pd.DataFrame, every_device: bool = False) -> pd.DataFrame:
    """One row per framework label of each CUDA comparison group (every group with `every_device`), but the
    reference: ours (paired wall-clock speedup, CUDA-event speedup, peak memory and its ratio to the reference's)
    beside the paper's GPU speedup for that dataset, model and baseline and its memory ratio."""
    if frame.empty:
        return pd.DataFrame()
    rows = frame if every_device else frame[frame["device"].map(paper.device_kind) == "cuda"]
    out = []
    for group, g in rows.groupby("group_key", sort=False):
        reference = g[g["label"] == g["reference_label"]]
        ref = reference.iloc[0] if not reference.empty else None
        ref_cuda = _number(ref["cuda_event_step_ms"]) if ref is not None else None
        ref_peak = _number(ref["peak_memory_bytes"]) if ref is not None else None
        for _, r in g.iterrows():
            if ref is not None and r["label"] == ref["label"]:
                continue
            name, synthetic = paper.base_dataset(str(r["dataset"]))
            key = (name, r["model"], r["framework"])
            paper_speedup = paper.GPU_FIGURE.get(key)
            paper_text = ("OOM" if key in paper.GPU_FIGURE and paper_speedup is None
                          else ("" if paper_speedup is None else f"{paper_speedup:.2f}x"))
            ours = _number(r["speedup_of_sparse"])
            cuda = _number(r["cuda_event_step_ms"])
            peak = _number(r["peak_memory_bytes"])
            notes = []
            if r["status"] != "ok":
                notes.append(f"{r['status']}: {r['message']}" if r["message"] else str(r["status"]))
            elif ref is None:
                notes.append(f"no ok reference record in this group (sparse: {r.get('sparse_status')})")
            if paper.device_kind(str(r["device"])) != "cuda":
                notes.append(f"measured on {r['device']} (a dry run): not comparable with the paper's GPU figures")
            if name not in paper.PAPER_DATASETS:
                notes.append("a graph the paper did not measure")
            elif synthetic:
                notes.append("synthetic stand-in: the paper's figure is for the real dataset")
            if name in paper.PAPER_DATASETS and key not in paper.GPU_FIGURE:
                notes.append("the paper has no GPU figure for this baseline")
            out.append({
                "device": r["device"], "dataset": r["dataset"], "model": r["model"], "settings": _settings(r),
                "framework": r["label"], "reference": None if ref is None else ref["label"], "status": r["status"],
                "step_ms": _number(r["step_ms"]), "cuda_event_step_ms": cuda,
                "reference_cuda_event_step_ms": ref_cuda,
                "speedup": ours,
                "cuda_event_speedup": cuda / ref_cuda if cuda and ref_cuda else None,
                "paper_gpu_speedup": paper_speedup, "paper_gpu_speedup_text": paper_text,
                "speedup_over_paper": ours / paper_speedup if ours and paper_speedup else None,
                "peak_memory_mib": None if peak is None else peak / 2**20,
                "reference_peak_memory_mib": None if ref_peak is None else ref_peak / 2**20,
                "memory_kind": r["memory_kind"],
                "memory_ratio": peak / ref_peak if peak and ref_peak else None,
                "paper_memory_ratio": _paper_memory_ratio(r["model"], r["framework"]),
                "note": "; ".join(notes),
            })
    return pd.DataFrame(out)


def _settings(row: Any) -> str:
    from harness.report.tables import settings_label

    return settings_label(row)


def _x(value: Any) -> str:
    value = _number(value)
    return "" if value is None else f"{value:.2f}x"


def gpu_section(table: pd.DataFrame) -> str:
    """The README section of gpu_vs_paper's table."""
    lines = [
        "Speedup = the framework's step time / the reference's (`sparse` with its default backend, `fused`, which on a "
        "CUDA device runs the Triton kernels of sparse_impl/backends/triton), the paired wall-clock ratio with "
        "synchronised timers; `CUDA events` is the ratio of the median CUDA-event step times (the same steps, "
        "without the phase instrumentation). Memory ratio = the framework's peak memory over one step / the "
        "reference's (`torch.cuda.max_memory_allocated` on CUDA). Beside them the paper's GPU figure "
        f"({paper.PAPER_HARDWARE['cuda']}, {paper.PAPER_HARDWARE['software']}) for the same dataset, model and "
        "baseline, and the paper's memory ratio (TorchKGE / SpTransX peak GPU memory, from the secondary review, "
        "unverified; TorchKGE only). Above 1: `sparse` is faster, or uses less memory.",
        "",
    ]
    if table.empty:
        return "\n".join(lines + ["No records to set beside the paper's GPU figures."])
    show = table.assign(
        ours=table["speedup"].map(_x), cuda=table["cuda_event_speedup"].map(_x),
        paper_text=table["paper_gpu_speedup_text"], mem=table["memory_ratio"].map(_x),
        paper_mem=table["paper_memory_ratio"].map(_x),
        peak=table["peak_memory_mib"].map(lambda v: "" if _number(v) is None else f"{v:,.0f}"),
        ref_peak=table["reference_peak_memory_mib"].map(lambda v: "" if _number(v) is None else f"{v:,.0f}"))
    lines.append(markdown_table(show, {
        "device": "device", "dataset": "dataset", "model": "model", "settings": "our settings",
        "framework": "baseline", "status": "status", "ours": "speedup", "cuda": "CUDA events",
        "paper_text": "paper (GPU)", "peak": "peak MiB", "ref_peak": "sparse peak MiB", "mem": "memory ratio",
        "paper_mem": "paper memory ratio", "note": "note",
    }))
    return "\n".join(lines)
