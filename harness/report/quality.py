"""The quality section of a report, from `sptx train` records: learning curves (loss and validation
MRR against epoch and against training wall time) per framework, time to the target MRR with the
speedup, and the final test metrics.

Runs are compared within groups of equal run identity and training settings (`group_key`); the newest
record of each (group, framework label) wins.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

import pandas as pd
from matplotlib.figure import Figure

from harness.models import MODELS
from harness.train.record import RECORD_TYPE

__all__ = ["QualitySection", "is_training_record", "quality_frame", "write_quality_section"]

METRIC_COLUMNS: dict[str, str] = {
    "test_mrr": "test MRR", "test_mr": "test MR", "test_hits_at_1": "Hits@1", "test_hits_at_3": "Hits@3",
    "test_hits_at_10": "Hits@10",
}


def is_training_record(record: dict[str, Any]) -> bool:
    return record.get("record_type") == RECORD_TYPE


@dataclass(frozen=True)
class QualitySection:
    """What the quality section wrote: its markdown and its files."""

    markdown: str
    paths: list[Path]


def _latest(records: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    newest: dict[tuple[str, str], dict[str, Any]] = {}
    for r in records:
        newest[(r["group_key"], r["label"])] = r  # records are read oldest first
    return list(newest.values())


def _group_title(r: dict[str, Any]) -> str:
    s, t = r["settings"], r["training"]
    title = MODELS[s["model"]].title if s["model"] in MODELS else s["model"]
    target = "" if t.get("target_mrr") is None else f", to target MRR {t['target_mrr']:g}"
    return (f"{title} ({s['dissimilarity']}) on {s['dataset']}, d={s['dim']}, batch {s['batch_size']} x "
            f"(1 + {s['num_negatives']}), lr {t['lr']:g}, margin {t['margin']:g}, {s['threads']} thread(s){target}")


def quality_frame(records: Iterable[dict[str, Any]], reference: str = "sparse") -> pd.DataFrame:
    """One row per (group, framework): test metrics, times, time to target and the speedup of `reference`
    (the other framework's time to target / the reference's; above 1: the reference got there sooner)."""
    rows = []
    for r in _latest(records):
        test = r.get("test") or {}
        epochs = r.get("epochs") or []
        valid = [e["valid"] for e in epochs if e.get("valid")]
        rows.append({
            "group_key": r["group_key"], "group": _group_title(r), "model": r["settings"]["model"],
            "dataset": r["settings"]["dataset"], "framework": r["framework"], "label": r["label"],
            "status": r["status"], "message": r.get("message", ""), "epochs_run": len(epochs),
            "epochs_planned": r["training"]["epochs"], "train_time_s": r.get("train_time_s"),
            "eval_time_s": r.get("eval_time_s"),
            "epoch_time_s": (r["train_time_s"] / len(epochs)) if epochs else None,
            "final_loss": epochs[-1]["loss"] if epochs else None,
            "valid_mrr": valid[-1]["both_mrr"] if valid else None,
            "target_mrr": r["training"].get("target_mrr"), "time_to_target_s": r.get("time_to_target_s"),
            "target_epoch": r.get("target_epoch"),
            **{key: test.get(key.replace("test_", "both_")) for key in METRIC_COLUMNS},
        })
    frame = pd.DataFrame(rows)
    if frame.empty:
        return frame
    frame["speedup_to_target"] = None
    frame["test_mrr_vs_reference"] = None
    for _, group in frame.groupby("group_key"):
        ref = group[group["framework"] == reference]
        if ref.empty:
            continue
        ref_row = ref.iloc[0]
        for index, row in group.iterrows():
            if row["time_to_target_s"] is not None and ref_row["time_to_target_s"] is not None:
                frame.at[index, "speedup_to_target"] = row["time_to_target_s"] / ref_row["time_to_target_s"]
            if row["test_mrr"] is not None and ref_row["test_mrr"]:
                frame.at[index, "test_mrr_vs_reference"] = ref_row["test_mrr"] / row["test_mrr"] - 1
    return frame.sort_values(["model", "dataset", "group", "framework"], kind="stable").reset_index(drop=True)


def _curves_chart(records: list[dict[str, Any]], path: Path) -> Path:
    """Four panels: loss and validation MRR, each against epoch and against training wall time."""
    from harness.report.charts import _colors, _save

    fig = Figure(figsize=(11, 7.5))
    axes = fig.subplots(2, 2)
    colors = _colors(r["label"] for r in records)
    for r in records:
        epochs = r.get("epochs") or []
        x_epoch = [e["epoch"] for e in epochs]
        x_time = [e["elapsed_train_time_s"] for e in epochs]
        loss = [e["loss"] for e in epochs]
        evaluated = [e for e in epochs if e.get("valid")]
        color = colors[r["label"]]
        axes[0, 0].plot(x_epoch, loss, "o-", color=color, label=r["label"], markersize=2)
        axes[0, 1].plot(x_time, loss, "o-", color=color, label=r["label"], markersize=2)
        axes[1, 0].plot([e["epoch"] for e in evaluated], [e["valid"]["both_mrr"] for e in evaluated], "o-",
                        color=color, label=r["label"], markersize=3)
        axes[1, 1].plot([e["elapsed_train_time_s"] for e in evaluated], [e["valid"]["both_mrr"] for e in evaluated],
                        "o-", color=color, label=r["label"], markersize=3)
    target = records[0]["training"].get("target_mrr")
    for ax in axes[1]:
        if target is not None:
            ax.axhline(target, color="#888888", linestyle="--", linewidth=1, label=f"target {target:g}")
        ax.set_ylabel("validation filtered MRR")
    for ax in axes[0]:
        ax.set_ylabel("loss per positive")
    for ax in axes[:, 0]:
        ax.set_xlabel("epoch")
    for ax in axes[:, 1]:
        ax.set_xlabel("training wall time (s, evaluation excluded)")
    for ax in axes.flat:
        ax.ticklabel_format(axis="y", useOffset=False)
    axes[1, 1].legend(fontsize=8)
    fig.suptitle(_group_title(records[0]), fontsize=10)
    fig.tight_layout()
    return _save(fig, path)


def _fmt(value: Any, fmt: str) -> str:
    if value is None or (isinstance(value, float) and value != value):
        return "-"
    return format(value, fmt)


def write_quality_section(records: Iterable[dict[str, Any]], out: Path, reference: str = "sparse") -> QualitySection:
    """Write the learning-curve charts and quality.csv into `out`; return the section's markdown."""
    from harness.report.charts import _slug
    from harness.report.writer import write_text_atomic

    latest = _latest(records)
    frame = quality_frame(latest, reference)
    paths = [write_text_atomic(out / "quality.csv", frame.to_csv(index=False))]
    lines = ["## Quality: training to a filtered MRR", "",
             "From `sptx train` records. Metrics are filtered link prediction over all entities (known triples of "
             "train/valid/test removed, the evaluated one kept), realistic ranks (mean of optimistic and pessimistic), "
             "head and tail pooled. Times are training wall time with evaluation excluded; time to target is the "
             "training time until the validation MRR first reached the target. Speedup to target = the framework's "
             f"time to target / `{reference}`'s (above 1: `{reference}` got there sooner); MRR vs {reference} = "
             f"`{reference}`'s test MRR / the framework's - 1.", ""]
    for key, group in frame.groupby("group_key", sort=False):
        group_records = [r for r in latest if r["group_key"] == key]
        first = group.iloc[0]
        chart = _curves_chart(group_records, out / f"quality-{_slug(first['model'])}-{_slug(first['dataset'])}-{key[:8]}.png")
        paths.append(chart)
        lines += [f"### {group.iloc[0]['group']}", "", f"![learning curves]({chart.name})", "",
                  "| framework | status | epochs | s/epoch | train s | eval s | target | time to target s (epoch) "
                  "| speedup to target | test MRR | MRR vs ref | MR | Hits@1 | Hits@3 | Hits@10 |",
                  "|" + "---|" * 15]
        for _, row in group.iterrows():
            tt = "-" if row["time_to_target_s"] is None or row["time_to_target_s"] != row["time_to_target_s"] else (
                f"{row['time_to_target_s']:.1f} ({int(row['target_epoch'])})")
            if row["target_mrr"] is not None and row["target_mrr"] == row["target_mrr"] and tt == "-":
                tt = "not reached"
            lines.append(
                f"| {row['label']} | {row['status']} | {row['epochs_run']}/{row['epochs_planned']} | "
                f"{_fmt(row['epoch_time_s'], '.2f')} | {_fmt(row['train_time_s'], '.1f')} | {_fmt(row['eval_time_s'], '.1f')} | "
                f"{_fmt(row['target_mrr'], 'g')} | {tt} | {_fmt(row['speedup_to_target'], '.2f')} | "
                f"{_fmt(row['test_mrr'], '.4f')} | {_fmt(row['test_mrr_vs_reference'], '+.2%')} | {_fmt(row['test_mr'], '.1f')} | "
                f"{_fmt(row['test_hits_at_1'], '.4f')} | {_fmt(row['test_hits_at_3'], '.4f')} | "
                f"{_fmt(row['test_hits_at_10'], '.4f')} |")
        failed = group[group["status"] != "ok"]
        for _, row in failed.iterrows():
            lines.append(f"\n- {row['label']}: {row['status']}: {row['message']}")
        lines.append("")
    lines += ["- [quality.csv](quality.csv): one row per training run (the newest per framework and settings): "
              "test metrics, times, time to target and the speedups", ""]
    return QualitySection("\n".join(lines), paths)
