"""`sptx sweep`: the paper reproduction grid (or a user's TOML grid) at a chosen scale."""

from __future__ import annotations

import argparse
import sys
import time

from harness.cli.base import Command, add_data_dir_argument, make_console
from harness.cli.compare_cmd import check_device
from harness.errors import SptxError

__all__ = ["SweepCommand"]


class SweepCommand(Command):
    name = "sweep"
    help = "run a grid of datasets x models x frameworks (the paper's, or a TOML file) into a results file"
    description = (
        "Runs every cell of a grid, each in a fresh process with a time limit, appending one record per cell "
        "to --out as soon as it is measured. GRID is `paper` (the built-in reproduction grid: seven datasets x "
        "four models x the frameworks that support each) or a TOML file in the same format. Scales: `paper` = "
        "the paper's dims and batch sizes; `quick` = reduced, the CPU grid in about 30 minutes on 2 cores; "
        "`smoke` = a few minutes. Datasets without files run on their synthetic stand-ins, labelled as such. "
        "Ctrl-C loses no finished cell: rerun with --resume."
    )

    @classmethod
    def add_arguments(cls, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("grid", help="`paper` or a path to a grid TOML file")
        parser.add_argument("--scale", default="quick", help="scale defined in the grid: smoke, quick or paper")
        parser.add_argument("--device", default="cpu", help="torch device: cpu, cuda or cuda:N")
        add_data_dir_argument(parser)
        parser.add_argument("--out", default=None, help="results file (default: results/<grid>-<device>-<scale>.jsonl)")
        parser.add_argument("--resume", action="store_true", help="skip cells that already have a record in --out")
        parser.add_argument("--retry-failed", action="store_true",
                            help="with --resume, measure again the cells whose record is error, timeout, oom or killed")
        parser.add_argument("--models", default=None, help="comma-separated subset of the grid's models")
        parser.add_argument("--frameworks", default=None, help="comma-separated subset of the grid's frameworks")
        parser.add_argument("--datasets", default=None, help="comma-separated subset of the grid's datasets")
        parser.add_argument("--rounds", type=int, default=None,
                            help="interleaved rounds per comparison group (default: the scale's `rounds`, else 1)")
        parser.add_argument("--dry-run", action="store_true", help="list the cells and exit")

    def run(self, args: argparse.Namespace) -> int:
        from pathlib import Path

        from harness.cli.compare_cmd import exit_status
        from harness.data import dataset_fingerprint
        from harness.data.choice import choose_dataset
        from harness.records.environment import git_commit
        from harness.records.store import ResultsStore
        from harness.runner import plan_rounds, run_cells
        from harness.sweep import grid_cells, grid_rounds, load_grid, scale_datasets

        check_device(args.device)
        grid = load_grid(args.grid)
        if args.scale not in grid.scales:
            raise SptxError(f"{grid.source} has no scale {args.scale!r}; it has: {', '.join(grid.scales)}")
        console = make_console()
        datasets = scale_datasets(grid, args.scale)
        if args.datasets:
            wanted = list(dict.fromkeys(d.strip() for d in args.datasets.split(",") if d.strip()))
            missing = [d for d in wanted if d not in datasets]
            if missing or not wanted:
                raise SptxError(f"--datasets {args.datasets!r}: choose from this grid and scale: {', '.join(datasets)}")
            datasets = tuple(wanted)
        measured: dict[str, tuple[str, str]] = {}
        for dataset in datasets:
            choice = choose_dataset(dataset, args.data_dir, grid.fallback_synthetic)
            measured[dataset] = (choice.name, dataset_fingerprint(choice.name, args.data_dir))
            if choice.notice:
                console.print(f"[yellow]note:[/yellow] {choice.notice}")
        cells = grid_cells(grid, args.scale, args.device, args.data_dir, measured, git_commit() or "unknown")
        cells = _filter(cells, "model", args.models)
        cells = _filter(cells, "framework", args.frameworks)
        if not cells:
            raise SptxError("no cells left to run after the filters")
        rounds = args.rounds if args.rounds is not None else grid_rounds(grid, args.scale)
        if rounds < 1:
            raise SptxError("--rounds must be at least 1")
        groups: dict[str, list] = {}
        for cell in cells:
            groups.setdefault(cell.group_key, []).append(cell)
        planned = [c for group in groups.values() for c in plan_rounds(group, rounds, group[0].settings.seed)]
        out = Path(args.out or f"results/{Path(args.grid).stem}-{args.device.replace(':', '')}-{args.scale}.jsonl")
        if args.dry_run:
            for cell in planned:
                console.print(cell.label)
            console.print(f"{len(planned)} cells ({len(groups)} comparison groups x frameworks x {rounds} round(s))")
            return 0
        console.print(f"sweep {grid.source}, scale {args.scale}: {len(planned)} cells "
                      f"({len(groups)} comparison groups, {rounds} round(s)) -> {out}")
        started = time.perf_counter()
        store = ResultsStore(out)
        try:
            summary = run_cells(planned, store, resume=args.resume, retry_failed=args.retry_failed,
                                command_line=["sptx", *sys.argv[1:]])
        except KeyboardInterrupt:
            console.print(f"[yellow]interrupted[/yellow]: finished cells are in {out}; continue with --resume")
            return 130
        wall = time.perf_counter() - started
        console.print(f"{len(summary.records)} cells measured in {wall / 60:.1f} min"
                      + (f"; {len(summary.skipped)} already done" if summary.skipped else "")
                      + f". Report: sptx report {out} --out reports/{out.stem}/")
        return exit_status([r.to_dict() for r in summary.records], console)


def _filter(cells: list, attribute: str, wanted: str | None) -> list:
    if not wanted:
        return cells
    names = {w.strip() for w in wanted.split(",") if w.strip()}
    get = (lambda c: c.framework) if attribute == "framework" else (lambda c: getattr(c.settings, attribute))
    known = {get(c) for c in cells}
    unknown = names - known
    if unknown or not names:
        raise SptxError(f"--{attribute}s: {', '.join(sorted(unknown)) or 'empty'} not in this grid ({', '.join(sorted(known))})")
    return [c for c in cells if get(c) in names]
