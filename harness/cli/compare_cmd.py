"""`sptx compare`: one model on one dataset and device across frameworks, on identical work, measured
in interleaved rounds of fresh processes; speedups are medians of paired per-round ratios with CIs."""

from __future__ import annotations

import argparse
import math
import sys
from typing import TYPE_CHECKING, Any, Mapping

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from baselines import FRAMEWORKS
from harness.cli.base import Command, add_data_dir_argument, make_console
from harness.errors import SptxError
from harness.records.schema import Status
from harness.settings import add_settings_arguments

if TYPE_CHECKING:
    from harness.records.store import ResultsStore
    from harness.runner.cell import Cell
    from harness.runner.rounds import RoundPolicy, RoundsOutcome, StabilityCheck

__all__ = ["CompareCommand", "EXPLAIN_LABELS", "add_execution_arguments", "check_device", "check_execution_arguments",
           "exit_status", "print_comparison", "print_rounds_outcome", "round_runner", "wide_speedups"]

# --explain: the cells that split sparse's speedup over TorchKGE into its parts, in order.
EXPLAIN_CELLS: tuple[tuple[str, dict[str, str]], ...] = (
    ("torchkge", {}), ("gather", {"normalize": "rows"}), ("gather", {"normalize": "table"}),
    ("sparse", {"backend": "segment"}), ("sparse", {"backend": "fused"}))
EXPLAIN_LABELS = ("torchkge", "gather[normalize=rows]", "gather", "sparse[segment]", "sparse[fused]")
EXPLAIN_PARTS = (
    "TorchKGE's own implementation (vs. the same math gathered by us, rows normalised as TorchKGE does)",
    "normalising the entity table once per step instead of every gathered row",
    "SpMM over the incidence matrix instead of gathers and scatter-adds",
    "one fused kernel for loss and gradients instead of SpMM and separate elementwise kernels",
)


def add_execution_arguments(parser: argparse.ArgumentParser, time_budget_s: float = 1800.0,
                            interleave: str = "steps") -> None:
    """How cells are executed: rounds, limits, optional passes, resume (shared by compare, targets and scale)."""
    parser.add_argument("--rounds", default="auto",
                        help="interleaved rounds: each runs every framework once, in a fresh seeded order, each in "
                             "its own process; speedups are medians of per-round ratios. `auto` (the default) runs "
                             "--min-rounds, then adds rounds until every speedup's 95%% CI is within --ci-target of "
                             "its median, --max-rounds ran or --time-budget is spent (then it names the ratios "
                             "still wide); a number runs exactly that many")
    parser.add_argument("--min-rounds", type=int, default=3, help="with --rounds auto: rounds before the first check")
    parser.add_argument("--max-rounds", type=int, default=20, help="with --rounds auto: the most rounds to run")
    parser.add_argument("--time-budget", type=float, default=time_budget_s, metavar="SECONDS",
                        help="with --rounds auto: add no round that would end after this many seconds")
    parser.add_argument("--ci-target", type=float, default=0.05,
                        help="with --rounds auto: the widest 95%% CI half-width accepted, as a fraction of the "
                             "speedup (0.05 = +-5%%)")
    parser.add_argument("--interleave", default=interleave, choices=("steps", "processes"),
                        help="how a round's frameworks share the machine: steps = every framework's process started "
                             "together, their measured steps taken in turns (a machine that drifts within seconds "
                             "drifts for all alike; needs every framework of a comparison in memory at once); "
                             f"processes = one process after another (default: {interleave})")
    parser.add_argument("--reference", default="sparse",
                        help="what speedups are relative to: a framework (its default options) or a label like "
                             "sparse[torch]")
    parser.add_argument("--native", action="store_true",
                        help="let each framework use its own native step where it has one (default: identical work)")
    parser.add_argument("--time-limit", type=float, default=600.0, help="seconds per cell before it is recorded as timeout")
    parser.add_argument("--memory-limit-mb", type=int, default=None,
                        help="cap on the resident memory of each measuring process, in MiB: the parent stops a cell "
                             "that goes over it and records it as oom (use it on big graphs: the OOM killer picks its "
                             "own victim)")
    parser.add_argument("--no-flops", action="store_true", help="skip FLOP counting (done in round 1 only)")
    parser.add_argument("--no-memory", action="store_true", help="skip the live-tensor memory pass (round 1 only)")
    parser.add_argument("--resume", action="store_true", help="skip cells that already have a record in --out")
    parser.add_argument("--retry-failed", action="store_true",
                        help="with --resume, measure again the cells whose record is error, timeout, oom or killed")


def comma_list(text: str, flag: str, hint: str = "") -> list[str]:
    """The distinct non-empty comma-separated names an option gives, in order; a one-line error for none."""
    names = list(dict.fromkeys(name.strip() for name in text.split(",") if name.strip()))
    if not names:
        raise SptxError(f"{flag} is empty{hint}")
    return names


def parse_frameworks(text: str) -> list[str]:
    """--frameworks as registered framework names; a one-line error for none or an unknown one."""
    frameworks = comma_list(text, "--frameworks", "; name at least one of " + ", ".join(FRAMEWORKS))
    unknown = [f for f in frameworks if f not in FRAMEWORKS]
    if unknown:
        raise SptxError(f"unknown framework(s) {', '.join(unknown)}; known: {', '.join(FRAMEWORKS)}")
    return frameworks


def execution_cell(args: argparse.Namespace, framework: str, settings: Any,
                   options: Mapping[str, Any] | None = None) -> "Cell":
    """A cell of `framework` (with `options`) under RunSettings `settings`, with the execution options the command
    was given (add_execution_arguments: time and memory limits, the FLOP and memory passes)."""
    from harness.runner import make_cell

    limit = None if args.memory_limit_mb is None else args.memory_limit_mb * 2**20
    return make_cell(framework, options=dict(options or {}), data_dir=args.data_dir, time_limit_s=args.time_limit,
                     memory_limit_bytes=limit, measure_flops=not args.no_flops, measure_memory=not args.no_memory,
                     **settings.to_dict())


def check_execution_arguments(args: argparse.Namespace) -> "RoundPolicy":
    """One-line errors for execution options out of range; the round policy they describe."""
    from harness.runner.rounds import RoundPolicy, parse_rounds

    if not args.time_limit > 0:
        raise SptxError("--time-limit must be positive")
    if args.memory_limit_mb is not None and args.memory_limit_mb < 1:
        raise SptxError("--memory-limit-mb must be at least 1")
    return RoundPolicy(fixed=parse_rounds(str(args.rounds)), min_rounds=args.min_rounds, max_rounds=args.max_rounds,
                       time_budget_s=args.time_budget, ci_target=args.ci_target)


def round_runner(args: argparse.Namespace):
    """What measures one round's cells: in lockstep (--interleave steps) or one process after another."""
    from harness.runner.lockstep import run_cells_lockstep
    from harness.runner.run import run_cells

    return run_cells_lockstep if args.interleave == "steps" else run_cells


def wide_speedups(store: "ResultsStore", reference: str, ci_target: float) -> "StabilityCheck":
    """The check `--rounds auto` runs after each round: the speedups among the planned cells' records whose
    95% CI is wider than `ci_target` of the median, or that rest on fewer than 3 rounds. Failed cells
    (never a ratio) are not waited for."""
    from harness.measure.timing import RatioStats
    from harness.report.tables import comparison_table
    from harness.runner.rounds import WideRatio

    def check(planned) -> list:
        keys = {c.key for c in planned}
        latest = {r["cell_key"]: r for r in store.records() if r.get("cell_key") in keys}
        frame = comparison_table(list(latest.values()), reference)
        wide = []
        for _, row in frame.iterrows():
            if row["status"] != "ok" or row["label"] == row["reference_label"]:
                continue
            median = row["speedup_of_sparse"]
            if median is None or median != median:
                continue
            stats = RatioStats(float(median), float(row["speedup_ci_low"]), float(row["speedup_ci_high"]),
                               int(row["speedup_rounds"]))
            if stats.wider_than(ci_target):
                wide.append(WideRatio(str(row["label"]), stats))
        return wide

    return check


def print_rounds_outcome(outcome: "RoundsOutcome", policy: "RoundPolicy", console: Console) -> None:
    """With --rounds auto: how many rounds ran and why they stopped; the ratios still wide, by name."""
    if not policy.auto:
        return
    if outcome.stopped == "stable":
        console.print(f"rounds: {outcome.rounds} (every speedup's 95% CI within +-{policy.ci_target:.0%})")
        return
    console.print(f"[yellow]rounds: {outcome.rounds}, stopped at the {outcome.stopped}[/yellow] "
                  f"(--max-rounds {policy.max_rounds}, --time-budget {policy.time_budget_s:g} s); still wider than "
                  f"+-{policy.ci_target:.0%}:")
    for ratio in outcome.wide:
        console.print(f"  {escape(ratio.describe())}")


def check_device(device: str) -> None:
    """A clear error for a device this machine does not have."""
    import torch

    if device.startswith("cuda") and not torch.cuda.is_available():
        raise SptxError(f"--device {device}: no CUDA device is available on this machine (torch {torch.__version__})")
    if not (device == "cpu" or device.startswith("cuda")):
        raise SptxError(f"--device {device}: use cpu, cuda or cuda:N")


def _num(value, fmt: str) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return format(value, fmt)


def _speedup_text(row) -> str:
    if row["status"] != "ok" or row["speedup_of_sparse"] is None or row["speedup_of_sparse"] != row["speedup_of_sparse"]:
        return "-"
    if row["label"] == row["reference_label"]:
        return "1.00x (ref)"
    text = f"{row['speedup_of_sparse']:.2f}x"
    if row["speedup_rounds"] > 1:
        text += f" [{row['speedup_ci_low']:.2f}-{row['speedup_ci_high']:.2f}]"
    if row["speedup_rounds_excluded"]:
        text += f" ({row['speedup_rounds_excluded']} disturbed round(s) left out)"
    return text + (" [red]noisy[/red]" if row["speedup_noisy"] else "")


def _ms_text(wall, cpu, threads: int) -> str:
    """Wall ms, with CPU ms per thread beside it when the two differ by more than 20% (a phase that keeps
    fewer threads busy than it has, or one that waits on the system); not for phases under 0.5 ms."""
    text = _num(wall, ".1f")
    if wall and wall >= 0.5 and cpu is not None and cpu == cpu and abs(cpu / threads - wall) > 0.2 * wall:
        text += f" (cpu/thr {cpu / threads:.1f})"
    return text


def print_comparison(records: list[dict], console: Console, title: str, reference: str = "sparse") -> None:
    """The per-framework table: ms per phase (wall; CPU where it differs), paired-round speedup with its
    CI, the step's distance from the memory roof (step time / (least bytes / triad bandwidth)), memory,
    FLOPs, and why cells failed or are noisy. `cpu/thr` = CPU ms / threads, shown beside the wall time
    where they differ by over 20%."""
    from harness.report.tables import comparison_table

    frame = comparison_table(records, reference)
    table = Table(title=title)
    headers = ("framework", "status", "rounds", "prepare ms", "forward ms", "backward ms", "optimizer ms", "step ms",
               "step 95% CI", f"speedup of {reference} [95% CI]", "x roofline", "peak mem MiB", "mem ratio",
               "model GFLOP", "executed GFLOP")
    for h in headers:
        table.add_column(h, justify="left" if h in ("framework", "status") else "right")
    notes = []
    for _, row in frame.iterrows():
        ok = row["status"] == "ok"
        ci = "-" if not ok else f"{row['step_ci_low_ms']:.1f}-{row['step_ci_high_ms']:.1f}"
        table.add_row(
            escape(row["label"]), row["status"], f"{row['rounds_ok']}/{row['rounds']}",
            *(_ms_text(row[f"{p}_ms"], row[f"{p}_cpu_ms"], int(row["threads"] or 1))
              for p in ("prepare", "forward", "backward", "optimizer", "step")),
            ci, _speedup_text(row), _num(row["over_roofline"], ".1f"),
            _num(None if row["peak_memory_bytes"] is None else row["peak_memory_bytes"] / 2**20, ",.1f"),
            _num(row["memory_ratio_vs_sparse"], ".2f"),
            _num(None if row["flops_model"] is None else row["flops_model"] / 1e9, ",.2f"),
            _num(None if row["flops_executed"] is None else row["flops_executed"] / 1e9, ",.2f"),
        )
        if row["message"]:
            notes.append(escape(f"{row['label']}: {row['message']}"))
        if row["noisy_reasons"]:
            notes.append(escape(f"{row['label']} may be off: {row['noisy_reasons']}"))
    console.print(table)
    for note in notes:
        console.print(f"  [dim]{note}[/dim]")
    if frame["speedup_noisy"].fillna(False).astype(bool).any():
        console.print("  [yellow]noisy[/yellow] = the speedup's 95% CI is wider than +-10%, rests on fewer than 3 "
                      "rounds, or every round was disturbed by other processes: repeat with more --rounds on a "
                      "quieter machine before trusting it")
    if frame["noisy_reasons"].fillna("").astype(bool).any():
        console.print("  [yellow]warning:[/yellow] the machine was busy during some cells (see above); rounds "
                      "disturbed by other processes are left out of the speedups where undisturbed ones exist")


def print_explanation(records: list[dict], console: Console) -> None:
    """Split sparse's log-speedup over TorchKGE into the parts measured by the --explain cells."""
    from harness.report.tables import comparison_table

    frame = comparison_table(records, EXPLAIN_LABELS[-1])
    steps = {row["label"]: row["speedup_of_sparse"] for _, row in frame.iterrows() if row["status"] == "ok"}
    if any(steps.get(label) is None for label in EXPLAIN_LABELS):
        console.print("[yellow]--explain:[/yellow] not every ablation cell ran ok; no breakdown")
        return
    ratios = [steps[a] / steps[b] for a, b in zip(EXPLAIN_LABELS, EXPLAIN_LABELS[1:])]
    total = math.log(steps["torchkge"])
    console.print(f"Where {escape(EXPLAIN_LABELS[-1])}'s {steps['torchkge']:.2f}x over TorchKGE comes from (shares of the log-speedup; "
                  "each factor is a ratio of the cells' paired speedups):")
    for part, ratio in zip(EXPLAIN_PARTS, ratios):
        share = math.log(ratio) / total if total else float("nan")
        console.print(f"  {ratio:5.2f}x  {share:6.0%}  {part}")


def exit_status(records: list[dict], console: Console) -> int:
    """1 when any cell failed (error, timeout, oom, killed), with a summary line of statuses; else 0."""

    counts: dict[str, int] = {}
    for record in records:
        counts[record["status"]] = counts.get(record["status"], 0) + 1
    console.print("statuses: " + ", ".join(f"{n} {s}" for s, n in sorted(counts.items())))
    return 1 if any(s in Status.failures() for s in counts) else 0


class CompareCommand(Command):
    name = "compare"
    help = "compare one model across frameworks on identical work (time per phase, memory, FLOPs)"
    description = (
        "Runs every framework in --rounds interleaved rounds (a fresh seeded order per round), each cell in a "
        "fresh process with the same thread count and allocator: the same batches, negatives, initial "
        "parameters, loss and optimizer for every framework (unless --native). Prints per-phase median times "
        "(wall; CPU time beside where they differ by over 20%), the speedup of the reference over each "
        "framework as the median of paired per-round ratios with a bootstrap 95% CI, peak memory and FLOPs, "
        "and appends one record per cell and round to --out. Without dataset files, the default FB15k-237 "
        "falls back to another real dataset or a synthetic stand-in, and says so."
    )

    @classmethod
    def add_arguments(cls, parser: argparse.ArgumentParser) -> None:
        from sparse_impl.backends import BACKENDS, DEFAULT_BACKEND

        parser.add_argument("--dataset", default=None,
                            help="registry name, synthetic:NAME or a folder (default: FB15k-237 where its files are "
                                 "found, else a fallback the command names)")
        add_data_dir_argument(parser)
        parser.add_argument("--frameworks", default=",".join(FRAMEWORKS), help="comma-separated frameworks to compare")
        parser.add_argument("--backend", default=DEFAULT_BACKEND,
                            help=f"SpMM backend(s) of `sparse`, comma-separated ({', '.join(BACKENDS)})")
        parser.add_argument("--compile", default="", metavar="FRAMEWORKS",
                            help="also measure these frameworks (comma-separated, or `all`) with their forward and "
                                 "backward under torch.compile, as variants labelled e.g. gather[compiled]; compile "
                                 "time falls in the warm-up steps")
        parser.add_argument("--explain", action="store_true",
                            help="add the ablation cells (TorchKGE; our gather normalising every gathered row; our "
                                 "gather normalising the table once; sparse) and split sparse's speedup over TorchKGE "
                                 "into its parts")
        add_settings_arguments(parser, exclude=("dataset",))
        add_execution_arguments(parser)
        parser.add_argument("--out", default="results/compare.jsonl", help="JSON Lines file the records are appended to")
        parser.add_argument("--plot", default=None, metavar="DIR", help="also write the report charts for this comparison to DIR")

    def run(self, args: argparse.Namespace) -> int:
        from harness.data.choice import choose_dataset
        from harness.records.store import ResultsStore
        from harness.runner import run_rounds
        from harness.settings import settings_from_args

        check_device(args.device)
        policy = check_execution_arguments(args)
        frameworks = parse_frameworks(args.frameworks)
        backends = comma_list(args.backend, "--backend")
        console = make_console()
        choice = choose_dataset(args.dataset, args.data_dir, fallback_synthetic=args.dataset is None)
        if choice.notice:
            console.print(f"[yellow]note:[/yellow] {choice.notice}")
        settings = settings_from_args(args, dataset=choice.name, dataset_sha256=_fingerprint(choice.name, args.data_dir),
                                      mode="native" if args.native else "identical")
        wanted: list[tuple[str, dict[str, str]]] = []
        for framework in frameworks:
            for options in ([{"backend": b} for b in backends] if framework == "sparse" else [{}]):
                wanted.append((framework, options))
        if args.explain:
            wanted += [cell for cell in EXPLAIN_CELLS if cell not in wanted]
        wanted += _compiled_variants(wanted, args.compile, frameworks)
        made = (execution_cell(args, framework, settings, options) for framework, options in wanted)
        cells = list({cell.key: cell for cell in made}.values())  # e.g. gather and gather[normalize=table]
        console.print(f"{settings.describe()}; {policy.describe()} x {len(cells)} framework cell(s)")
        store = ResultsStore(args.out)
        outcome = run_rounds(cells, store, policy, wide_speedups(store, args.reference, policy.ci_target),
                             run_cells=round_runner(args), seed=settings.seed, resume=args.resume, retry_failed=args.retry_failed,
                             command_line=["sptx", *sys.argv[1:]], progress=True,
                             on_round=lambda done, wide: _print_round_check(console, done, wide, policy))
        keys = {c.key for c in outcome.planned}
        latest = {r["cell_key"]: r for r in store.records() if r.get("cell_key") in keys}
        records = list(latest.values())
        print_comparison(records, console, settings.describe(), args.reference)
        print_rounds_outcome(outcome, policy, console)
        if args.explain:
            print_explanation(records, console)
        console.print(f"{len(outcome.records)} record(s) appended to {store.path}"
                      + (f"; {len(outcome.skipped)} cell(s) already done (--resume)" if outcome.skipped else ""))
        if args.plot:
            from harness.report.charts import write_comparison_charts

            for path in write_comparison_charts(records, args.plot):
                console.print(f"chart: {path}")
        return exit_status(records, console)


def _print_round_check(console: Console, done: int, wide: list, policy: "RoundPolicy") -> None:
    """After each checked round of --rounds auto: which speedups are still wide, in one line."""
    if wide:
        worst = max(wide, key=lambda w: w.stats.half_width)
        console.print(f"  after {done} rounds: {len(wide)} speedup(s) wider than +-{policy.ci_target:.0%} "
                      f"(widest: {escape(worst.describe())})", highlight=False)


def _compiled_variants(wanted: list[tuple[str, dict]], compile_list: str, frameworks: list[str]) -> list[tuple[str, dict]]:
    """A compiled twin of every wanted cell whose framework is in --compile (`all`: every framework)."""
    names = [n.strip() for n in compile_list.split(",") if n.strip()]
    if not names:
        return []
    chosen = set(frameworks) if names == ["all"] else set(names)
    unknown = sorted(chosen - set(frameworks))
    if unknown:
        raise SptxError(f"--compile {', '.join(unknown)}: not among --frameworks ({', '.join(frameworks)})")
    return [(framework, {**options, "compile": True}) for framework, options in wanted if framework in chosen]


def _fingerprint(dataset: str, data_dir: str | None) -> str:
    """The dataset's content hash, part of the run's identity."""
    from harness.data import dataset_fingerprint

    return dataset_fingerprint(dataset, data_dir)
