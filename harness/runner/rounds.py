"""How many interleaved rounds a comparison runs: a fixed count, or `auto`, which adds rounds until
every speedup's 95% CI lies within +-5% of its median (or a time budget or round cap is reached).

The variance of a speedup lives between processes (each round measures every framework in a fresh
process, in a fresh order), so that is where repetition goes (Kalibera & Jones, ISMM 2013; pyperf
calibrates its number of worker processes the same way).
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass, replace
from typing import Callable, Iterator, Sequence

from harness.errors import SptxError
from harness.measure.timing import RatioStats
from harness.records.schema import Record
from harness.records.store import ResultsStore
from harness.runner.cell import Cell
from harness.runner.run import RunSummary, new_run_id, run_cells as run_cells_isolated

__all__ = ["AUTO_ROUNDS", "RoundPolicy", "RoundsOutcome", "WideRatio", "parse_rounds", "plan_round", "plan_rounds",
           "run_rounds"]

# Cell.rounds of a cell planned by `--rounds auto`: how many rounds there will be is not known in advance.
AUTO_ROUNDS = 0


@dataclass(frozen=True)
class RoundPolicy:
    """`fixed` rounds, or (fixed None) rounds added one at a time after `min_rounds` until every ratio's
    CI half-width is at most `ci_target` of its median, `max_rounds` ran, or `time_budget_s` is spent."""

    fixed: int | None = None
    min_rounds: int = 3
    max_rounds: int = 20
    time_budget_s: float = 1800.0
    ci_target: float = 0.05

    def __post_init__(self) -> None:
        if self.fixed is not None and self.fixed < 1:
            raise SptxError("--rounds must be at least 1 (or auto)")
        if self.min_rounds < 1:
            raise SptxError("--min-rounds must be at least 1")
        if self.max_rounds < self.min_rounds:
            raise SptxError(f"--max-rounds ({self.max_rounds}) must be at least --min-rounds ({self.min_rounds})")
        if not self.time_budget_s > 0:
            raise SptxError("--time-budget must be positive")
        if not 0 < self.ci_target < 1:
            raise SptxError("--ci-target must be between 0 and 1 (e.g. 0.05 for +-5%)")

    @property
    def auto(self) -> bool:
        return self.fixed is None

    def describe(self) -> str:
        """'3 round(s)' or 'auto rounds (3-20, until every CI is within +-5%, budget 1800 s)'."""
        if not self.auto:
            return f"{self.fixed} round(s)"
        return (f"auto rounds ({self.min_rounds}-{self.max_rounds}, until every speedup's 95% CI is within "
                f"+-{self.ci_target:.0%}, budget {self.time_budget_s:g} s)")


def parse_rounds(text: str) -> int | None:
    """`auto` -> None, else a positive integer; a one-line error otherwise."""
    if text.strip().lower() == "auto":
        return None
    try:
        value = int(text)
    except ValueError:
        raise SptxError(f"--rounds {text!r}: write auto or a number of rounds") from None
    if value < 1:
        raise SptxError("--rounds must be at least 1 (or auto)")
    return value


@dataclass(frozen=True)
class WideRatio:
    """A speedup whose 95% CI is still wider than the target: which one, and its statistics."""

    label: str
    stats: RatioStats

    def describe(self) -> str:
        s = self.stats
        return (f"{self.label} {s.median:.2f}x [{s.ci_low:.2f}-{s.ci_high:.2f}] (+-{s.half_width:.0%}, "
                f"{s.rounds} round(s))")


# Given the cells planned so far, the ratios still wider than the target (empty: stable).
StabilityCheck = Callable[[Sequence[Cell]], list[WideRatio]]


@dataclass(frozen=True)
class RoundsOutcome:
    """What a run of rounds did: the records written, the cells skipped (--resume), every cell planned,
    how many rounds ran, why it stopped, and the ratios still wider than the target when it stopped."""

    records: tuple[Record, ...]
    skipped: tuple[Cell, ...]
    planned: tuple[Cell, ...]
    rounds: int
    stopped: str
    wide: tuple[WideRatio, ...] = ()


def plan_round(cells: Sequence[Cell], index: int, rng: random.Random, rounds: int, shuffle: bool = True) -> list[Cell]:
    """Round `index` of `cells` in a fresh order drawn from `rng`; FLOPs and memory (deterministic) only in
    round 0."""
    order = list(cells)
    if shuffle:
        rng.shuffle(order)
    extra = {} if index == 0 else {"measure_flops": False, "measure_memory": False}
    return [replace(cell, round=index, rounds=rounds, **extra) for cell in order]


def plan_rounds(cells: Sequence[Cell], rounds: int, seed: int = 0) -> list[Cell]:
    """`rounds` repetitions of `cells`, each round in a fresh seeded order, so that drift of the machine
    (neighbours, thermal state, the allocator) falls on every framework alike."""
    rng = random.Random(seed)
    return [c for index in range(rounds) for c in plan_round(cells, index, rng, rounds, shuffle=rounds > 1)]


def _auto_plans(cells: Sequence[Cell], seed: int) -> Iterator[list[Cell]]:
    """Round after round of `cells` in fresh seeded orders (the same orders plan_rounds draws)."""
    rng = random.Random(seed)
    index = 0
    while True:
        yield plan_round(cells, index, rng, AUTO_ROUNDS)
        index += 1


def run_rounds(cells: Sequence[Cell], store: ResultsStore, policy: RoundPolicy, check: StabilityCheck, *,
               seed: int = 0, run_cells: Callable[..., RunSummary] = run_cells_isolated,
               clock: Callable[[], float] = time.monotonic,
               on_round: Callable[[int, list[WideRatio]], None] | None = None, **run_options) -> RoundsOutcome:
    """Run `cells` in interleaved rounds under `policy`; `run_cells(planned_round, store, **run_options)`
    measures one round (harness.runner.run.run_cells). With a fixed count every round is planned at once
    (one progress bar); with auto, after each round from `min_rounds` on, `check` says which ratios are
    still wide and `on_round(rounds_done, wide)` is told. Every round's records share one run id."""
    run_options.setdefault("run_id", new_run_id())
    if not policy.auto:
        planned = plan_rounds(cells, policy.fixed, seed)
        summary = run_cells(planned, store, **run_options)
        return RoundsOutcome(summary.records, summary.skipped, tuple(planned), policy.fixed, "fixed")
    started = clock()
    written: list[Record] = []
    skipped: list[Cell] = []
    planned: list[Cell] = []
    wide: list[WideRatio] = []
    stopped = "max rounds"
    for index, round_cells in enumerate(_auto_plans(cells, seed)):
        round_started = clock()
        summary = run_cells(round_cells, store, **run_options)
        written += summary.records
        skipped += summary.skipped
        planned += round_cells
        done = index + 1
        if done < policy.min_rounds:
            continue
        wide = check(planned)
        if on_round is not None:
            on_round(done, wide)
        if not wide:
            stopped = "stable"
            break
        if done >= policy.max_rounds:
            stopped = "max rounds"
            break
        elapsed = clock() - started
        if elapsed + (clock() - round_started) > policy.time_budget_s:
            stopped = "time budget"
            break
    return RoundsOutcome(tuple(written), tuple(skipped), tuple(planned), len({c.round for c in planned}), stopped,
                         tuple(wide))
