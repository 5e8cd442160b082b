"""The small base every subcommand implements (as in asv: one file per subcommand)."""

from __future__ import annotations

import argparse
from abc import ABC, abstractmethod
from typing import ClassVar

__all__ = ["Command", "add_data_dir_argument", "make_console"]


class Command(ABC):
    """A subcommand: its name, its help, its arguments and what it does."""

    name: ClassVar[str]
    help: ClassVar[str]
    description: ClassVar[str] = ""

    @classmethod
    @abstractmethod
    def add_arguments(cls, parser: argparse.ArgumentParser) -> None:
        """Declare this command's options on its sub-parser."""

    @abstractmethod
    def run(self, args: argparse.Namespace) -> int:
        """Do the work; return the exit code. Raise SptxError for a one-line user-facing failure."""


def add_data_dir_argument(parser: argparse.ArgumentParser) -> None:
    """The `--data-dir` option shared by every command that reads datasets."""
    parser.add_argument(
        "--data-dir",
        default=None,
        help="folder holding <NAME>/{train,valid,test}.txt[.gz]; default: $SPTX_DATA_DIR, else the per-user cache folder",
    )


def make_console():
    """A rich console: the terminal's width on a terminal, wide enough for our tables when piped or logged."""
    from rich.console import Console

    return Console(width=None if Console().is_terminal else 240)
