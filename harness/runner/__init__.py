"""The runner: cells, their isolated execution, and runs of many cells into a results file."""

from harness.runner.cell import Cell, make_cell
from harness.runner.isolation import run_cell_isolated
from harness.runner.rounds import RoundPolicy, RoundsOutcome, WideRatio, parse_rounds, plan_rounds, run_rounds
from harness.runner.run import RunSummary, new_run_id, run_cells

__all__ = ["Cell", "RoundPolicy", "RoundsOutcome", "RunSummary", "WideRatio", "make_cell", "new_run_id", "parse_rounds",
           "plan_rounds", "run_cell_isolated", "run_cells", "run_rounds"]
