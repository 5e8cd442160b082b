"""`--rounds auto`: rounds are added until every ratio is stable, the round cap or the time budget; a fixed
count runs exactly that many; bad values are one-line errors."""

from __future__ import annotations

import pytest

from harness.errors import SptxError
from harness.measure.timing import RatioStats
from harness.runner import RoundPolicy, RunSummary, WideRatio, make_cell, parse_rounds, plan_rounds, run_rounds
from harness.runner.rounds import AUTO_ROUNDS

WIDE = WideRatio("torchkge", RatioStats(6.0, 5.0, 7.0, 3))


def _cells():
    return [make_cell(f, model="transe", dataset="synthetic:WN18RR", dim=8, batch_size=16)
            for f in ("sparse", "gather", "torchkge")]


class FakeRunner:
    """Records which cells each call measured; measures nothing."""

    def __init__(self) -> None:
        self.calls: list[list] = []

    def __call__(self, cells, store, **options) -> RunSummary:
        self.calls.append(list(cells))
        self.options = options
        return RunSummary((), ())


def _run(policy, wide_until: int, clock=None):
    runner = FakeRunner()
    checks: list[int] = []

    def check(planned):
        done = len({c.round for c in planned})
        checks.append(done)
        return [WIDE] if done < wide_until else []

    extra = {"clock": clock} if clock else {}
    outcome = run_rounds(_cells(), store=None, policy=policy, check=check, run_cells=runner, **extra)
    return outcome, runner, checks


def test_auto_adds_rounds_until_every_ratio_is_stable():
    outcome, runner, checks = _run(RoundPolicy(min_rounds=3, max_rounds=20), wide_until=5)
    assert outcome.stopped == "stable" and outcome.rounds == 5 and outcome.wide == ()
    assert checks == [3, 4, 5]  # first checked after --min-rounds
    assert [len(call) for call in runner.calls] == [3] * 5  # one round per call, every cell once
    assert all(c.rounds == AUTO_ROUNDS for c in outcome.planned)
    assert len({runner.options["run_id"]}) == 1
    # the same orders a fixed plan of that many rounds draws (rounds aside)
    fixed = plan_rounds(_cells(), 5, seed=0)
    assert [(c.framework, c.round) for c in outcome.planned] == [(c.framework, c.round) for c in fixed]


def test_auto_stops_at_the_round_cap_and_names_what_is_still_wide():
    outcome, _, _ = _run(RoundPolicy(min_rounds=3, max_rounds=4), wide_until=99)
    assert outcome.stopped == "max rounds" and outcome.rounds == 4 and outcome.wide == (WIDE,)
    assert "torchkge 6.00x [5.00-7.00] (+-17%, 3 round(s))" == WIDE.describe()


def test_auto_adds_no_round_that_would_end_after_the_time_budget():
    ticks = iter(range(0, 10_000, 10))  # every clock reading is 10 s later: a round takes ~10-20 s
    outcome, _, _ = _run(RoundPolicy(min_rounds=3, max_rounds=20, time_budget_s=100), wide_until=99,
                         clock=lambda: next(ticks))
    assert outcome.stopped == "time budget" and 3 <= outcome.rounds < 20


def test_a_fixed_count_runs_exactly_that_many_rounds_without_checking():
    outcome, runner, checks = _run(RoundPolicy(fixed=2), wide_until=99)
    assert outcome.rounds == 2 and outcome.stopped == "fixed" and checks == []
    assert len(runner.calls) == 1 and len(runner.calls[0]) == 6


@pytest.mark.parametrize("text,value", [("auto", None), ("AUTO", None), ("4", 4)])
def test_rounds_parse(text, value):
    assert parse_rounds(text) == value


@pytest.mark.parametrize("text", ["0", "-1", "many"])
def test_bad_rounds_are_one_line_errors(text):
    with pytest.raises(SptxError, match="--rounds"):
        parse_rounds(text)


@pytest.mark.parametrize("kwargs,flag", [({"min_rounds": 0}, "--min-rounds"), ({"max_rounds": 2}, "--max-rounds"),
                                         ({"time_budget_s": 0}, "--time-budget"), ({"ci_target": 0}, "--ci-target")])
def test_bad_policies_are_one_line_errors(kwargs, flag):
    with pytest.raises(SptxError, match=flag):
        RoundPolicy(**kwargs)
