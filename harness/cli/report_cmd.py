"""`sptx report`: a report folder (README.md, PNG charts, CSV tables) from one or more results files."""

from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path

from harness.cli.base import Command, make_console
from harness.errors import SptxError

__all__ = ["ReportCommand"]


class ReportCommand(Command):
    name = "report"
    help = "write a report folder (README.md, PNG charts, CSV tables) from results files"
    description = (
        "Reads the JSON Lines records of `sptx compare` / `sptx sweep` (the newest record of each cell wins "
        "when a cell was re-run) and writes to --out: README.md, the report; PNG charts of the speedup of "
        "`sparse` over each framework with the paper's reported speedups beside ours, the time split per phase, "
        "peak memory and FLOPs per step; CSV tables of every cell, a paper-vs-measured table, the environment "
        "and the failed cells; for records of `sptx distributed`, a scaling chart (compute / communication per step "
        "against processes, per exchange strategy), a scaling table and the scaling model on paper for 8-512 ranks. "
        "Cells that did not run ok (oom, timeout, error, unsupported, unavailable) "
        "appear in every chart and table with their status. Each file is written whole (temporary file, then "
        "rename). Example: sptx report results/paper-cpu.jsonl --out reports/paper-cpu/"
    )

    @classmethod
    def add_arguments(cls, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("results", nargs="+", metavar="RESULTS.jsonl",
                            help="one or more JSON Lines results files (records are combined)")
        parser.add_argument("--out", default=None, metavar="DIR",
                            help="report folder to write (created if needed); default: reports/<stem of the first file>/%(default).0s")
        parser.add_argument("--reference", default="sparse",
                            help="what speedups are relative to: a framework (its default options) or a label like sparse[torch]")
        parser.add_argument("--title", default=None, help="the report's title (default: names the results files)%(default).0s")
        parser.add_argument("--paper-gpu", action="store_true",
                            help="set every comparison group's speedups and memory ratios beside the paper's GPU "
                                 "figures, whatever its device (CUDA groups always are; rows of other devices say "
                                 "they are not comparable): benchmarks/gpu.sh's dry run")
        parser.add_argument("--section", action="append", default=[], metavar="FILE.md",
                            help="a markdown file to include in README.md as a section of its own (repeatable), "
                                 "e.g. benchmarks/gpu.sh's verification table")

    def run(self, args: argparse.Namespace) -> int:
        from harness.records.store import read_records
        from harness.report.writer import write_report

        paths = [Path(p) for p in args.results]
        records = []
        for path in paths:
            if path.is_dir():
                raise SptxError(f"{path} is a folder; give the results .jsonl file(s)")
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                found = read_records([path])  # SptxError when the file does not exist
            for w in caught:
                print(f"sptx report: warning: {w.message}", file=sys.stderr)
            if not found:
                raise SptxError(f"{path} holds no records")
            records += found
        out = Path(args.out) if args.out else Path("reports") / paths[0].stem
        sections = []
        for section in args.section:
            try:
                sections.append(Path(section).read_text(encoding="utf-8"))
            except (OSError, UnicodeDecodeError) as exc:
                raise SptxError(f"--section {section}: cannot read it ({exc})") from None
        try:
            written = write_report(records, out, title=args.title, sources=[str(p) for p in paths],
                                   reference=args.reference, paper_gpu=args.paper_gpu, sections=sections)
        except OSError as exc:
            raise SptxError(f"cannot write the report to {out}: {exc.strerror or exc}") from None
        console = make_console()
        for path in written:
            console.print(str(path), highlight=False, markup=False, soft_wrap=True)
        console.print(f"report: {out / 'README.md'} ({len(written)} files, {len(records)} records)", highlight=False, markup=False)
        return 0
