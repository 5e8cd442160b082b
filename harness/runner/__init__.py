"""The runner: cells, their isolated execution, and runs of many cells into a results file."""

from harness.runner.cell import Cell
from harness.runner.isolation import run_cell_isolated
from harness.runner.run import RunSummary, new_run_id, run_cells

__all__ = ["Cell", "RunSummary", "new_run_id", "run_cell_isolated", "run_cells"]
