"""Thread counts: more than this machine's cores is refused when a run starts, never in records read back."""

from __future__ import annotations

import argparse

import pytest

from harness.errors import SptxError
from harness.settings import RunSettings, add_settings_arguments, available_cores, check_threads, settings_from_args


def _args(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_settings_arguments(parser)
    return parser.parse_args(list(argv))


def test_more_threads_than_cores_is_refused_in_one_line():
    cores = available_cores()
    with pytest.raises(SptxError) as caught:
        settings_from_args(_args("--threads", "999"))
    assert str(caught.value) == (f"--threads 999: this machine has {cores} core(s) available to this process; "
                                 f"use at most {cores} (0 = all)")


def test_every_core_or_all_of_them_is_accepted():
    assert settings_from_args(_args("--threads", "0")).threads == available_cores()
    assert settings_from_args(_args("--threads", str(available_cores()))).threads == available_cores()
    check_threads(1)


def test_records_measured_with_more_threads_elsewhere_still_load():
    assert RunSettings.from_dict({**RunSettings().to_dict(), "threads": 999}).threads == 999


def test_a_sweep_grid_with_too_many_threads_is_refused():
    from harness.sweep import grid_cells, load_grid

    grid = load_grid("paper")
    first = next(iter(grid.scales))
    grid.settings["threads"] = [999]
    with pytest.raises(SptxError, match="threads = 999: this machine has"):
        grid_cells(grid, first, "cpu", None, {"WN18RR": ("WN18RR", "")})
