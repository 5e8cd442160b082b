"""`sptx scale`: how a step's time and memory grow with the number of entities, at a fixed batch, for every
framework and optimizer, measured as `compare` measures (fresh processes, interleaved rounds)."""

from __future__ import annotations

import argparse
import sys

from rich.markup import escape
from rich.table import Table

from harness.cli.base import Command, add_data_dir_argument, make_console
from harness.cli.compare_cmd import (add_execution_arguments, check_execution_arguments, comma_list, execution_cell,
                                     exit_status, parse_frameworks, print_rounds_outcome, round_runner, wide_speedups)
from harness.data.synthetic import parse_count
from harness.errors import SptxError
from harness.optim import OPTIMIZERS

__all__ = ["ScaleCommand", "graph_names"]

DEFAULT_SIZES = "FB15k-237,125k,1M,4M"


def graph_names(sizes: list[str], relations: int, triples_per_entity: int) -> list[str]:
    """Each size as a dataset name: an entity count (125k, 1M) becomes a seeded synthetic graph with
    `relations` relations and `triples_per_entity` training triples per entity; anything else is a dataset
    name as --dataset takes it (registry name, synthetic:NAME or a folder)."""
    out = []
    for size in sizes:
        if size[:1].isdigit():
            entities = parse_count("entities", size, "--sizes")
            out.append(f"synthetic:entities={entities},relations={relations},triples={entities * triples_per_entity}")
        else:
            out.append(size)
    return out


class ScaleCommand(Command):
    name = "scale"
    help = "measure step time and memory against the number of entities, per framework and optimizer"
    description = (
        "Runs the same work (the run settings below; default TransE, d=128, B=32,768 + 1 negative) on graphs of "
        "increasing size: --sizes lists entity counts (seeded synthetic graphs with --relations relations and "
        "--triples-per-entity training triples per entity) or dataset names; every framework in --frameworks "
        "with every optimizer in --optimizers (a framework that cannot run one gives an unsupported record), in "
        "fresh processes and interleaved rounds as `compare`. Prints, per framework and optimizer, the step time "
        "at each size, its growth over the smallest graph (median of paired per-round ratios, 95% CI), the phase "
        "that grew most, the process's peak resident memory and the step's live-tensor peak; then sparse's "
        "speedup over each framework per size; then issue 19's targets, each as measured by every record in --out "
        "(met / not met from the 95% CI, or which run is missing). Give big graphs --memory-limit-mb."
    )

    @classmethod
    def add_arguments(cls, parser: argparse.ArgumentParser) -> None:
        from harness.settings import add_settings_arguments

        parser.add_argument("--sizes", default=DEFAULT_SIZES,
                            help="comma-separated entity counts (k/M suffixes) or dataset names, smallest first")
        parser.add_argument("--relations", type=int, default=1000, help="relations of the synthetic graphs")
        parser.add_argument("--triples-per-entity", type=int, default=5,
                            help="training triples per entity of the synthetic graphs")
        add_data_dir_argument(parser)
        parser.add_argument("--frameworks", default="sparse,gather", help="comma-separated frameworks")
        parser.add_argument("--optimizers", default="adam-fused,adam-lazy,adagrad-rowwise",
                            help="comma-separated optimizers (" + ", ".join(OPTIMIZERS) + ")")
        add_settings_arguments(parser, exclude=("dataset", "optimizer"))
        add_execution_arguments(parser, interleave="processes")
        parser.add_argument("--out", default="results/scale.jsonl", help="JSON Lines file the records are appended to")
        parser.add_argument("--report", default=None, metavar="DIR",
                            help="also write the tables (README.md, CSV) and log-log charts of step time and memory "
                                 "against entities to DIR")
        parser.add_argument("--no-run", action="store_true", help="only print (and --report) the records already in --out")

    def run(self, args: argparse.Namespace) -> int:
        from harness.data.loader import dataset_fingerprint
        from harness.records.store import ResultsStore
        from harness.report.scale import (best_speedup_by_size, growth_table, speedup_by_size, target_table,
                                           write_scale_report)
        from harness.runner import run_rounds
        from harness.settings import settings_from_args

        policy = check_execution_arguments(args)
        frameworks = parse_frameworks(args.frameworks)
        optimizers = comma_list(args.optimizers, "--optimizers")
        unknown = [o for o in optimizers if o not in OPTIMIZERS]
        if unknown:
            raise SptxError(f"unknown optimizer(s) {', '.join(unknown)}; known: {', '.join(OPTIMIZERS)}")
        if args.relations < 1 or args.triples_per_entity < 1:
            raise SptxError("--relations and --triples-per-entity must be at least 1")
        datasets = graph_names(comma_list(args.sizes, "--sizes"), args.relations, args.triples_per_entity)
        console = make_console()
        cells = []
        for dataset in datasets:
            fingerprint = dataset_fingerprint(dataset, args.data_dir)
            for optimizer in optimizers:
                settings = settings_from_args(args, dataset=dataset, dataset_sha256=fingerprint, optimizer=optimizer,
                                              mode="native" if args.native else "identical")
                cells += [execution_cell(args, framework, settings) for framework in frameworks]
        console.print(f"{len(datasets)} graph(s) x {len(optimizers)} optimizer(s) x {len(frameworks)} framework(s); "
                      f"{policy.describe()}")
        store = ResultsStore(args.out)
        outcome = None
        if not args.no_run:
            outcome = run_rounds(cells, store, policy, wide_speedups(store, "sparse", policy.ci_target),
                                 run_cells=round_runner(args), seed=cells[0].settings.seed, resume=args.resume,
                                 retry_failed=args.retry_failed, command_line=["sptx", *sys.argv[1:]], progress=True)
        groups = {c.group_key for c in cells}
        records = [r for r in store.records() if r.get("group_key") in groups]
        _print_frame(console, "Step time and memory against graph size", growth_table(records))
        _print_frame(console, "sparse's speedup per graph and optimizer", speedup_by_size(records))
        _print_frame(console, "sparse with its fastest optimizer vs each framework with its fastest",
                     best_speedup_by_size(records))
        every = list(store.records())  # the targets span invocations (the 16M graph runs at another dimension)
        _print_frame(console, f"Issue 19's targets, target by target (every record in {store.path})",
                     target_table(every))
        if args.report:
            describe = (f"{cells[0].settings.model}, d={cells[0].settings.dim}, B={cells[0].settings.batch_size:,} + "
                        f"{cells[0].settings.num_negatives} negative(s), {cells[0].settings.threads} thread(s)")
            for path in write_scale_report(every, args.report, describe):
                console.print(f"report: {path}")
        if outcome is None:
            return 0
        print_rounds_outcome(outcome, policy, console)
        console.print(f"{len(outcome.records)} record(s) appended to {store.path}")
        return exit_status(records, console)


def _print_frame(console, title: str, frame) -> None:
    table = Table(title=title)
    if frame.empty:
        console.print(f"{title}: no ok records")
        return
    for column in frame.columns:
        table.add_column(str(column), justify="left" if frame[column].dtype == object else "right")
    for row in frame.itertuples(index=False):
        table.add_row(*("-" if v is None or v != v else (f"{v:,.2f}" if isinstance(v, float) else escape(str(v)))
                        for v in row))
    console.print(table)
