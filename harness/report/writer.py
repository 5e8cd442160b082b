"""Build a report folder from records: README.md (the report), PNG charts and CSV tables.

Every file is written to a temporary name and moved into place with os.replace, and README.md is
written last, so an interrupted run never leaves a half-written file or a README linking a missing one.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
from pathlib import Path
from typing import Any, Iterable

import pandas as pd

from harness.records.schema import RecordType, by_record_type
from harness.report import paper
from harness.report.charts import write_charts
from harness.report.distributed import distributed_files
from harness.report.gpu import GPU_CSV, gpu_section, gpu_vs_paper
from harness.report.output import markdown_table, write_csv, write_text_atomic
from harness.report.quality import write_quality_section
from harness.report.tables import (
    DEFAULT_REFERENCE, environment_table, failures_table, flops_table, latest_records, memory_table, paper_vs_measured,
    records_to_frame, settings_label, sort_frame, speedup_table, time_split_table,
)

__all__ = ["write_report"]

CSV_FILES: dict[str, str] = {
    "records.csv": "one row per comparison group and framework over all rounds: settings, status, pooled medians per phase (wall and CPU), memory, FLOPs, paired-ratio speedups with CIs",
    "speedup.csv": "step time, speedup of sparse over each framework and the paper's figure where it has one",
    "time_split.csv": "median ms per phase (prepare / forward / backward / optimizer / step) per framework",
    "memory.csv": "peak memory per framework (bytes, MiB, what was measured) and the ratio framework / sparse",
    "flops.csv": "FLOPs per step: the model's analytic count and what each framework executed (one rule for all)",
    "paper_vs_measured.csv": "every speedup the paper reports beside ours (blank with the reason when we have none)",
    "failures.csv": "every cell that did not run ok, with its status and message",
    "environment.csv": "the machines and software the records were measured on",
}


def _ratio_text(row: Any) -> str:
    if row["status"] != "ok":
        return str(row["status"]).upper() if row["status"] == "oom" else str(row["status"])
    value = row["speedup_of_sparse"]
    if value is None or value != value:
        return f"(sparse {row['sparse_status']})"
    if row["label"] == row.get("reference_label"):
        return "1.00x (ref)"
    low, high = row.get("speedup_ci_low"), row.get("speedup_ci_high")
    text = f"{value:.2f}x"
    if low is not None and low == low and row.get("speedup_rounds", 0) > 1:
        text += f" [{low:.2f}-{high:.2f}]"
    return text + (" noisy" if row.get("speedup_noisy") else "")


def _summary(frame: pd.DataFrame) -> str:
    """Per device: one row per model and dataset, one column per framework: speedup of sparse or status."""
    parts = []
    for device in dict.fromkeys(frame["device"]):
        d = frame[frame["device"] == device]
        labels = list(dict.fromkeys(d["label"]))
        rows = []
        for _, g in d.groupby("group_key", sort=False):
            first = g.iloc[0]
            row = {"model": first["model"], "dataset": first["dataset"], "settings": settings_label(first)}
            for label in labels:
                match = g[g["label"] == label]
                row[label] = "" if match.empty else _ratio_text(match.iloc[-1])
            rows.append(row)
        table = pd.DataFrame(rows)
        parts.append(f"**{device}** — speedup of sparse (baseline step time / sparse step time, the median of "
                     f"paired per-round ratios with its bootstrap 95% CI in brackets; `noisy` = CI wider than "
                     f"+-10% or fewer than 3 rounds; a status where the cell did not run ok):\n\n"
                     + markdown_table(table, {c: c for c in table.columns}))
    return "\n\n".join(parts)


def _paper_section(pvm: pd.DataFrame) -> str:
    measured = pvm[pvm["measured_speedup"].notna()]
    text = [
        "For every speedup the paper reports (baseline time / SpTransX time), ours on the same device kind, "
        "model and baseline, on the same dataset or its synthetic stand-in (`synthetic` = yes: **not** the real "
        "dataset). The paper measured "
        f"CPU on {paper.PAPER_HARDWARE['cpu']} and GPU on {paper.PAPER_HARDWARE['cuda']} ({paper.PAPER_HARDWARE['software']}), "
        "with its own sizes; the CPU figures are only in the FB15k artifact table. "
        f"{len(measured)} of {len(pvm)} rows have a measured speedup; the rest say why not.",
        "",
    ]
    show = pvm.assign(source=pvm["paper_source"].map(lambda s: "artifact" if s.startswith("artifact") else "GPU fig."),
                      paper=[("OOM" if st == "oom" else f"{v:.2f}x") for v, st in zip(pvm["paper_speedup"], pvm["paper_status"])],
                      ours=[(f"{v:.2f}x" if v == v and v is not None else "") for v in pvm["measured_speedup"]],
                      synth=pvm["synthetic"].map(lambda v: "" if v is None or v != v else ("yes" if v else "no")))
    text.append(markdown_table(show, {
        "device": "device", "dataset": "dataset", "model": "model", "baseline": "baseline", "source": "source",
        "paper": "paper", "measured_dataset": "our dataset", "synth": "synthetic", "settings": "our settings",
        "status": "status", "ours": "ours", "measured_over_paper": "ours / paper", "note": "note",
    }, {"measured_over_paper": ".2f"}))
    text += [
        "",
        "Headline claims of the paper: " + " ".join(paper.HEADLINES),
        "Best speedup per model (CPU / GPU, secondary summary): "
        + ", ".join(f"{m} {c} / {g}" for m, (c, g) in paper.BEST_SPEEDUP_BY_MODEL.items()) + ".",
        "Secondary review (unverified): peak GPU memory SpTransX vs TorchKGE (GB): "
        + ", ".join(f"{m} {a} vs {b}" for m, (a, b) in paper.PEAK_GPU_MEMORY_GB.items())
        + "; FLOPs (x10^10): " + ", ".join(f"{m} {a} vs {b}" for m, (a, b) in paper.FLOPS_E10.items()) + ".",
    ]
    return "\n".join(text)


def _environment_section(env: pd.DataFrame) -> str:
    if env.empty:
        return "No environment recorded."
    if len(env) == 1:
        row = env.iloc[0]
        table = pd.DataFrame({"field": env.columns, "value": [row[c] for c in env.columns]})
        return markdown_table(table, {"field": "field", "value": "value"})
    return ("The records come from several environments (compare across them with care):\n\n"
            + markdown_table(env, {c: c for c in env.columns}))


def _caveats(frame: pd.DataFrame, superseded: int) -> str:
    items = []
    synthetic = sorted({d for d, k in zip(frame["dataset"], frame["dataset_kind"])
                        if k == "synthetic" or str(d).startswith("synthetic:")})
    if synthetic:
        items.append("Synthetic datasets: " + ", ".join(f"`{d}`" for d in synthetic) + " are shape-matched "
                     "synthetic stand-ins (same entity, relation and triple counts), measured because the real "
                     "files were not available; where the paper's value is drawn beside them, it is for the real "
                     "dataset.")
    modified = sorted({d for d, k in zip(frame["dataset"], frame["dataset_kind"]) if k == "modified"})
    if modified:
        items.append("**Modified datasets**: " + ", ".join(f"`{d}`" for d in modified) + " carry a registry "
                     "name but their files do not have the published counts; they are not the paper's data.")
    ext = frame[frame["epoch_time_extrapolated"] == True]  # noqa: E712 (object column)
    if not ext.empty:
        items.append(f"Epoch times of {len(ext)} of {len(frame)} cells are extrapolated (median step time x "
                     "batches per epoch), not measured over a whole epoch.")
    if (frame["memory_kind"] == "cpu_live_tensors").any():
        items.append("CPU peak memory is the peak of live tensors during one step; memory.csv also has the "
                     "RSS growth of the first step (rss_growth_first_step_bytes).")
    items.append("FLOPs: `flops_model` is the model's analytic count (equal for every framework); "
                 "`flops_executed` is what each framework executed under one rule for all (harness/measure/flops.py).")
    noisy = frame[frame["noisy_reasons"].fillna("") != ""] if "noisy_reasons" in frame else frame.iloc[0:0]
    if not noisy.empty:
        items.append(f"{len(noisy)} row(s) were measured while the machine was disturbed: "
                     + "; ".join(f"{r['label']} {r['model']} {r['dataset']}: {r['noisy_reasons']}"
                                 for _, r in noisy.head(10).iterrows()))
    modes = sorted(set(frame["mode"].dropna()))
    if "native" in modes:
        items.append("Some cells ran in `native` mode (each framework's own step), so they do not all do "
                     "identical work.")
    items.append("The paper's timings extrapolate one fixed batch, keep anomaly detection on and do not "
                 "synchronise CUDA; ours time real batches with synchronised timers, so ratios can differ.")
    if superseded:
        items.append(f"{superseded} older record(s) of re-run cells were superseded by the newest one.")
    text = "\n".join(f"- {i}" for i in items)
    failures = failures_table(frame)
    if failures.empty:
        text += "\n\nEvery cell ran ok."
    else:
        text += (f"\n\n{len(failures)} cell(s) did not run ok; they are shown as such in every chart and table:\n\n"
                 + markdown_table(failures, {"device": "device", "dataset": "dataset", "model": "model",
                                             "label": "framework", "status": "status", "message": "message"}))
    return text


def write_report(records: Iterable[dict[str, Any]], out_dir: str | os.PathLike[str], *, title: str | None = None,
                 sources: Iterable[str | os.PathLike[str]] = (), reference: str = DEFAULT_REFERENCE,
                 paper_gpu: bool = False, sections: Iterable[str] = ()) -> list[Path]:
    """Write the report folder (charts, CSV tables, then README.md); return the paths written. Training
    records (`sptx train`) make the quality section, distributed runs the scaling section; step
    measurements make everything else; `record_type` tells them apart (records as read: migrated).
    CUDA records also make the GPU section (harness.report.gpu); `paper_gpu` sets every group beside the paper's
    GPU figures, whatever its device. `sections`: markdown texts added to README.md before its tables."""
    all_records = list(records)
    kinds = by_record_type(all_records)
    records, training = kinds[RecordType.MEASUREMENT], kinds[RecordType.TRAINING]
    distributed = kinds[RecordType.DISTRIBUTED]
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    sources = [str(s) for s in sources]
    title = title or f"sptx report: {', '.join(Path(s).name for s in sources) or 'results'}"
    distributed_text, distributed_written = distributed_files(distributed, out)
    quality = write_quality_section(training, out, reference) if training else None
    if not records:
        sections = [text for text in (quality.markdown if quality else "", distributed_text) if text]
        if not sections:
            raise ValueError("write_report needs records")
        return _write_sections_only(out, title, sources, len(all_records), sections,
                                    [*(quality.paths if quality else []), *distributed_written])
    latest = latest_records(records)
    frame = sort_frame(records_to_frame(latest, reference))
    written: list[Path] = []

    charts = write_charts(frame, out)
    written += [c.path for c in charts]

    pvm = paper_vs_measured(frame)
    env = environment_table(latest)
    tables = {
        "records.csv": frame, "speedup.csv": speedup_table(frame), "time_split.csv": time_split_table(frame),
        "memory.csv": memory_table(frame), "flops.csv": flops_table(frame), "paper_vs_measured.csv": pvm,
        "failures.csv": failures_table(frame), "environment.csv": env,
    }
    gpu = gpu_vs_paper(frame, every_device=paper_gpu)
    csv_files = dict(CSV_FILES)
    if not gpu.empty:
        tables[GPU_CSV] = gpu
        csv_files[GPU_CSV] = ("each framework's speedup (wall clock and CUDA events) and peak-memory ratio against "
                              "sparse, beside the paper's GPU speedup and memory ratio")
    for name, table in tables.items():
        written.append(write_csv(table, out / name))

    written += distributed_written
    counts = frame["status"].value_counts()
    lines = [
        f"# {title}",
        "",
        f"Generated {_dt.datetime.now(_dt.timezone.utc).isoformat(timespec='seconds')} from "
        + (", ".join(f"`{s}`" for s in sources) or "records") + f": {len(records)} record(s), {len(frame)} cell(s) "
        + "(" + ", ".join(f"{n} {s}" for s, n in counts.items()) + "), devices "
        + ", ".join(f"`{d}`" for d in dict.fromkeys(frame["device"])) + ", models "
        + ", ".join(dict.fromkeys(frame["model"])) + ".",
        "",
        f"Speedup = the framework's step time / the reference's (`{reference}`; a framework name means its default "
        "options), as the median "
        "of paired per-round ratios, within one comparison group (every run setting equal: model, "
        "dissimilarity, dataset and its content hash, device, sizes, sampler, seed, steps, threads, allocator, "
        "mode). Above 1: `sparse` is faster.",
        "",
        "## Summary",
        "",
        _summary(frame),
        "",
        "## Charts",
        "",
    ]
    for chart in charts:
        lines += [f"### {chart.title}", "", chart.caption, "", f"![{chart.title}]({chart.path.name})", ""]
    if quality is not None:
        written += quality.paths
        lines += [quality.markdown, ""]
    lines += ["## Paper vs measured", "", _paper_section(pvm), ""]
    if not gpu.empty:
        lines += ["## GPU: speedups and memory beside the paper's GPU figures", "", gpu_section(gpu), ""]
    if distributed_text:
        lines += [distributed_text, ""]
    for text in sections:
        lines += [text.rstrip(), ""]
    lines += ["## Tables (CSV)", ""]
    lines += [f"- [{name}]({name}): {what}" for name, what in csv_files.items()]
    lines += ["", "## Environment", "", _environment_section(env), "", "## Caveats", "", _caveats(frame, len(records) - len(latest)), ""]
    written.append(write_text_atomic(out / "README.md", "\n".join(lines)))
    _remove_stale(out, written)
    return written


MANIFEST = ".sptx-report-files"


def _write_sections_only(out: Path, title: str, sources: list[str], n_records: int, sections: list[str],
                         written: list[Path]) -> list[Path]:
    """The report of results without step measurements (only training or distributed runs): their sections."""
    lines = [f"# {title}", "",
             f"Generated {_dt.datetime.now(_dt.timezone.utc).isoformat(timespec='seconds')} from "
             + (", ".join(f"`{s}`" for s in sources) or "records")
             + f": {n_records} record(s), training or distributed runs only.", "", *sections]
    written = [*written, write_text_atomic(out / "README.md", "\n".join(lines))]
    _remove_stale(out, written)
    return written


def _remove_stale(out: Path, written: list[Path]) -> None:
    """Delete the files an earlier report wrote here that this one did not (e.g. the chart of a model no
    longer in the records), then list this report's files; files sptx never wrote are left alone."""
    manifest = out / MANIFEST
    names = sorted({p.name for p in written})
    try:
        previous = json.loads(manifest.read_text(encoding="utf-8")) if manifest.exists() else []
    except (OSError, ValueError):
        previous = []
    for name in previous if isinstance(previous, list) else []:
        stale = out / str(name)
        if str(name) not in names and stale.parent == out and stale.is_file():
            stale.unlink()
    write_text_atomic(manifest, json.dumps(names, indent=1) + "\n")
