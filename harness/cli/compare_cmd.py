"""`sptx compare`: one model on one dataset and device across frameworks, on identical work."""

from __future__ import annotations

import argparse
import math
import sys

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from harness.cli.base import Command, add_data_dir_argument, make_console
from harness.errors import SptxError
from harness.spec import MODEL_NAMES
from sparse_impl.backends import BACKENDS, DEFAULT_BACKEND

__all__ = ["CompareCommand", "add_measurement_arguments", "print_comparison"]

DEFAULT_FRAMEWORKS = "sparse,gather,torchkge,pyg,pykeen,dglke"


def add_measurement_arguments(parser: argparse.ArgumentParser) -> None:
    """Options shared by every command that measures cells."""
    parser.add_argument("--device", default="cpu", help="torch device: cpu, cuda or cuda:N")
    parser.add_argument("--steps", type=int, default=20, help="measured training steps per cell (real, distinct batches)")
    parser.add_argument("--warmup", type=int, default=3, help="unmeasured warm-up steps per cell")
    parser.add_argument("--negatives", type=int, default=1, help="negatives per positive")
    parser.add_argument("--seed", type=int, default=0, help="seed of parameters, batch order and negatives")
    parser.add_argument("--native", action="store_true",
                        help="let each framework use its own native step where it has one (default: identical work)")
    parser.add_argument("--time-limit", type=float, default=600.0, help="seconds per cell before it is recorded as timeout")
    parser.add_argument("--memory-limit-mb", type=int, default=None,
                        help="cap on each cell's extra address space, in MiB (a cell over it is recorded as oom)")
    parser.add_argument("--no-flops", action="store_true", help="skip FLOP counting")
    parser.add_argument("--no-memory", action="store_true", help="skip the live-tensor memory measurement")
    parser.add_argument("--resume", action="store_true", help="skip cells that already have a record in --out")


def check_device(device: str) -> None:
    """A clear error for a device this machine does not have."""
    import torch

    if device.startswith("cuda") and not torch.cuda.is_available():
        raise SptxError(f"--device {device}: no CUDA device is available on this machine (torch {torch.__version__})")
    if not (device == "cpu" or device.startswith("cuda")):
        raise SptxError(f"--device {device}: use cpu, cuda or cuda:N")


def _mib(value) -> str:
    return "-" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value / 2**20:,.1f}"


def _num(value, fmt: str) -> str:
    return "-" if value is None or (isinstance(value, float) and math.isnan(value)) else format(value, fmt)


def print_comparison(records: list[dict], console: Console, title: str) -> None:
    """The per-framework table: ms per phase, speedup of sparse, memory, FLOPs, and why cells failed."""
    from harness.report.tables import comparison_table

    frame = comparison_table(records)
    table = Table(title=title)
    headers = ("framework", "status", "prepare ms", "forward ms", "backward ms", "optimizer ms", "step ms",
               "step 95% CI", "sparse speedup", "peak mem MiB", "mem ratio", "GFLOP/step", "profiler GFLOP")
    for h in headers:
        table.add_column(h, justify="left" if h in ("framework", "status") else "right")
    notes = []
    for _, row in frame.iterrows():
        ci = "-" if row["status"] != "ok" else f"{row['step_ci_low_ms']:.1f}-{row['step_ci_high_ms']:.1f}"
        table.add_row(
            escape(row["label"]), row["status"], *(_num(row[f"{p}_ms"], ".1f") for p in ("prepare", "forward", "backward", "optimizer", "step")),
            ci, _num(row["speedup_of_sparse"], ".2f") + ("x" if row["status"] == "ok" else ""),
            _mib(row["peak_memory_bytes"]), _num(row["memory_ratio_vs_sparse"], ".2f"),
            _num(None if row["flops"] is None or row["flops"] != row["flops"] else row["flops"] / 1e9, ",.2f"),
            _num(None if row["flops_profiler"] is None or row["flops_profiler"] != row["flops_profiler"] else row["flops_profiler"] / 1e9, ",.2f"),
        )
        if row["message"]:
            notes.append(escape(f"{row['label']}: {row['message']}"))
    console.print(table)
    for note in notes:
        console.print(f"  [dim]{note}[/dim]")


class CompareCommand(Command):
    name = "compare"
    help = "compare one model across frameworks on identical work (time per phase, memory, FLOPs)"
    description = (
        "Runs one cell per framework, each in a fresh process with a time limit: the same batches, negatives, "
        "initial parameters, loss and optimizer for every framework (unless --native). Prints per-phase "
        "median times, the step speedup of `sparse` over each framework, peak memory and FLOPs, and appends "
        "one record per cell to --out. Without dataset files, the default FB15k-237 falls back to a "
        "shape-matched synthetic graph and says so."
    )

    @classmethod
    def add_arguments(cls, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--model", default="transe", choices=MODEL_NAMES, help="model to train")
        parser.add_argument("--dataset", default=None,
                            help="registry name, synthetic:NAME or a folder (default: FB15k-237, or its synthetic "
                                 "stand-in when the files are not found)")
        add_data_dir_argument(parser)
        parser.add_argument("--frameworks", default=DEFAULT_FRAMEWORKS, help="comma-separated frameworks to compare")
        parser.add_argument("--backend", default=DEFAULT_BACKEND,
                            help=f"SpMM backend(s) of `sparse`, comma-separated ({', '.join(BACKENDS)})")
        parser.add_argument("--dim", type=int, default=128, help="embedding dimension (TransR: entity and relation)")
        parser.add_argument("--batch-size", type=int, default=32768, help="positive triples per batch")
        parser.add_argument("--dissimilarity", default=None, help="score function (default per model)")
        add_measurement_arguments(parser)
        parser.add_argument("--out", default="results/compare.jsonl", help="JSON Lines file the records are appended to")
        parser.add_argument("--plot", default=None, metavar="DIR", help="also write the report charts for this comparison to DIR")

    def run(self, args: argparse.Namespace) -> int:
        from baselines import FRAMEWORKS
        from harness.data.choice import choose_dataset
        from harness.records.store import ResultsStore
        from harness.runner import Cell, run_cells

        check_device(args.device)
        frameworks = [f.strip() for f in args.frameworks.split(",") if f.strip()]
        unknown = [f for f in frameworks if f not in FRAMEWORKS]
        if unknown:
            raise SptxError(f"unknown framework(s) {', '.join(unknown)}; known: {', '.join(FRAMEWORKS)}")
        for name, value in (("--dim", args.dim), ("--batch-size", args.batch_size), ("--steps", args.steps),
                            ("--negatives", args.negatives)):
            if value < 1:
                raise SptxError(f"{name} must be at least 1")
        console = make_console()
        choice = choose_dataset(args.dataset or "FB15k-237", args.data_dir, fallback_synthetic=args.dataset is None)
        if choice.notice:
            console.print(f"[yellow]note:[/yellow] {choice.notice}")
        cells = []
        for framework in frameworks:
            backends = [b.strip() for b in args.backend.split(",")] if framework == "sparse" else [None]
            for backend in backends:
                cells.append(Cell(
                    framework=framework, model=args.model, dataset=choice.name, device=args.device, dim=args.dim,
                    batch_size=args.batch_size, num_negatives=args.negatives,
                    mode="native" if args.native else "identical", steps=args.steps, warmup=args.warmup,
                    seed=args.seed, backend=backend, dissimilarity=args.dissimilarity, data_dir=args.data_dir,
                    time_limit_s=args.time_limit,
                    memory_limit_bytes=None if args.memory_limit_mb is None else args.memory_limit_mb * 2**20,
                    measure_flops=not args.no_flops, measure_memory=not args.no_memory,
                ))
        store = ResultsStore(args.out)
        summary = run_cells(cells, store, resume=args.resume, command_line=["sptx", *sys.argv[1:]],
                            progress=True)
        keys = {c.key for c in cells}
        records = [r for r in store.records() if r.get("cell_key") in keys]
        latest = {r["cell_key"]: r for r in records}  # the newest record of each cell
        title = (f"{args.model} on {choice.name}, {args.device}, d={args.dim}, batch {args.batch_size} x (1 + "
                 f"{args.negatives}), {'native' if args.native else 'identical work'}, {args.steps} steps")
        print_comparison(list(latest.values()), console, title)
        console.print(f"{len(summary.records)} record(s) appended to {store.path}"
                      + (f"; {len(summary.skipped)} cell(s) already done (--resume)" if summary.skipped else ""))
        if args.plot:
            from harness.report.charts import write_comparison_charts

            for path in write_comparison_charts(list(latest.values()), args.plot):
                console.print(f"chart: {path}")
        return 0
