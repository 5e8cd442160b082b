"""`sptx targets`: run the cells behind the performance targets (harness/report/targets.py) in
interleaved rounds, as `compare` does, and print each target as measured now: pass or fail."""

from __future__ import annotations

import argparse
import sys

from rich.markup import escape
from rich.table import Table

from harness.cli.base import Command, add_data_dir_argument, make_console
from harness.cli.compare_cmd import add_execution_arguments, check_execution_arguments, exit_status

__all__ = ["TargetsCommand"]


class TargetsCommand(Command):
    name = "targets"
    help = "measure the SpMM performance targets (speedups, memory, roofline) and print pass/fail per target"
    description = (
        "Runs every comparison group the targets need (TransE d=128 and d=1024, TransE native vs PyKEEN, "
        "synthetic YAGO3-10, TransR, TransH, TorusE; see harness/report/targets.py) in --rounds interleaved "
        "rounds of fresh processes, exactly as `sptx compare` does, appends the records to --out, and prints "
        "each target: the measured figure (a speedup is the median of paired per-round ratios with its "
        "bootstrap 95% CI, against the fastest of the named rivals), the target, and pass or fail. "
        "--no-run evaluates the records already in --out."
    )

    @classmethod
    def add_arguments(cls, parser: argparse.ArgumentParser) -> None:
        add_data_dir_argument(parser)
        parser.add_argument("--groups", default="", help="only these groups, comma-separated (default: all)")
        parser.add_argument("--steps", type=int, default=20, help="measured steps per cell")
        parser.add_argument("--threads", type=int, default=0, help="threads per measuring process (0: all cores)")
        add_execution_arguments(parser, rounds=3)
        parser.add_argument("--no-run", action="store_true", help="only evaluate the records already in --out")
        parser.add_argument("--out", default="results/targets.jsonl", help="JSON Lines file the records go to")

    def run(self, args: argparse.Namespace) -> int:
        from harness.errors import SptxError
        from harness.records.store import ResultsStore
        from harness.report.targets import GROUPS, TARGETS, evaluate_targets
        from harness.runner import make_cell, plan_rounds, run_cells
        from harness.settings import RunSettings

        check_execution_arguments(args)
        if args.native:
            raise SptxError("--native does not apply: each target group sets its own mode (see --help)")
        wanted = [g.strip() for g in args.groups.split(",") if g.strip()]
        unknown = sorted(set(wanted) - {g.name for g in GROUPS})
        if unknown:
            raise SptxError(f"unknown group(s) {', '.join(unknown)}; known: {', '.join(g.name for g in GROUPS)}")
        groups = [g for g in GROUPS if not wanted or g.name in wanted]
        console = make_console()
        limit = None if args.memory_limit_mb is None else args.memory_limit_mb * 2**20
        settings = {g.name: RunSettings(**g.settings, dataset_sha256=_fingerprint(g.settings["dataset"], args.data_dir),
                                        steps=args.steps, threads=args.threads) for g in groups}
        cells = [make_cell(framework, options=dict(options), data_dir=args.data_dir, time_limit_s=args.time_limit,
                           memory_limit_bytes=limit, measure_flops=not args.no_flops,
                           measure_memory=not args.no_memory, **settings[g.name].to_dict())
                 for g in groups for framework, options in g.cells]
        store = ResultsStore(args.out)
        if not args.no_run:
            planned = plan_rounds(cells, args.rounds, 0)
            console.print(f"{len(groups)} group(s), {len(cells)} cell(s) x {args.rounds} round(s)")
            run_cells(planned, store, resume=args.resume, retry_failed=args.retry_failed,
                      command_line=["sptx", *sys.argv[1:]], progress=True)
        if args.no_run:  # whatever the file holds for these groups, from any commit (ratios pair within one)
            group_keys = {s.key for s in settings.values()}
            records = [r for r in store.records() if r.get("group_key") in group_keys]
        else:
            keys = {c.key for c in plan_rounds(cells, args.rounds, 0)}
            records = [r for r in store.records() if r.get("cell_key") in keys]
        names = {g.name for g in groups}
        results = evaluate_targets(records, {name: s.key for name, s in settings.items()},
                                   [t for t in TARGETS if t.group in names], args.reference)
        _print_results(results, console)
        return exit_status(records, console) if records else 1


def _print_results(results, console) -> None:
    table = Table(title="SpMM performance targets (CPU, identical work unless said; whole step incl. optimizer)")
    for header in ("case", "before", "measured now [95% CI]", "against", "target", "result"):
        table.add_column(header, justify="left" if header in ("case", "against") else "right")
    for r in results:
        if r.value is None:
            measured = "-"
        else:
            unit = "x" if r.target.kind == "speedup" else ""
            measured = f"{r.value:.2f}{unit}" + (f" [{r.ci[0]:.2f}-{r.ci[1]:.2f}]" if r.ci else "")
        verdict = {True: "[green]pass[/green]", False: "[red]FAIL[/red]", None: f"[yellow]n/a[/yellow] {escape(r.note)}"}
        text = verdict[r.passed] + (" [yellow](noisy)[/yellow]" if r.noisy else "")
        table.add_row(escape(r.target.case), r.target.before or "-", measured, escape(r.binding),
                      f"{r.comparator} {r.target.threshold:g}", text)
    console.print(table)


def _fingerprint(dataset: str, data_dir: str | None) -> str:
    from harness.data import dataset_fingerprint

    return dataset_fingerprint(dataset, data_dir)
