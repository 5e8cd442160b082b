"""`sptx distributed`: data-parallel SpMM training on torch.distributed, launched by torchrun, with the
compute / communication split and the bytes of each gradient exchange strategy measured per step."""

from __future__ import annotations

import argparse
import random
import shlex
import sys
import uuid

from harness.cli.base import Command, add_data_dir_argument, make_console
from harness.errors import SptxError
from harness.settings import add_settings_arguments, available_cores

__all__ = ["DistributedCommand", "parse_strategies", "parse_world_sizes"]

BOTH = "both"  # the replicated strategies, dense and rowsparse (what it meant before `sharded` existed)
ALL = "all"


def parse_world_sizes(text: str) -> list[int]:
    """'1,2' -> [1, 2]: the numbers of processes to run, each at least 1."""
    try:
        sizes = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise SptxError(f"--nproc {text!r}: give process counts separated by commas, e.g. 1,2") from None
    if not sizes or min(sizes) < 1:
        raise SptxError(f"--nproc {text!r}: every process count must be at least 1")
    return sorted(set(sizes))


def parse_strategies(text: str) -> list[str]:
    """'dense,sharded' -> ['dense', 'sharded']; 'both': the replicated strategies; 'all': every strategy."""
    from harness.distributed.exchange import STRATEGIES

    if text == BOTH:
        return [name for name, cls in STRATEGIES.items() if cls.replicated]
    if text == ALL:
        return list(STRATEGIES)
    names = list(dict.fromkeys(part.strip() for part in text.split(",") if part.strip()))
    unknown = [n for n in names if n not in STRATEGIES]
    if unknown or not names:
        raise SptxError(f"--strategy {text!r}: give {', '.join(STRATEGIES)} (comma-separated), {BOTH} or {ALL}")
    return names


class DistributedCommand(Command):
    name = "distributed"
    help = "data-parallel SpMM training on torch.distributed (torchrun): compute vs communication per step"
    description = (
        "Trains the SpMM model data-parallel with 1..N processes started by torchrun (torch.distributed's "
        "elastic launcher; gloo on CPU, NCCL on CUDA with one GPU per LOCAL_RANK): every rank draws the same "
        "seeded global batches (--batch-size is the global batch) and trains on its own shard of each; the "
        "gradients are summed by the exchange strategy (dense: all-reduce of the whole tables; rowsparse: "
        "all-gather of the touched rows and their indices, then a local index_add) before the same Adam step on "
        "every rank; or (sharded) each rank owns a block of the entity rows and their row-sparse optimizer state, "
        "and all-to-alls move the ids, rows and row gradients each rank's shard needs. Measured per step: the slowest rank's compute, the communication on the critical path, "
        "bytes sent per rank; the parameters are checked to be identical on every rank at the end. Each "
        "(process count, strategy) runs once in fresh processes with the measuring environment of `compare` "
        "(pinned allocator, --threads per rank: by default the cores divided by the largest --nproc, so 2 "
        "processes on 2 cores get 1 thread each, and records say so) and appends one record to --out; a rank "
        "that dies fails the run within seconds with a one-line message. More processes x --threads than the cores "
        "this process may run on (its affinity mask) is refused unless --oversubscribe. Ctrl-C, SIGTERM or "
        "--time-limit stop every rank (torchrun starts each in a process group of its own; every one is killed and "
        "waited for) and the run's record says why (status killed, 'interrupted by SIGINT', or timeout); only this "
        "process appends to --out, once the run's processes are gone, so nothing is written after it exits. The "
        "worker can be started by torchrun directly (also on several nodes): --show-command prints the command."
    )

    @classmethod
    def add_arguments(cls, parser: argparse.ArgumentParser) -> None:
        from harness.distributed.exchange import STRATEGIES
        from harness.distributed.settings import add_distributed_arguments

        parser.add_argument("--nproc", default="1,2",
                            help="numbers of processes (ranks) to run, comma-separated; 1 gives the baseline of "
                                 "the scaling efficiency")
        parser.add_argument("--strategy", default=BOTH,
                            help="gradient exchange, one or several comma-separated: "
                                 + "; ".join(f"{n} = {c.summary}" for n, c in STRATEGIES.items())
                                 + f"; {BOTH} = dense and rowsparse in turn; {ALL} = every strategy in turn")
        add_distributed_arguments(parser, exclude=("world_size", "strategy"))
        add_data_dir_argument(parser)
        add_settings_arguments(parser)
        parser.add_argument("--out", default="results/distributed.jsonl", help="JSON Lines file the records are appended to")
        parser.add_argument("--rounds", type=int, default=3,
                            help="repetitions of every run, each in fresh processes, interleaved in a seeded order "
                                 "per round (the variance lives between processes)")
        parser.add_argument("--time-limit", type=float, default=600.0,
                            help="seconds per run (one process count and strategy) before every rank is killed")
        parser.add_argument("--oversubscribe", action="store_true",
                            help="run even when processes x threads exceed the available cores (one-line warning; "
                                 "the timings then measure contention, not scaling); refused without it")
        parser.add_argument("--show-command", action="store_true",
                            help="print the equivalent torchrun commands (this node, and several nodes) and exit")

    def run(self, args: argparse.Namespace) -> int:
        from dataclasses import replace

        from harness.cli.compare_cmd import check_device
        from harness.distributed.exchange import STRATEGIES
        from harness.distributed.launch import check_cores, launch, torchrun_command
        from harness.interrupts import Interrupted
        from harness.distributed.settings import distributed_from_args, resolve_backend
        from harness.settings import settings_from_args

        check_device(args.device)
        sizes = parse_world_sizes(args.nproc)
        if not args.time_limit > 0:
            raise SptxError("--time-limit must be positive")
        if args.rounds < 1:
            raise SptxError("--rounds must be at least 1")
        strategies = parse_strategies(args.strategy)
        threads = args.threads or max(1, available_cores() // max(sizes))
        settings = settings_from_args(args, threads=threads)
        for strategy in strategies:  # before anything starts: e.g. sharded with dense Adam
            if refusal := STRATEGIES[strategy].refusal(settings.optimizer):
                raise SptxError(refusal)
        base = distributed_from_args(args, world_size=1, strategy=strategies[0])
        base = replace(base, backend=resolve_backend(base.backend, settings.device))
        console = make_console()
        if args.show_command:
            self._show_commands(console, settings, base, max(sizes), args, torchrun_command)
            return 0
        warning = check_cores(max(sizes), settings.threads, allow=args.oversubscribe)
        if warning:
            print(f"sptx distributed: {warning}", file=sys.stderr)
        from harness.data.choice import choose_dataset
        from harness.data import dataset_fingerprint

        choice = choose_dataset(settings.dataset, args.data_dir, fallback_synthetic=False)
        settings = replace(settings, dataset=choice.name, dataset_sha256=dataset_fingerprint(choice.name, args.data_dir))
        run_id = uuid.uuid4().hex[:12]
        runs = [(strategy, size) for strategy in strategies for size in sizes]
        console.print(f"{settings.describe()}; global batch {settings.batch_size} split over the ranks; "
                      f"{settings.threads} thread(s) per rank; backend {base.backend}; {args.rounds} round(s) of: "
                      f"{', '.join(f'{s} x{p}' for s, p in runs)}", highlight=False)
        records = []
        try:
            for round_ in range(args.rounds):
                order = list(runs)
                random.Random(settings.seed * 1000 + round_).shuffle(order)
                for strategy, size in order:
                    dist_settings = replace(base, world_size=size, strategy=strategy)
                    where = f"  round {round_ + 1}/{args.rounds}, {strategy} with {size} process(es)"
                    console.print(f"{where}: running ...", highlight=False)
                    result = launch(settings, dist_settings, out=args.out, run_id=run_id, data_dir=args.data_dir,
                                    time_limit_s=args.time_limit, round_=round_, rounds=args.rounds)
                    record = result.record
                    records.append(record)
                    step = (record.get("time_ms") or {}).get("step", {}).get("median")
                    console.print(f"{where}: {record['status']} in {result.seconds:.0f} s"
                                  + (f", median step {step:.1f} ms" if step is not None else "")
                                  + (f": {record['message']}" if record["message"] else ""), highlight=False)
        except Interrupted as exc:  # every rank is gone and the run's record written: show what was done, then stop
            if exc.record is not None:
                records.append(exc.record)
            self._print_table(console, records)
            console.print(f"{len(records)} record(s) appended to {args.out}", highlight=False)
            raise
        self._print_table(console, records)
        console.print(f"{len(records)} record(s) appended to {args.out}; `sptx report {args.out}` draws the scaling "
                      "chart and the scaling model", highlight=False)
        failed = [r for r in records if r["status"] != "ok"]
        return 1 if failed else 0

    @staticmethod
    def _show_commands(console, settings, base, size, args, torchrun_command) -> None:
        from dataclasses import replace

        one_node = torchrun_command(settings, replace(base, world_size=size), out=args.out, run_id="RUN_ID",
                                    data_dir=args.data_dir, python="python")
        console.print("# this node (what sptx distributed runs, once per strategy and process count):", highlight=False)
        console.print(shlex.join(one_node), highlight=False, soft_wrap=True)
        worker = one_node[one_node.index("-m", 3):]
        console.print("# several nodes (run on every node; NCCL on GPUs with --device cuda):", highlight=False)
        console.print(shlex.join(["torchrun", "--nnodes", "NNODES", "--nproc-per-node", "GPUS_PER_NODE",
                                  "--rdzv-backend", "c10d", "--rdzv-endpoint", "HOST:29500", "--rdzv-id", "RUN_ID",
                                  *worker]), highlight=False, soft_wrap=True)

    @staticmethod
    def _print_table(console, records) -> None:
        from rich.table import Table

        from harness.report.distributed import scaling_table

        frame = scaling_table(records)
        if frame.empty:
            return
        table = Table(title="per step, slowest rank: median of the rounds' medians; spread = range of the round "
                            "medians (one round: 95% CI over steps)")
        for header in ("strategy", "processes", "status", "rounds ok", "step ms [spread]", "compute ms", "communication ms",
                       "sent MiB/rank", "peak RSS MiB/rank", "efficiency"):
            table.add_column(header, justify="left" if header in ("strategy", "status") else "right")
        for _, row in frame.iterrows():
            ok = row["status"] == "ok"
            step = _number(row["step_ms"], ".1f", ok)
            if step != "-":
                step += f" [{_number(row['step_low_ms'], '.1f')}-{_number(row['step_high_ms'], '.1f')}]"
            sent = row["sent_bytes_per_step"]
            table.add_row(row["strategy"], str(row["world_size"]), row["status"], f"{row['rounds_ok']}/{row['rounds']}",
                          step, _number(row["compute_ms"], ".1f", ok), _number(row["communicate_ms"], ".1f", ok),
                          _number(sent / 2**20 if _known(sent) else None, ".2f", ok),
                          _number(row["peak_rss_bytes"] / 2**20 if _known(row["peak_rss_bytes"]) else None, ",.0f", ok),
                          # unknown without an ok 1-process run of the same settings and strategy
                          _number(row["efficiency"], ".2f", ok))
        console.print(table)
        if frame["disturbed"].fillna(False).astype(bool).any():
            console.print("  warning: other processes used the CPU during some runs (see the records' load); "
                          "repeat on a quiet machine before trusting the split", highlight=False)


def _known(value) -> bool:
    """A number to show: not None and not NaN (pandas holds a missing value as either)."""
    return value is not None and value == value


def _number(value, spec: str, ok: bool = True) -> str:
    """`value` formatted with `spec`, or "-" where the run failed or the value is unknown."""
    return format(value, spec) if ok and _known(value) else "-"
