"""The allocator registry is the one list of allocators: run settings, the --allocator flag, grids and the
measuring process's environment all follow it."""

from __future__ import annotations

import argparse

import pytest

from harness.allocators import ALLOCATOR_VARIABLES, ALLOCATORS, DEFAULT_ALLOCATOR, Allocator
from harness.errors import SptxError
from harness.runner.process_env import worker_environment
from harness.settings import RunSettings, add_settings_arguments


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser()
    add_settings_arguments(parser)
    return parser


def test_the_default_allocator_is_registered_and_the_settings_default():
    assert DEFAULT_ALLOCATOR in ALLOCATORS and RunSettings().allocator == DEFAULT_ALLOCATOR
    assert _parser().parse_args([]).allocator == DEFAULT_ALLOCATOR


def test_a_registered_allocator_is_a_choice_everywhere(monkeypatch):
    with pytest.raises(SptxError, match="--allocator 'mine'"):
        RunSettings(allocator="mine")
    monkeypatch.setitem(ALLOCATORS, "mine", Allocator("a test allocator", lambda: {"LD_PRELOAD": "/x/libmine.so"}))
    assert RunSettings(allocator="mine").allocator == "mine"
    assert _parser().parse_args(["--allocator", "mine"]).allocator == "mine"
    env = worker_environment({"GLIBC_TUNABLES": "inherited", "PATH": "/bin"}, 2, "mine")
    assert env["LD_PRELOAD"] == "/x/libmine.so" and "GLIBC_TUNABLES" not in env and env["OMP_NUM_THREADS"] == "2"


def test_a_registered_allocator_is_valid_in_a_grid(monkeypatch, tmp_path):
    from harness.sweep import grid_cells, load_grid

    path = tmp_path / "g.toml"
    path.write_text("[grid]\ndatasets=['WN18RR']\n[models.transe]\nframeworks=['sparse']\n[scales.s]\n"
                    "allocator = 'mine'\n")
    monkeypatch.setitem(ALLOCATORS, "mine", Allocator("a test allocator", lambda: {}))
    cells = grid_cells(load_grid(str(path)), "s", "cpu", None, {"WN18RR": ("WN18RR", "")})
    assert {c.settings.allocator for c in cells} == {"mine"}


def test_every_allocator_sets_only_allocator_variables():
    for name, allocator in ALLOCATORS.items():
        if name in ("jemalloc", "tcmalloc"):  # need the library installed here
            continue
        assert set(allocator.environment()) <= set(ALLOCATOR_VARIABLES), name


def test_an_unknown_allocator_names_the_registered_ones():
    with pytest.raises(SptxError, match="choose one of " + ", ".join(ALLOCATORS)):
        worker_environment({}, 1, "nosuch")
