"""The runner: cells, their isolated execution, and runs of many cells into a results file."""

from harness.runner.cell import Cell, make_cell
from harness.runner.isolation import run_cell_isolated
from harness.runner.run import RunSummary, new_run_id, plan_rounds, run_cells

__all__ = ["Cell", "RunSummary", "make_cell", "new_run_id", "plan_rounds", "run_cell_isolated", "run_cells"]
