"""The quality section of a report, from `sptx train` records: learning curves (loss and validation
MRR against epoch and against training wall time) per framework, time to the target MRR with the
speedup, and the final test metrics.

Runs are compared within groups of equal run identity and training settings (`group_key`); the newest
record of each (group, framework label) wins. Runs that differ only in their seed form a seed group: with
more than one seed, the section summarises it across seeds (mean test MRR with its bootstrap 95% CI, and
the reference's MRR relative to each framework's, paired by seed) instead of one table per seed, because a
single seed cannot tell a framework's effect from float-rounding chaos (TorusE's runs diverge that way).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

import pandas as pd
from matplotlib.figure import Figure

import numpy as np

from harness.evaluate.protocols import DEFAULT_PROTOCOL, record_protocol, record_protocol_label
from harness.measure.timing import bootstrap_ci
from harness.models import MODELS
from harness.report.output import framework_colors, save_figure, slug, write_csv
from harness.report.tables import preferred_reference
from harness.settings import stable_key

__all__ = ["QualitySection", "optimizer_summary", "quality_frame", "seed_summary", "write_quality_section"]

DENSE_OPTIMIZERS = ("adam-fused", "adam")  # what the other optimizers are compared with, first found first

METRIC_COLUMNS: dict[str, str] = {
    "test_mrr": "test MRR", "test_mr": "test MR", "test_hits_at_1": "Hits@1", "test_hits_at_3": "Hits@3",
    "test_hits_at_10": "Hits@10",
}


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


def _training_key(training: dict[str, Any]) -> dict[str, Any]:
    """A record's training block as groups compare it: the evaluation protocol left out at its default, so records
    written before it was recorded (full ranking) group with new ones of the same settings."""
    return {k: v for k, v in training.items() if not (k == "eval_protocol" and v == DEFAULT_PROTOCOL)}


def seed_group_key(record: dict[str, Any]) -> str:
    """The run identity and training settings of a record without its seed: runs that differ only in seed."""
    settings = {k: v for k, v in record["settings"].items() if k != "seed"}
    return stable_key({"settings": settings, "training": _training_key(record["training"])})


def optimizer_group_key(record: dict[str, Any]) -> str:
    """What a record shares with runs that differ only in seed, optimizer and learning rate (same framework):
    where optimizers are compared."""
    settings = {k: v for k, v in record["settings"].items() if k not in ("seed", "optimizer")}
    training = {k: v for k, v in _training_key(record["training"]).items() if k != "lr"}
    return stable_key({"settings": settings, "training": training, "label": record["label"]})


def reference_label(runs: pd.DataFrame, reference: str) -> str | None:
    """The label the others are compared with among `runs` (rows with framework and label): as in a
    comparison (tables.preferred_reference), else the reference framework's first label."""
    preferred = preferred_reference(set(runs["label"]), reference)
    if preferred is not None:
        return preferred
    variants = runs[runs["framework"] == reference]["label"]
    return variants.iloc[0] if not variants.empty else None


def _group_title(r: dict[str, Any]) -> str:
    s, t = r["settings"], r["training"]
    title = MODELS[s["model"]].title if s["model"] in MODELS else s["model"]
    target = "" if t.get("target_mrr") is None else f", to target MRR {t['target_mrr']:g}"
    return (f"{title} ({s['dissimilarity']}) on {s['dataset']}, d={s['dim']}, batch {s['batch_size']} x "
            f"(1 + {s['num_negatives']}), lr {t['lr']:g}, margin {t['margin']:g}, {s['threads']} thread(s){target}; "
            f"ranked: {record_protocol_label(r)}")


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
            "dataset": r["settings"]["dataset"], "seed": r["settings"]["seed"], "seed_group": seed_group_key(r),
            "framework": r["framework"], "label": r["label"],
            "optimizer": r["settings"].get("optimizer", "adam"), "lr": r["training"].get("lr"),
            "optimizer_group": optimizer_group_key(r), "status": r["status"], "message": r.get("message", ""), "epochs_run": len(epochs),
            "epochs_planned": r["training"]["epochs"], "train_time_s": r.get("train_time_s"),
            "eval_time_s": r.get("eval_time_s"),
            "epoch_time_s": (r["train_time_s"] / len(epochs)) if epochs else None,
            "final_loss": epochs[-1]["loss"] if epochs else None,
            "valid_mrr": valid[-1]["both_mrr"] if valid else None,
            "target_mrr": r["training"].get("target_mrr"), "time_to_target_s": r.get("time_to_target_s"),
            "target_epoch": r.get("target_epoch"), "eval_protocol": record_protocol(r),
            "eval_protocol_label": record_protocol_label(r),
            **{key: test.get(key.replace("test_", "both_")) for key in METRIC_COLUMNS},
        })
    frame = pd.DataFrame(rows)
    if frame.empty:
        return frame
    frame["speedup_to_target"] = None
    frame["test_mrr_vs_reference"] = None
    for _, group in frame.groupby("group_key"):
        ref = group[group["label"] == reference_label(group, reference)]
        if ref.empty:
            continue
        ref_row = ref.iloc[0]
        for index, row in group.iterrows():
            if row["time_to_target_s"] is not None and ref_row["time_to_target_s"] is not None:
                frame.at[index, "speedup_to_target"] = row["time_to_target_s"] / ref_row["time_to_target_s"]
            if row["test_mrr"] is not None and ref_row["test_mrr"]:
                frame.at[index, "test_mrr_vs_reference"] = ref_row["test_mrr"] / row["test_mrr"] - 1
    return frame.sort_values(["model", "dataset", "group", "framework"], kind="stable").reset_index(drop=True)


@dataclass(frozen=True)
class Interval:
    """A statistic with its bootstrap 95% confidence interval (low == high == value when it cannot vary)."""

    value: float
    low: float
    high: float


def _bootstrap(samples: tuple[np.ndarray, ...], statistic, paired: bool) -> Interval:
    """`statistic` over seeds with its bootstrap 95% CI (none with fewer than 3 seeds or nothing varying)."""
    value = float(statistic(*samples))
    if samples[0].size < 3 or all(np.ptp(x) == 0 for x in samples):
        return Interval(value, value, value)
    return Interval(value, *bootstrap_ci(samples, statistic, paired=paired))


def seed_summary(frame: pd.DataFrame, reference: str = "sparse") -> pd.DataFrame:
    """One row per (seed group, framework label) of runs that finished: how many seeds, the mean test MRR
    with its bootstrap 95% CI and standard deviation, and `reference`'s mean test MRR over the same seeds
    relative to the framework's (mean ref / mean framework - 1, CI from resampling seeds in pairs: the same
    seed gives every framework the same initial parameters and batches)."""
    ok = frame[(frame["status"] == "ok") & frame["test_mrr"].notna()] if not frame.empty else frame
    rows = []
    for key, group in ok.groupby("seed_group", sort=False):
        ref_label = reference_label(group, reference)
        ref = group[group["label"] == ref_label].set_index("seed")
        for label, runs in group.groupby("label", sort=False):
            runs = runs.set_index("seed").sort_index()
            mrr = runs["test_mrr"].to_numpy(dtype=float)
            mean = _bootstrap((mrr,), np.mean, paired=False)
            common = sorted(set(runs.index) & set(ref.index))
            versus = None
            if common and label != ref_label:
                ref_mrr = ref.loc[common, "test_mrr"].to_numpy(dtype=float)
                fw_mrr = runs.loc[common, "test_mrr"].to_numpy(dtype=float)
                versus = _bootstrap((ref_mrr, fw_mrr), lambda a, b: np.mean(a) / np.mean(b) - 1, paired=True)
            rows.append({
                "seed_group": key, "group": runs["group"].iloc[0], "model": runs["model"].iloc[0],
                "dataset": runs["dataset"].iloc[0], "framework": runs["framework"].iloc[0], "label": label,
                "reference_label": ref_label, "seeds": len(runs), "test_mrr_mean": mean.value, "test_mrr_ci_low": mean.low,
                "test_mrr_ci_high": mean.high, "test_mrr_sd": float(np.std(mrr, ddof=1)) if len(mrr) > 1 else 0.0,
                "paired_seeds": len(common) if versus else 0,
                "mrr_vs_reference": versus.value if versus else None,
                "mrr_vs_reference_ci_low": versus.low if versus else None,
                "mrr_vs_reference_ci_high": versus.high if versus else None,
                "test_hits_at_10_mean": float(runs["test_hits_at_10"].mean()),
                "train_time_s_median": float(runs["train_time_s"].median()),
                "epoch_time_s_median": float(runs["epoch_time_s"].median()),
            })
    return pd.DataFrame(rows)


def optimizer_summary(frame: pd.DataFrame) -> pd.DataFrame:
    """One row per (optimizer group, optimizer, lr) where a group ran more than one of them: seeds, the mean
    test MRR with its bootstrap 95% CI, and its mean over the seeds both ran relative to the dense reference's
    (DENSE_OPTIMIZERS; mean / mean ref - 1, CI from resampling seeds in pairs: a seed fixes the initial
    parameters and the batches whatever the optimizer)."""
    ok = frame[(frame["status"] == "ok") & frame["test_mrr"].notna()] if not frame.empty else frame
    rows = []
    for key, group in ok.groupby("optimizer_group", sort=False):
        variants = group.groupby(["optimizer", "lr"], sort=False)
        if variants.ngroups < 2:
            continue
        dense = next((name for name in DENSE_OPTIMIZERS if name in set(group["optimizer"])), None)
        ref = group[group["optimizer"] == dense]
        ref = ref[ref["lr"] == ref["lr"].min()].set_index("seed") if dense else ref
        for (optimizer, lr), runs in variants:
            runs = runs.set_index("seed").sort_index()
            mrr = runs["test_mrr"].to_numpy(dtype=float)
            mean = _bootstrap((mrr,), np.mean, paired=False)
            common = sorted(set(runs.index) & set(ref.index)) if dense else []
            versus = None
            if common and not (optimizer == dense and lr == ref["lr"].iloc[0]):
                versus = _bootstrap((runs.loc[common, "test_mrr"].to_numpy(dtype=float),
                                     ref.loc[common, "test_mrr"].to_numpy(dtype=float)),
                                    lambda a, b: np.mean(a) / np.mean(b) - 1, paired=True)
            rows.append({
                "optimizer_group": key, "group": runs["group"].iloc[0], "label": runs["label"].iloc[0],
                "optimizer": optimizer, "lr": lr, "reference": f"{dense} (lr {ref['lr'].iloc[0]:g})" if dense else None,
                "seeds": len(runs), "test_mrr_mean": mean.value, "test_mrr_ci_low": mean.low,
                "test_mrr_ci_high": mean.high, "paired_seeds": len(common) if versus else 0,
                "mrr_vs_dense": versus.value if versus else None,
                "mrr_vs_dense_ci_low": versus.low if versus else None,
                "mrr_vs_dense_ci_high": versus.high if versus else None,
                "epoch_time_s_median": float(runs["epoch_time_s"].median()),
            })
    return pd.DataFrame(rows)


def _optimizer_tables(summary: pd.DataFrame) -> list[str]:
    """Per optimizer group: each optimizer's test MRR over seeds beside the dense reference's."""
    lines: list[str] = []
    for _, group in summary.groupby("optimizer_group", sort=False):
        first = group.iloc[0]
        title = first["group"].replace(f", lr {first['lr']:g}", "")
        lines += [f"### Optimizers compared: {first['label']}, {title}", "",
                  f"Reference: {first['reference']}. Each optimizer's mean test MRR over the seeds both ran / the "
                  "reference's - 1, 95% CI from resampling seeds in pairs.", "",
                  "| optimizer | lr | seeds | test MRR mean [95% CI] | vs reference [95% CI] (paired seeds) | s/epoch |",
                  "|---|---|---|---|---|---|"]
        for _, row in group.iterrows():
            versus = ("-" if row["mrr_vs_dense"] is None or pd.isna(row["mrr_vs_dense"]) else
                      f"{_ci(row['mrr_vs_dense'], row['mrr_vs_dense_ci_low'], row['mrr_vs_dense_ci_high'], '+.2%')} "
                      f"({int(row['paired_seeds'])})")
            lines.append(f"| {row['optimizer']} | {row['lr']:g} | {row['seeds']} | "
                         f"{_ci(row['test_mrr_mean'], row['test_mrr_ci_low'], row['test_mrr_ci_high'], '.4f')} | "
                         f"{versus} | {row['epoch_time_s_median']:.2f} |")
        lines.append("")
    return lines


def _curves_chart(records: list[dict[str, Any]], path: Path, title: str) -> Path:
    """Four panels: loss and validation MRR, each against epoch and against training wall time; with several
    seeds, one thinner line per run in its framework's colour."""
    fig = Figure(figsize=(11, 7.5))
    axes = fig.subplots(2, 2)
    colors = framework_colors(r["label"] for r in records)
    several = len(records) > len(colors)
    style = {"marker": "o", "linewidth": 0.8 if several else 1.5, "alpha": 0.6 if several else 1.0}
    legend_done: set[str] = set()
    for r in records:
        epochs = r.get("epochs") or []
        evaluated = [e for e in epochs if e.get("valid")]
        color = colors[r["label"]]
        label = None if r["label"] in legend_done else r["label"]
        legend_done.add(r["label"])
        loss = [e["loss"] for e in epochs]
        mrr = [e["valid"]["both_mrr"] for e in evaluated]
        axes[0, 0].plot([e["epoch"] for e in epochs], loss, color=color, label=label, markersize=2, **style)
        axes[0, 1].plot([e["elapsed_train_time_s"] for e in epochs], loss, color=color, label=label, markersize=2,
                        **style)
        axes[1, 0].plot([e["epoch"] for e in evaluated], mrr, color=color, label=label, markersize=3, **style)
        axes[1, 1].plot([e["elapsed_train_time_s"] for e in evaluated], mrr, color=color, label=label, markersize=3,
                        **style)
    target = records[0]["training"].get("target_mrr")
    for ax in axes[1]:
        if target is not None:
            ax.axhline(target, color="#888888", linestyle="--", linewidth=1, label=f"target {target:g}")
        ax.set_ylabel("validation filtered MRR" if record_protocol(records[0]) == DEFAULT_PROTOCOL else
                      "validation MRR (OGB's sampled candidates)")
    for ax in axes[0]:
        ax.set_ylabel("loss per positive")
    for ax in axes[:, 0]:
        ax.set_xlabel("epoch")
    for ax in axes[:, 1]:
        ax.set_xlabel("training wall time (s, evaluation excluded)")
    for ax in axes.flat:
        ax.ticklabel_format(axis="y", useOffset=False)
    axes[1, 1].legend(fontsize=8)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return save_figure(fig, path)


def _fmt(value: Any, fmt: str) -> str:
    if value is None or (isinstance(value, float) and value != value):
        return "-"
    return format(value, fmt)


def _ci(value: Any, low: Any, high: Any, fmt: str) -> str:
    if value is None or value != value:
        return "-"
    if low is None or low == high:
        return format(value, fmt)
    return f"{format(value, fmt)} [{format(low, fmt)}, {format(high, fmt)}]"


def _run_table(group: pd.DataFrame) -> list[str]:
    """One row per framework of a single-seed group: times, time to target and the test metrics."""
    lines = ["| framework | status | epochs | s/epoch | train s | eval s | target | time to target s (epoch) "
             "| speedup to target | test MRR | MRR vs ref | MR | Hits@1 | Hits@3 | Hits@10 |", "|" + "---|" * 15]
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
    return lines


def _seed_tables(group: pd.DataFrame, summary: pd.DataFrame, reference: str) -> list[str]:
    """A seed group: the summary across seeds per framework, then every seed's test MRR side by side."""
    ref_label = summary["reference_label"].iloc[0] or reference
    lines = [f"| framework | seeds | test MRR mean [95% CI] | sd | `{ref_label}` vs it [95% CI] (paired seeds) | "
             "Hits@10 mean | s/epoch (median) | train s (median) |", "|" + "---|" * 8]
    for _, row in summary.iterrows():
        versus = "-" if row["mrr_vs_reference"] is None or row["mrr_vs_reference"] != row["mrr_vs_reference"] else (
            f"{_ci(row['mrr_vs_reference'], row['mrr_vs_reference_ci_low'], row['mrr_vs_reference_ci_high'], '+.2%')}"
            f" ({int(row['paired_seeds'])})")
        lines.append(
            f"| {row['label']} | {row['seeds']} | "
            f"{_ci(row['test_mrr_mean'], row['test_mrr_ci_low'], row['test_mrr_ci_high'], '.4f')} | "
            f"{row['test_mrr_sd']:.4f} | {versus} | {row['test_hits_at_10_mean']:.4f} | "
            f"{row['epoch_time_s_median']:.2f} | {row['train_time_s_median']:.1f} |")
    per_seed = group.pivot_table(index="seed", columns="label", values="test_mrr", aggfunc="last")
    labels = list(per_seed.columns)
    lines += ["", "Test MRR per seed:", "", "| seed | " + " | ".join(labels) + " |", "|" + "---|" * (len(labels) + 1)]
    for seed, row in per_seed.iterrows():
        lines.append(f"| {seed} | " + " | ".join(_fmt(row[label], ".4f") for label in labels) + " |")
    failed = group[group["status"] != "ok"]
    lines += [f"\n- seed {row['seed']}, {row['label']}: {row['status']}: {row['message']}" for _, row in failed.iterrows()]
    return lines


def write_quality_section(records: Iterable[dict[str, Any]], out: Path, reference: str = "sparse") -> QualitySection:
    """Write the learning-curve charts, quality.csv and (with several seeds) quality-seeds.csv into `out`;
    return the section's markdown."""
    latest = _latest(records)
    frame = quality_frame(latest, reference)
    summary = seed_summary(frame, reference)
    paths = [write_csv(frame, out / "quality.csv")]
    several = summary[summary["seeds"] > 1] if not summary.empty else summary
    if not several.empty:
        paths.append(write_csv(several, out / "quality-seeds.csv"))
    lines = ["## Quality: training to a filtered MRR", "",
             "From `sptx train` records. Metrics are filtered link prediction over all entities (known triples of "
             "train/valid/test removed, the evaluated one kept), realistic ranks (mean of optimistic and pessimistic), "
             "head and tail pooled; where a title says `ranked: sampled candidates (OGB, H + T)`, each true head and "
             "tail was ranked instead among its triple's own H and T sampled candidates, unfiltered, as OGB's "
             "evaluator does (`sptx train --eval-protocol ogb`; not comparable with full ranking). Times are training wall time with evaluation excluded; time to target is the "
             "training time until the validation MRR first reached the target. Speedup to target = the framework's "
             f"time to target / `{reference}`'s (above 1: `{reference}` got there sooner); MRR vs {reference} = "
             f"`{reference}`'s test MRR / the framework's - 1. Settings run with several seeds are summarised across "
             "them: the mean test MRR with its bootstrap 95% CI over seeds, and "
             f"`{reference}`'s mean over the seeds both ran / the framework's - 1, its CI from resampling seeds in "
             "pairs (a seed fixes the initial parameters and batches of every framework).", ""]
    records_of: dict[str, list[dict[str, Any]]] = {}
    for r in latest:
        records_of.setdefault(seed_group_key(r), []).append(r)
    for key, group in frame.groupby("seed_group", sort=False):
        group_records = records_of[key]
        first = group.iloc[0]
        seeds = sorted(group["seed"].unique())
        title = first["group"] if len(seeds) == 1 else f"{first['group']}, seeds {', '.join(map(str, seeds))}"
        chart = _curves_chart(group_records, out / f"quality-{slug(first['model'])}-{slug(first['dataset'])}-{key[:8]}.png",
                              title)
        paths.append(chart)
        lines += [f"### {title}", "", f"![learning curves]({chart.name})", ""]
        if len(seeds) == 1:
            lines += _run_table(group)
            lines += [f"\n- {row['label']}: {row['status']}: {row['message']}"
                      for _, row in group[group["status"] != "ok"].iterrows()]
        else:
            lines += _seed_tables(group, summary[summary["seed_group"] == key], reference)
        lines.append("")
    optimizers = optimizer_summary(frame)
    if not optimizers.empty:
        paths.append(write_csv(optimizers, out / "quality-optimizers.csv"))
        lines += _optimizer_tables(optimizers)
    lines += ["- [quality.csv](quality.csv): one row per training run (the newest per framework and settings): "
              "test metrics, times, time to target and the speedups"]
    if not several.empty:
        lines += ["- [quality-seeds.csv](quality-seeds.csv): settings run with several seeds, summarised per "
                  "framework"]
    if not optimizers.empty:
        lines += ["- [quality-optimizers.csv](quality-optimizers.csv): settings run with several optimizers, "
                  "each beside the dense one"]
    lines.append("")
    return QualitySection("\n".join(lines), paths)
