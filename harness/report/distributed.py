"""The report's distributed part, from the records of `sptx distributed`: a measured scaling table (compute /
communication split, bytes per step, peak memory, scaling efficiency), the bytes and time of each collective
(sharded), a scaling chart per run setting, and the scaling model on paper (harness/distributed/scaling.py)
with its assumptions."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterable

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from harness.records.schema import RecordType
from harness.report.charts import Chart
from harness.report.output import markdown_table, save_figure, write_csv
from harness.settings import stable_key

__all__ = ["collective_table", "distributed_files", "measured_step", "prediction_table", "scaling_chart",
           "scaling_table"]

COMPUTE_COLOR, COMMUNICATE_COLOR = "#66c2a5", "#fc8d62"
STRATEGY_HATCH = {"dense": "", "rowsparse": "//", "sharded": "xx"}


def _median(record: dict[str, Any], name: str) -> float | None:
    return ((record.get("time_ms") or {}).get(name) or {}).get("median")


def _run_of(record: dict[str, Any]) -> tuple:
    """(settings, backend, strategy, world size): what the rounds of one run share."""
    d = record["distributed"]
    return stable_key(record["settings"]), d.get("backend"), d.get("strategy"), d.get("world_size")


def _rounds_by_run(records: Iterable[dict[str, Any]]) -> dict[tuple, list[dict[str, Any]]]:
    """The newest record of every round of the distributed records, grouped by run (see _run_of)."""
    newest: dict[tuple, dict[str, Any]] = {}
    for r in records:
        if r.get("record_type") == RecordType.DISTRIBUTED:
            newest[(*_run_of(r), r.get("round", 0))] = r
    runs: dict[tuple, list[dict[str, Any]]] = {}
    for key, r in newest.items():
        runs.setdefault(key[:-1], []).append(r)
    return runs


def _middle(values: list[Any]) -> float | None:
    values = [v for v in values if v is not None]
    return float(np.median(values)) if values else None


def scaling_table(records: Iterable[dict[str, Any]]) -> pd.DataFrame:
    """One row per run setting, backend, strategy and world size, over its rounds (fresh processes each):
    medians of the per-round median step, compute and communication ms (critical path: the slowest rank),
    the spread of the step (the range of the round medians; with one round, the bootstrap CI over steps),
    bytes one rank sends per step, and the scaling efficiency against the 1-process run of the same
    strategy: T1 / (p x Tp) for the same global batch."""
    rows = []
    for (key, backend, strategy, world_size), runs in _rounds_by_run(records).items():
        ok = [r for r in runs if r.get("status") == "ok"]
        first = runs[0]
        s, d = first["settings"], first["distributed"]
        steps = [_median(r, "step") for r in ok]
        if len(ok) == 1:
            step = ok[0]["time_ms"]["step"]
            low, high = step.get("ci_low"), step.get("ci_high")
        else:
            low, high = (min(steps), max(steps)) if steps else (None, None)
        loads = [r.get("load") or {} for r in runs]
        rows.append({
            "settings_key": key, "model": s.get("model"), "dataset": s.get("dataset"), "dim": s.get("dim"),
            "batch_size": s.get("batch_size"), "device": s.get("device"), "threads_per_rank": s.get("threads"),
            "backend": backend, "strategy": strategy, "world_size": world_size,
            "status": "ok" if ok else first.get("status"), "rounds_ok": len(ok), "rounds": len(runs),
            "steps": sum(r.get("steps_measured") or 0 for r in ok),
            "step_ms": _middle(steps), "step_low_ms": low, "step_high_ms": high,
            "compute_ms": _middle([_median(r, "compute") for r in ok]),
            "communicate_ms": _middle([_median(r, "communicate") for r in ok]),
            "adam_ms": _middle([_median(r, "adam") for r in ok]),
            "sent_bytes_per_step": _middle([r["distributed"].get("sent_bytes_per_step") for r in ok]),
            "payload_bytes_per_step": _middle([r["distributed"].get("payload_bytes_per_step") for r in ok]),
            "touched_rows_per_step": _middle([r["distributed"].get("touched_rows_per_step") for r in ok]),
            # peak RSS of the largest rank, and the parameters + optimizer state it held (records since sharded)
            "peak_rss_bytes": _middle([r["distributed"].get("peak_rss_bytes_per_rank") for r in ok]),
            "held_bytes": _middle([r["distributed"].get("held_bytes_per_rank") for r in ok]),
            "parameters_identical": all(r["distributed"].get("parameters_identical") for r in ok) if ok else None,
            "loadavg_1m": max((l.get("loadavg_1m_start") or 0.0 for l in loads), default=None),
            "neighbour_cores": max((l.get("neighbour_cores") or 0.0 for l in loads), default=None),
            "disturbed": any(r.get("disturbed") for r in runs),
            "message": "; ".join(dict.fromkeys(r.get("message", "") for r in runs if r.get("message"))),
        })
    frame = pd.DataFrame(rows)
    if frame.empty:
        return frame
    single = {(k, b, st): v for k, b, st, p, v in zip(frame["settings_key"], frame["backend"], frame["strategy"],
                                                      frame["world_size"], frame["step_ms"]) if p == 1 and v}
    frame["efficiency"] = [
        (single[(k, b, st)] / (p * v)) if (k, b, st) in single and v else None
        for k, b, st, p, v in zip(frame["settings_key"], frame["backend"], frame["strategy"], frame["world_size"],
                                  frame["step_ms"])]
    return frame.sort_values(["settings_key", "strategy", "world_size"], kind="stable").reset_index(drop=True)


def collective_table(records: Iterable[dict[str, Any]]) -> pd.DataFrame:
    """One row per run and collective, for the strategies that time their collectives one by one (sharded):
    medians over the ok rounds of the per-step medians of the largest rank's bytes sent, payload and ms."""
    rows = []
    for (key, backend, strategy, world_size), runs in _rounds_by_run(records).items():
        ok = [r for r in runs if r.get("status") == "ok" and r["distributed"].get("collectives")]
        for name in dict.fromkeys(n for r in ok for n in r["distributed"]["collectives"]):
            found = [r["distributed"]["collectives"][name] for r in ok if name in r["distributed"]["collectives"]]
            s = ok[0]["settings"]
            rows.append({"settings_key": key, "model": s.get("model"), "dataset": s.get("dataset"),
                         "backend": backend, "strategy": strategy, "world_size": world_size, "collective": name,
                         **{field: _middle([c.get(field) for c in found])
                            for field in ("sent_bytes", "payload_bytes", "ms")}})
    frame = pd.DataFrame(rows)
    if frame.empty:
        return frame
    return frame.sort_values(["settings_key", "strategy", "world_size"], kind="stable").reset_index(drop=True)


def measured_step(records: list[dict[str, Any]]):
    """The scaling model's input from ok 1-process records (their steps pooled): per step, the per-triple
    part (compute minus Adam) and the whole-table part (Adam and re-normalisation), medians in seconds."""
    from harness.distributed.scaling import MeasuredStep

    s, d = records[0]["settings"], records[0]["distributed"]
    walls = [r["samples"]["wall_ms"] for r in records]
    per_triple = [c - a for w in walls for c, a in zip(w["compute"], w["adam"])]
    whole_table = [a for w in walls for a in w["adam"]]
    return MeasuredStep(model=s["model"], dim=s["dim"], batch_size=s["batch_size"], num_negatives=s["num_negatives"],
                        per_triple_s=float(np.median(per_triple)) / 1e3, whole_table_s=float(np.median(whole_table)) / 1e3,
                        n_entities=d["n_entities"], n_relations=d["n_relations"])


def prediction_table(records: Iterable[dict[str, Any]]) -> pd.DataFrame:
    """The scaling model on paper for every run setting that has ok 1-process records of a replicated strategy
    (dense's if any): their Adam is the whole-table work the model scales (a sharded run's update covers the
    touched rows only)."""
    from harness.distributed.exchange import STRATEGIES
    from harness.distributed.scaling import prediction_grid

    rows = []
    inputs: dict[str, list[dict[str, Any]]] = {}
    for (key, _, strategy, world_size), runs in _rounds_by_run(records).items():
        ok = [r for r in runs if r.get("status") == "ok" and "n_entities" in r["distributed"]]
        replicated = strategy in STRATEGIES and STRATEGIES[strategy].replicated
        if world_size == 1 and ok and replicated and (key not in inputs or strategy == "dense"):  # dense's plain step wins
            inputs[key] = ok
    for key, chosen in inputs.items():
        record = chosen[0]
        measured = measured_step(chosen)
        for p in prediction_grid(measured):
            rows.append({"measured_on": f"{record['settings']['model']} {record['settings']['dataset']} "
                                        f"d={measured.dim} B={measured.batch_size}",
                         "per_triple_ms": measured.per_triple_s * 1e3, "whole_table_ms": measured.whole_table_s * 1e3,
                         "graph": p.graph, "strategy": p.strategy, "ranks": p.ranks, "bandwidth_gbit": p.bandwidth_gbit,
                         "compute_ms": p.compute_s * 1e3, "communicate_ms": p.communicate_s * 1e3,
                         "sent_bytes_per_step": p.sent_bytes, "parameter_bytes_per_rank": p.parameter_bytes,
                         "steps_per_epoch": p.steps_per_epoch,
                         "epoch_s": p.epoch_s, "epoch_h": p.epoch_s / 3600})
    return pd.DataFrame(rows)


def scaling_chart(table: pd.DataFrame, settings_key: str, out_dir: Path) -> Chart:
    """Stacked compute / communication ms per step against the number of processes, one bar per strategy."""
    part = table[(table["settings_key"] == settings_key) & (table["status"] == "ok")]
    first = table[table["settings_key"] == settings_key].iloc[0]
    sizes = sorted(set(part["world_size"]))
    strategies = list(dict.fromkeys(part["strategy"]))
    fig = Figure(figsize=(max(7.0, 2.0 + 1.6 * len(sizes) * max(len(strategies), 1)), 4.2))
    ax = fig.add_subplot()
    width = 0.8 / max(len(strategies), 1)
    for j, strategy in enumerate(strategies):
        rows = part[part["strategy"] == strategy].set_index("world_size")
        xs = [i + (j - (len(strategies) - 1) / 2) * width for i in range(len(sizes))]
        compute = [float(rows.loc[p, "compute_ms"]) if p in rows.index else 0.0 for p in sizes]
        comm = [float(rows.loc[p, "communicate_ms"]) if p in rows.index else 0.0 for p in sizes]
        hatch = STRATEGY_HATCH.get(strategy, "..")
        ax.bar(xs, compute, width, color=COMPUTE_COLOR, hatch=hatch, edgecolor="black", linewidth=0.5)
        ax.bar(xs, comm, width, bottom=compute, color=COMMUNICATE_COLOR, hatch=hatch, edgecolor="black", linewidth=0.5)
        for x, p in zip(xs, sizes):
            if p in rows.index and rows.loc[p, "efficiency"] == rows.loc[p, "efficiency"]:
                ax.annotate(f"{strategy}\neff {rows.loc[p, 'efficiency']:.2f}", (x, compute[sizes.index(p)]
                            + comm[sizes.index(p)]), ha="center", va="bottom", fontsize=7)
    ax.set_xticks(range(len(sizes)), [str(p) for p in sizes])
    ax.set_xlabel("processes (ranks)")
    ax.set_ylabel("ms per step (slowest rank)")
    ax.margins(y=0.2)
    handles = [Patch(facecolor=COMPUTE_COLOR, label="compute"), Patch(facecolor=COMMUNICATE_COLOR, label="communication")]
    handles += [Patch(facecolor="white", edgecolor="black", hatch=STRATEGY_HATCH.get(s, ".."), label=s) for s in strategies]
    ax.legend(handles=handles, fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0.0)
    title = (f"Scaling: {first['model']} on {first['dataset']}, d={first['dim']}, global batch {first['batch_size']}, "
             f"{first['backend']}, {first['threads_per_rank']} thread(s) per rank")
    ax.set_title(title, fontsize=9)
    fig.tight_layout()
    path = save_figure(fig, out_dir / f"scaling-{settings_key}.png")
    caption = ("Median ms per step on the critical path (the slowest rank's compute, and the rest of the step: the "
               "gradient exchange it waited for), against the number of processes, per exchange strategy (hatching); "
               "`eff` = scaling efficiency T1 / (p x Tp) for the same global batch.")
    return Chart(path, title, caption)


def _mib(value: Any) -> str:
    return "" if value is None or value != value else f"{value / 2**20:,.2f}"


def _kib(value: Any) -> str:
    return "" if value is None or value != value else f"{value / 2**10:,.1f}"


def _ms(value: Any) -> str:
    return "" if value is None or value != value else f"{value:,.1f}"


def distributed_files(records: list[dict[str, Any]], out: Path) -> tuple[str, list[Path]]:
    """Write the scaling charts and CSV tables of the distributed records into `out`; return the report's
    markdown section and the paths written."""
    from harness.distributed import scaling

    table = scaling_table(records)
    if table.empty:
        return "", []
    written: list[Path] = []
    charts = [scaling_chart(table, key, out) for key in dict.fromkeys(table["settings_key"])]
    written += [c.path for c in charts]
    predictions = prediction_table(records)
    written.append(write_csv(table, out / "scaling.csv"))
    written.append(write_csv(predictions, out / "scaling_model.csv"))
    shown = table.assign(
        step=[f"{_ms(m)} [{_ms(lo)}-{_ms(hi)}]" for m, lo, hi in zip(table["step_ms"], table["step_low_ms"],
                                                                     table["step_high_ms"])],
        rounds=[f"{a}/{b}" for a, b in zip(table["rounds_ok"], table["rounds"])],
        sent=table["sent_bytes_per_step"].map(_mib), payload=table["payload_bytes_per_step"].map(_mib),
        compute=table["compute_ms"].map(_ms), comm=table["communicate_ms"].map(_ms), adam=table["adam_ms"].map(_ms),
        peak=table["peak_rss_bytes"].map(_mib), held=table["held_bytes"].map(_mib),
        eff=[("" if e is None or e != e else f"{e:.2f}") for e in table["efficiency"]],
        load=[f"{a:.2f} / {n:.2f}" if a is not None and n is not None else "" for a, n in
              zip(table["loadavg_1m"], table["neighbour_cores"])])
    lines = [
        "## Distributed (data-parallel) runs",
        "",
        "Records of `sptx distributed`: every rank trains on its shard of each global batch (batch = positives "
        "per step over all ranks) and the gradients are summed by the exchange strategy before the optimizer "
        "(sharded: each rank owns a block of the entity rows and their optimizer state; the rows its shard needs, "
        "and their gradients, travel to and from their owners). Per step, "
        "`compute` is the slowest rank's step minus its communication, `communication` the rest of the step (the "
        "exchange as the critical path sees it, waiting included), `optimizer` the update itself; `sent` is what "
        "one rank sends per step (dense: 2(p-1)/p x the tables under the ring algorithm; rowsparse: (p-1) x the "
        "padded touched rows and their int64 indices; sharded: the blocks of its all-to-alls addressed to other "
        "ranks, i.e. the ids, rows and row gradients of the touched rows owned elsewhere, plus the relation "
        "tables' all-reduce), `payload` what it hands to the collectives; `peak RSS` the largest rank's peak "
        "resident memory, `held` the parameters and optimizer state it holds. Medians of the rounds' medians over the measured steps, the step's "
        "spread in brackets: the range of the rounds' medians (each round a fresh set of processes), or with one round "
        "the bootstrap 95% CI over its steps; load = the highest 1-minute load average at a start / cores other "
        "processes used, over the rounds.",
        "",
        markdown_table(shown, {"model": "model", "dataset": "dataset", "dim": "d", "batch_size": "global batch",
                               "backend": "backend", "threads_per_rank": "threads/rank", "strategy": "strategy",
                               "world_size": "processes", "status": "status", "rounds": "rounds ok",
                               "step": "step ms [spread]",
                               "compute": "compute ms", "comm": "communication ms", "adam": "optimizer ms",
                               "sent": "sent MiB/step", "payload": "payload MiB/step",
                               "peak": "peak RSS MiB/rank", "held": "held MiB/rank", "eff": "efficiency",
                               "load": "load", "message": "message"}),
        "",
    ]
    collectives = collective_table(records)
    if not collectives.empty:
        written.append(write_csv(collectives, out / "collectives.csv"))
        lines += [
            "### Collectives per step",
            "",
            "The strategies that time each collective (sharded: the counts, ids, rows and row gradients all-to-alls "
            "and the relation tables' all-reduce): per step the largest rank's bytes sent to other ranks, bytes "
            "handed to the collective and ms, medians.",
            "",
            markdown_table(collectives.assign(sent=collectives["sent_bytes"].map(_kib),
                                              payload=collectives["payload_bytes"].map(_kib),
                                              time=collectives["ms"].map(lambda v: "" if v != v else f"{v:,.2f}")),
                           {"model": "model", "dataset": "dataset", "strategy": "strategy", "world_size": "processes",
                            "collective": "collective", "sent": "sent KiB/step", "payload": "payload KiB/step",
                            "time": "ms/step"}),
            "",
        ]
    for chart in charts:
        lines += [f"### {chart.title}", "", chart.caption, "", f"![{chart.title}]({chart.path.name})", ""]
    if not predictions.empty:
        assumptions = scaling.__doc__.split("Assumptions (stated in the report beside the table):", 1)[1].strip()
        show = predictions.assign(compute=predictions["compute_ms"].map(_ms), comm=predictions["communicate_ms"].map(_ms),
                                  sent=predictions["sent_bytes_per_step"].map(_mib),
                                  params=predictions["parameter_bytes_per_rank"].map(lambda v: f"{v / 2**30:,.2f}"),
                                  epoch=predictions["epoch_s"].map(lambda v: f"{v:,.1f}"),
                                  hours=predictions["epoch_h"].map(lambda v: f"{v:,.2f}"))
        lines += [
            "### Scaling model on paper",
            "",
            f"Predicted time per epoch on 8, 64 and 512 ranks at 10, 100 and 400 Gbit/s (latency "
            f"{scaling.Network(1.0).latency_s * 1e6:g} us per message round), from the measured 1-process step "
            "(its per-triple part and its whole-table part) and each strategy's bytes. Assumptions:",
            "",
            assumptions,
            "",
            "At 100M entities and d = 128 one float32 table is 51.2 GB; parameters, gradient and Adam's two "
            "moments are four of them (205 GB) on every rank, beyond one GPU: data parallelism alone does not "
            "fit there (the model predicts time only). Its whole-table part (Adam, as TorchKGE-style training runs it, "
            "over every row every step) dominates each step there, whatever the exchange: row-sparse exchange removes "
            "the bytes, not that work; a lazy (row-sparse) optimizer would, with different semantics. `sharded` "
            "is that design: each rank holds 1/p of the entity rows (parameters GiB/rank) and updates only the "
            "touched rows it owns.",
            "",
            markdown_table(show, {"measured_on": "measured on", "graph": "graph", "strategy": "strategy",
                                  "ranks": "ranks", "bandwidth_gbit": "Gbit/s", "compute": "compute ms/step",
                                  "comm": "exchange ms/step", "sent": "sent MiB/step/rank",
                                  "params": "parameters GiB/rank",
                                  "steps_per_epoch": "steps/epoch", "epoch": "epoch s",
                                  "hours": "epoch h"}),
            "",
        ]
    if not collectives.empty:
        lines += ["- [collectives.csv](collectives.csv): one row per run and collective (measured)"]
    lines += ["- [scaling.csv](scaling.csv): one row per run setting, strategy and number of processes (measured)",
              "- [scaling_model.csv](scaling_model.csv): the scaling model's predictions", ""]
    return "\n".join(lines), written
