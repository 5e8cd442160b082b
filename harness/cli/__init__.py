"""The `sptx` command line: one module per subcommand, each a `Command` registered in `COMMANDS`."""

from __future__ import annotations

import argparse
import sys

from harness.cli.base import Command
from harness.errors import SptxError
from harness.interrupts import install_interrupt_handlers, restore_handlers

__all__ = ["main", "COMMANDS", "build_parser"]

# One line per subcommand; the module holds the whole command.
from harness.cli.compare_cmd import CompareCommand  # noqa: E402
from harness.cli.datasets_cmd import DatasetsCommand  # noqa: E402
from harness.cli.distributed_cmd import DistributedCommand  # noqa: E402
from harness.cli.report_cmd import ReportCommand  # noqa: E402
from harness.cli.scale_cmd import ScaleCommand  # noqa: E402
from harness.cli.sweep_cmd import SweepCommand  # noqa: E402
from harness.cli.targets_cmd import TargetsCommand  # noqa: E402
from harness.cli.train_cmd import TrainCommand  # noqa: E402
from harness.cli.verify_cmd import VerifyCommand  # noqa: E402

COMMANDS: tuple[type[Command], ...] = (
    DatasetsCommand,
    VerifyCommand,
    CompareCommand,
    SweepCommand,
    TrainCommand,
    ReportCommand,
    TargetsCommand,
    ScaleCommand,
    DistributedCommand,
)


class _DefaultsHelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Appends "(default: X)" once: not when the help already says its default, nor for None or False."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if "default" in text.lower() or action.default in (None, False, argparse.SUPPRESS):
            return text
        return super()._get_help_string(action) or text


def build_parser() -> argparse.ArgumentParser:
    """The top-level parser with one sub-parser per registered command."""
    parser = argparse.ArgumentParser(
        prog="sptx",
        description=(
            "Benchmark and profile training of translation-based knowledge-graph embeddings "
            "(TransE, TransR, TransH, TorusE): our SpMM implementation against gather/scatter frameworks."
        ),
    )
    from harness import __version__

    parser.add_argument("--version", action="version", version=f"sptx {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for command in COMMANDS:
        p = sub.add_parser(
            command.name,
            help=command.help,
            description=command.description or command.help,
            formatter_class=_DefaultsHelpFormatter,
        )
        command.add_arguments(p)
        p.set_defaults(_command=command)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `sptx` console script; returns the process exit code (130 after SIGINT or SIGTERM)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    command = getattr(args, "_command", None)
    if command is None:
        parser.print_help()
        return 2
    previous = install_interrupt_handlers()
    try:
        code = int(command().run(args) or 0)
    except SptxError as exc:
        code = 2
        print(f"sptx {command.name}: error: {exc}", file=sys.stderr)
    except KeyboardInterrupt:  # SIGINT or SIGTERM: further ones stay ignored while this process ends
        print(f"sptx {command.name}: interrupted", file=sys.stderr)
        return 130
    restore_handlers(previous)
    return code


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
