"""Tables derived from records with pandas: per-framework phase times, speedups, memory and FLOPs."""

from __future__ import annotations

import json
import math
from collections import defaultdict
from dataclasses import dataclass
from typing import Any, Collection, Iterable

import pandas as pd

from baselines import FRAMEWORKS
from harness.measure.timing import ratio_stats, summarize
from harness.models import MODELS
from harness.records.schema import batch_clamp_note
from harness.settings import GROUP_FIELDS, RunSettings, setting_specs

__all__ = [
    "GROUP_KEYS", "framework_order", "DEFAULT_REFERENCE", "framework_label", "latest_records", "records_to_frame",
    "comparison_table", "settings_label", "speedup_table", "time_split_table", "memory_table", "flops_table",
    "paper_vs_measured", "failures_table", "environment_table", "paired_ratios", "reference_labels", "round_ratios",
    "undisturbed",
]

# A comparison group is every framework measured under one RunSettings: all of its fields, derived
# from the one declaration (harness.settings), so L1 and L2sq, two seeds or two thread counts never mix.
GROUP_KEYS: tuple[str, ...] = GROUP_FIELDS
# A record written before a setting existed ran it at its default (e.g. `loss`: margin).
_SETTING_DEFAULTS: dict[str, Any] = {name: default for name, _, default in setting_specs()}
PHASE_COLUMNS: tuple[str, ...] = ("prepare", "forward", "backward", "optimizer", "step")
# Speedups are "framework step time / reference step time": `sparse` with its default options.
DEFAULT_REFERENCE = "sparse"


def framework_label(framework: str, backend: str | None) -> str:
    """`sparse[torch]` for our model on a backend, the framework's name otherwise (version-1 records)."""
    return f"{framework}[{backend}]" if framework == "sparse" and backend else framework


def _step_median(record: dict[str, Any]) -> float | None:
    value = ((record.get("time_ms") or {}).get("step") or {}).get("median")
    return float(value) if isinstance(value, (int, float)) and math.isfinite(value) and value > 0 else None


def preferred_reference(labels: Collection[str], reference: str = DEFAULT_REFERENCE) -> str | None:
    """`reference` itself when it is one of `labels`, else that framework with its default options when
    that is one of them, else None (the caller chooses among the framework's other variants)."""
    if reference in labels:
        return reference
    default = FRAMEWORKS[reference].label({}) if reference in FRAMEWORKS else None
    return default if default in labels else None


def reference_labels(records: Iterable[dict[str, Any]], reference: str = DEFAULT_REFERENCE) -> dict[str, str]:
    """The reference label of each comparison group: `reference` itself when it is a label there; else,
    when it names a framework, that framework with its default options, else its fastest ok variant."""
    ok: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    framework_of: dict[str, str] = {}
    for r in records:
        step = _step_median(r)
        if r.get("status") == "ok" and step is not None:
            ok[r["group_key"]][r["label"]].append(step)
            framework_of[r["label"]] = r.get("framework", "")
    out = {}
    for group, labels in ok.items():
        preferred = preferred_reference(labels, reference)
        if preferred is not None:
            out[group] = preferred
        else:
            variants = [lbl for lbl in labels if framework_of[lbl] == reference]
            if variants:
                out[group] = min(variants, key=lambda lbl: sorted(labels[lbl])[len(labels[lbl]) // 2])
    return out


@dataclass(frozen=True)
class PairedRatios:
    """Per-round ratios of one framework against the reference, and how many disturbed rounds were left out."""

    ratios: list[float]
    excluded_disturbed: int
    all_disturbed: bool


def undisturbed(pairs: list[tuple[dict[str, Any], dict[str, Any]]]) -> PairedRatios:
    """Ratios first / second of record pairs measured side by side, without the pairs in which either side was
    disturbed when at least one undisturbed pair remains (else all, marked `all_disturbed`): the rule of
    paired_ratios, for pairs formed elsewhere (e.g. one framework on two graphs, `sptx scale`)."""
    ratios = [(_step_median(a) / _step_median(b), bool(a.get("disturbed") or b.get("disturbed"))) for a, b in pairs
              if _step_median(a) is not None and _step_median(b)]
    clean = [ratio for ratio, disturbed in ratios if not disturbed]
    if clean:
        return PairedRatios(clean, len(ratios) - len(clean), False)
    return PairedRatios([ratio for ratio, _ in ratios], 0, bool(ratios))


def paired_ratios(records: Iterable[dict[str, Any]], refs: dict[str, str]) -> dict[tuple[str, str], PairedRatios]:
    """round_ratios without the rounds in which either side was disturbed (other processes or CPU steal),
    when at least one undisturbed round remains; otherwise all rounds (every one had a disturbed side),
    marked `all_disturbed`. `refs` is reference_labels of all the records."""
    records = list(records)
    clean = round_ratios([r for r in records if not r.get("disturbed")], refs)
    out = {}
    for key, ratios in round_ratios(records, refs).items():
        kept = clean.get(key, [])
        out[key] = PairedRatios(kept, len(ratios) - len(kept), False) if kept else PairedRatios(ratios, 0, True)
    return out


def round_ratios(records: Iterable[dict[str, Any]], refs: dict[str, str]) -> dict[tuple[str, str], list[float]]:
    """Paired ratios (framework step / reference step), one per round in which both ran ok, keyed by
    (group_key, label); `refs` maps each group to its reference label (reference_labels). Rounds pair by
    (code version, round): the processes measured side by side, since the newest record of each cell
    (latest_records) is unique per round and code version. Version-1 records have one round per run,
    so they pair by run_id."""

    def pair(r: dict[str, Any]) -> tuple[str, str, str, int]:
        run = r.get("run_id", "") if r.get("migrated_from") == 1 else ""
        return (r["group_key"], str(r.get("code_version", "")), run, int(r.get("round", 0)))

    ref_steps: dict[tuple[str, str, str, int], float] = {}
    for r in records:
        step = _step_median(r)
        if r.get("status") == "ok" and step is not None and refs.get(r["group_key"]) == r["label"]:
            ref_steps[pair(r)] = step
    ratios: dict[tuple[str, str], list[float]] = defaultdict(list)
    for r in records:
        step = _step_median(r)
        ref = ref_steps.get(pair(r))
        if r.get("status") == "ok" and step is not None and ref is not None:
            ratios[(r["group_key"], r["label"])].append(step / ref)
    return dict(ratios)


def _pooled(records: list[dict[str, Any]], kind: str, phase: str) -> list[float]:
    """Every raw sample of one phase over the given records (all rounds)."""
    out: list[float] = []
    for r in records:
        out.extend(((r.get("samples") or {}).get(kind) or {}).get(phase) or [])
    return out


def _first(records: list[dict[str, Any]], name: str) -> Any:
    """The first non-missing value of a field among records (round 0's FLOPs and memory, say)."""
    for r in sorted(records, key=lambda r: int(r.get("round", 0))):
        value = r.get(name)
        if value is not None and value != {} and value != []:
            return value
    return None


def _summary_row(records: list[dict[str, Any]]) -> dict[str, Any]:
    """One row for one framework label in one comparison group, over all its rounds."""
    import numpy as np

    ok = [r for r in records if r.get("status") == "ok"]
    newest = records[-1]
    base = ok[-1] if ok else newest
    settings = base.get("settings") or {}
    row: dict[str, Any] = {k: settings.get(k, _SETTING_DEFAULTS.get(k)) for k in GROUP_KEYS}
    options = base.get("options") or {}
    statuses = sorted({str(r.get("status")) for r in records})
    row.update(group_key=base["group_key"], framework=base.get("framework", ""), backend=options.get("backend"),
               options=json.dumps(options, sort_keys=True), label=base.get("label") or base.get("framework", ""),
               dataset_kind=base.get("dataset_kind"), status="ok" if ok else str(newest.get("status")),
               statuses=",".join(statuses), rounds_ok=len(ok), rounds=len(records),
               message="; ".join(dict.fromkeys(str(r.get("message")) for r in records if r.get("message"))),
               noisy_reasons="; ".join(dict.fromkeys(x for r in ok for x in (r.get("noisy_reasons") or []))),
               code_version=base.get("code_version"), run_ids=",".join(dict.fromkeys(str(r.get("run_id")) for r in records)))
    for name in ("peak_memory_bytes", "memory_kind", "flops_model", "flops_executed", "flops_optimizer",
                 "flops_profiler_dense", "rss_growth_first_step_bytes", "epoch_time_extrapolated",
                 "batches_per_epoch", "min_bytes_per_step", "bandwidth_bytes_per_s"):
        row[name] = _first(ok, name)
    row["batch_clamped_from"] = _first(records, "batch_clamped_from")  # the grid's batch, when clamped to the split
    row["steps_measured"] = sum(int(r.get("steps_measured") or 0) for r in ok)
    pooled_wall = {phase: _pooled(ok, "wall_ms", phase) for phase in PHASE_COLUMNS}
    for phase in PHASE_COLUMNS:
        wall = pooled_wall[phase]
        if not wall:  # version-1 records: no raw samples, use each record's median
            wall = [v for v in (((r.get("time_ms") or {}).get(phase) or {}).get("median") for r in ok) if v is not None]
        cpu = [u + s for u, s in zip(_pooled(ok, "user_ms", phase), _pooled(ok, "system_ms", phase))]
        row[f"{phase}_ms"] = float(np.median(wall)) if wall else None
        row[f"{phase}_cpu_ms"] = float(np.median(cpu)) if cpu else None
    stats = summarize(pooled_wall["step"])
    if stats is None and ok:
        stats = summarize([v for v in (_step_median(r) for r in ok) if v is not None])
    row["step_ci_low_ms"], row["step_ci_high_ms"] = (stats.ci_low, stats.ci_high) if stats else (None, None)
    row["step_iqr_ms"] = stats.iqr if stats else None
    floor_s = (row["min_bytes_per_step"] / row["bandwidth_bytes_per_s"]
               if row["min_bytes_per_step"] and row["bandwidth_bytes_per_s"] else None)
    row["roofline_floor_ms"] = floor_s * 1e3 if floor_s else None
    row["over_roofline"] = row["step_ms"] / row["roofline_floor_ms"] if row["roofline_floor_ms"] and row["step_ms"] else None
    epochs = [r.get("epoch_time_s") for r in ok if r.get("epoch_time_s") is not None]
    row["epoch_time_s"] = float(np.median(epochs)) if epochs else None
    cuda = [v for v in ((r.get("cuda_event_step_ms") or {}).get("median") for r in ok) if v is not None]
    row["cuda_event_step_ms"] = float(np.median(cuda)) if cuda else None  # CUDA devices: event-timed steps
    return row


def records_to_frame(records: Iterable[dict[str, Any]], reference: str = DEFAULT_REFERENCE) -> pd.DataFrame:
    """One row per (comparison group, framework label), over all rounds: pooled medians per phase (wall
    and CPU), memory and FLOPs, and the speedup of the reference over it as the median of paired
    per-round ratios with a bootstrap 95% CI (`speedup_noisy` when wider than +-10% or < 3 rounds)."""
    records = [r for r in records if r.get("group_key")]
    by_label: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for r in records:
        by_label[(r["group_key"], r.get("label") or r.get("framework", ""))].append(r)
    rows = [_summary_row(rs) for rs in by_label.values()]
    frame = pd.DataFrame(rows)
    if frame.empty:
        return frame
    refs = reference_labels(records, reference)
    paired = paired_ratios(records, refs)
    empty = PairedRatios([], 0, False)
    pairs = [paired.get((g, lbl), empty) for g, lbl in zip(frame["group_key"], frame["label"])]
    speed = [ratio_stats(p.ratios) for p in pairs]
    frame["speedup_rounds_excluded"] = [p.excluded_disturbed for p in pairs]
    nan = float("nan")
    frame["speedup_of_sparse"] = [x.median if x else nan for x in speed]
    frame["speedup_ci_low"] = [x.ci_low if x else nan for x in speed]
    frame["speedup_ci_high"] = [x.ci_high if x else nan for x in speed]
    frame["speedup_rounds"] = [x.rounds if x else 0 for x in speed]
    frame["speedup_noisy"] = [bool(x.noisy or p.all_disturbed) if x else None for x, p in zip(speed, pairs)]
    frame["reference_label"] = frame["group_key"].map(refs)
    ref_rows = frame[frame["label"] == frame["reference_label"]].set_index("group_key")
    frame["sparse_step_ms"] = frame["group_key"].map(ref_rows["step_ms"]) if not ref_rows.empty else None
    status_of = {}
    for _, row in frame.iterrows():
        if row["framework"] == reference or row["label"] == reference:
            status_of.setdefault(row["group_key"], set()).add(str(row["status"]))
    frame["sparse_status"] = [",".join(sorted(status_of.get(g, {"missing"}))) for g in frame["group_key"]]
    mem = frame["group_key"].map(ref_rows["peak_memory_bytes"]) if not ref_rows.empty else None
    frame["memory_ratio_vs_sparse"] = (pd.to_numeric(frame["peak_memory_bytes"]) / pd.to_numeric(mem)
                                       if mem is not None else float("nan"))
    return frame


def comparison_table(records: Iterable[dict[str, Any]], reference: str = DEFAULT_REFERENCE) -> pd.DataFrame:
    """The table `sptx compare` prints: one row per framework, fastest first, failures last."""
    frame = records_to_frame(records, reference)
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
        key = r.get("cell_key") or (r.get("group_key"), r.get("label"), r.get("run_id"), r.get("round"))
        latest[key] = r
    return list(latest.values())


def framework_order() -> tuple[str, ...]:
    """The order frameworks appear in in tables and charts: the registry's (baselines.FRAMEWORKS), so a newly
    registered framework takes its place there; frameworks no longer registered follow, by name."""
    return tuple(FRAMEWORKS)


def _framework_rank(framework: str) -> int:
    order = framework_order()
    return order.index(framework) if framework in order else len(order)


def _model_rank(model: str) -> int:
    """Models in registry order (harness.models), unknown ones last."""
    order = tuple(MODELS)
    return order.index(model) if model in order else len(order)


def _dataset_rank(dataset: str) -> tuple[int, int]:
    """The paper's dataset order; a real dataset before its synthetic stand-in; others after."""
    from harness.report.paper import PAPER_DATASETS, base_dataset

    name, synthetic = base_dataset(str(dataset))
    return (PAPER_DATASETS.index(name) if name in PAPER_DATASETS else len(PAPER_DATASETS), int(synthetic))


def sort_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """Device, model (paper order), dataset (paper order), settings, then frameworks in framework_order()."""
    if frame.empty:
        return frame
    frame = frame.assign(_rank=frame["framework"].map(_framework_rank), _mrank=frame["model"].map(_model_rank),
                         _drank=frame["dataset"].map(_dataset_rank))
    keys = ["device", "_mrank", "model", "_drank", "dataset", "dissimilarity", "dim", "batch_size", "num_negatives",
            "mode", "threads", "allocator", "seed", "group_key", "_rank", "label"]
    return frame.sort_values(keys, kind="stable").drop(columns=["_rank", "_mrank", "_drank"]).reset_index(drop=True)


def settings_label(row: Any) -> str:
    """'L2sq d=64 b=8192x(1+1) identical 2thr pinned' for a comparison group (plus seed/sampler when set)."""
    text = f"{row['dissimilarity']} d={row['dim']} b={row['batch_size']}x(1+{row['num_negatives']}) {row['mode']}"
    text += f" {row['threads']}thr {row['allocator']}"
    if row.get("seed"):
        text += f" seed={row['seed']}"
    if row.get("sampler") not in (None, RunSettings.sampler):  # the default sampler goes unsaid
        text += f" {row['sampler']}"
    if not _is_missing(row.get("batch_clamped_from")):
        text += f" (b clamped from {int(row['batch_clamped_from'])})"
    return text


def _is_missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and value != value)


def _why_blank(row: Any) -> str:
    """Why a row has no speedup: its own failure, or no successful `sparse` record in its group."""
    if row["status"] != "ok":
        return f"{row['status']}: {row['message']}" if row["message"] else str(row["status"])
    if _is_missing(row.get("reference_label")):
        return f"no ok sparse record in this group (sparse: {row.get('sparse_status')})"
    return ""


_ID = ["device", "dataset", "dataset_kind", "model", "dissimilarity", "dim", "batch_size", "num_negatives", "mode",
       "threads", "allocator", "seed", "label", "status"]


def speedup_table(frame: pd.DataFrame) -> pd.DataFrame:
    """Step time and speedup of `sparse` over every framework, with the paper's figure where it has one."""
    from harness.report.paper import paper_speedup

    if frame.empty:
        return frame
    frame = sort_frame(frame)
    out = frame[_ID + ["step_ms", "step_ci_low_ms", "step_ci_high_ms", "step_cpu_ms", "sparse_step_ms",
                       "reference_label", "speedup_of_sparse", "speedup_ci_low", "speedup_ci_high", "speedup_rounds",
                       "speedup_rounds_excluded", "speedup_noisy", "noisy_reasons", "epoch_time_s", "epoch_time_extrapolated"]].copy()
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
    out = frame[_ID + [f"{p}_ms" for p in PHASE_COLUMNS] + ["step_iqr_ms", "roofline_floor_ms", "over_roofline"]].copy()
    out["note"] = [_why_blank(r) if r["status"] != "ok" else "" for _, r in frame.iterrows()]
    return out


def memory_table(frame: pd.DataFrame) -> pd.DataFrame:
    """Peak memory (bytes and MiB), what was measured, and the ratio framework / sparse."""
    if frame.empty:
        return frame
    frame = sort_frame(frame)
    out = frame[_ID + ["memory_kind", "peak_memory_bytes", "rss_growth_first_step_bytes",
                       "memory_ratio_vs_sparse"]].copy()
    out.insert(out.columns.get_loc("rss_growth_first_step_bytes"), "peak_memory_mib",
               pd.to_numeric(out["peak_memory_bytes"]) / 2**20)
    out["note"] = [_why_blank(r) for _, r in frame.iterrows()]
    return out


def flops_table(frame: pd.DataFrame) -> pd.DataFrame:
    """FLOPs per step: the model's analytic figure (equal across frameworks) and what each executed,
    counted under one rule for all (see harness.measure.flops); the profiler's dense figure is not here."""
    if frame.empty:
        return frame
    frame = sort_frame(frame)
    out = frame[_ID + ["flops_model", "flops_executed"]].copy()
    model, executed = pd.to_numeric(out["flops_model"]), pd.to_numeric(out["flops_executed"])
    out["model_gflop_per_step"] = model / 1e9
    out["executed_gflop_per_step"] = executed / 1e9
    out["executed_over_model"] = executed / model.where(model > 0)
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
            if not _is_missing(r.get("batch_clamped_from")):
                note = "; ".join(n for n in (batch_clamp_note(int(r["batch_clamped_from"]), int(r["batch_size"])),
                                             note) if n)
            if synthetic:
                note = "; ".join(n for n in ("ours on a synthetic stand-in, not the real dataset", note) if n)
            rows.append({**base, "measured_dataset": r["dataset"], "synthetic": bool(synthetic),
                         "settings": settings_label(r), "status": r["status"], "measured_speedup": ours,
                         "measured_over_paper": (ours / cell.speedup) if ours and cell.speedup else None,
                         "note": note})
    return pd.DataFrame(rows)


_ENV_FIELDS = ("hostname", "cpu", "cores_physical", "cores_logical", "threads", "omp_num_threads",
               "memory_total_bytes", "gpu", "gpu_memory_bytes", "cuda", "python", "platform", "git_commit",
               "transparent_hugepages")


def environment_table(records: Iterable[dict[str, Any]]) -> pd.DataFrame:
    """One row per distinct environment the records were measured in, with library versions and a count."""
    rows: dict[tuple, dict[str, Any]] = {}
    for r in records:
        env = r.get("env") or {}
        row = {k: env.get(k) for k in _ENV_FIELDS}
        for variable, value in sorted((env.get("process_env") or {}).items()):
            row[f"env.{variable}"] = value
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
