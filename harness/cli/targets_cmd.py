"""`sptx targets`: run the cells behind the performance targets (harness/report/targets.py) in
interleaved rounds, as `compare` does, and print each target as measured now: pass or fail."""

from __future__ import annotations

import argparse
import sys

from rich.markup import escape
from rich.table import Table

from harness.cli.base import Command, add_data_dir_argument, make_console
from harness.cli.compare_cmd import (add_execution_arguments, check_execution_arguments, execution_cell, exit_status,
                                     print_rounds_outcome, round_runner, wide_speedups)

__all__ = ["TargetsCommand"]


class TargetsCommand(Command):
    name = "targets"
    help = "measure the SpMM performance targets (speedups, memory, roofline) and print pass/fail per target"
    description = (
        "Runs every comparison group the targets need (TransE d=128 and d=1024, TransE native vs PyKEEN, "
        "synthetic YAGO3-10, TransR, TransH, TorusE, DistMult, ComplEx and RotatE; see harness/report/targets.py) "
        "in --rounds interleaved "
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
        add_execution_arguments(parser, time_budget_s=3600.0)
        parser.add_argument("--no-run", action="store_true", help="only evaluate the records already in --out")
        parser.add_argument("--out", default="results/targets.jsonl", help="JSON Lines file the records go to")

    def run(self, args: argparse.Namespace) -> int:
        from harness.errors import SptxError
        from harness.records.store import ResultsStore
        from harness.report.targets import GROUPS, TARGETS, evaluate_targets
        from harness.runner import run_rounds
        from harness.settings import RunSettings, check_threads

        policy = check_execution_arguments(args)
        if args.native:
            raise SptxError("--native does not apply: each target group sets its own mode (see --help)")
        wanted = [g.strip() for g in args.groups.split(",") if g.strip()]
        unknown = sorted(set(wanted) - {g.name for g in GROUPS})
        if unknown:
            raise SptxError(f"unknown group(s) {', '.join(unknown)}; known: {', '.join(g.name for g in GROUPS)}")
        groups = [g for g in GROUPS if not wanted or g.name in wanted]
        console = make_console()
        check_threads(args.threads)
        if args.no_run:
            return _evaluate_recorded(args, groups, console)
        settings = {g.name: RunSettings(**g.settings, dataset_sha256=_fingerprint(g.settings["dataset"], args.data_dir),
                                        steps=args.steps, threads=args.threads) for g in groups}
        cells = [execution_cell(args, framework, settings[g.name], options)
                 for g in groups for framework, options in g.cells]
        store = ResultsStore(args.out)
        console.print(f"{len(groups)} group(s), {len(cells)} cell(s) x {policy.describe()}")
        outcome = run_rounds(cells, store, policy, wide_speedups(store, args.reference, policy.ci_target),
                             run_cells=round_runner(args), resume=args.resume, retry_failed=args.retry_failed,
                             command_line=["sptx", *sys.argv[1:]], progress=True)
        keys = {c.key for c in outcome.planned}
        records = [r for r in store.records() if r.get("cell_key") in keys]
        print_rounds_outcome(outcome, policy, console)
        names = {g.name for g in groups}
        results = evaluate_targets(records, {name: s.key for name, s in settings.items()},
                                   [t for t in TARGETS if t.group in names], args.reference)
        _print_results(results, console)
        return exit_status(records, console) if records else 1


def _evaluate_recorded(args: argparse.Namespace, groups: list, console) -> int:
    """--no-run: evaluate the targets on the records already in --out, reading records only (no dataset)."""
    from harness.records.store import read_records
    from harness.report.targets import TARGETS, evaluate_targets
    from harness.settings import RunSettings

    settings = {g.name: RunSettings(**g.settings, steps=args.steps, threads=args.threads) for g in groups}
    everything = read_records([args.out])
    group_keys = _recorded_group_keys(everything, settings)
    records = [r for r in everything if r.get("group_key") in set(group_keys.values())]
    names = {g.name for g in groups}
    results = evaluate_targets(records, group_keys, [t for t in TARGETS if t.group in names], args.reference)
    _print_results(results, console)
    return exit_status(records, console) if records else 1


def _recorded_group_keys(records: list[dict], settings: dict) -> dict[str, str]:
    """Each group's newest group_key among records whose settings equal the group's, whatever the hash of the
    dataset files they were measured on: --no-run selects records without reading any dataset (from any
    commit; ratios pair within one group_key)."""
    from harness.errors import SptxError
    from harness.settings import RunSettings

    wanted = {name: _identity(s.to_dict()) for name, s in settings.items()}
    keys: dict[str, str] = {}
    for record in records:
        raw = record.get("settings")
        if not isinstance(raw, dict) or "group_key" not in record:
            continue
        try:
            identity = _identity(RunSettings.from_dict(raw).to_dict())
        except (SptxError, TypeError, ValueError):
            continue
        for name, want in wanted.items():
            if identity == want:
                keys[name] = record["group_key"]
    return keys


def _identity(settings: dict) -> dict:
    """Settings without the dataset files' hash (derived from files --no-run does not read)."""
    return {k: v for k, v in settings.items() if k != "dataset_sha256"}


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
