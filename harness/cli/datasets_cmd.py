"""`sptx datasets`: which paper datasets are present, their published and actual sizes, and downloading them."""

from __future__ import annotations

import argparse
import warnings
from dataclasses import dataclass

from rich.console import Console
from rich.progress import BarColumn, DownloadColumn, Progress, TaskID, TextColumn, TransferSpeedColumn
from rich.table import Table

from harness.cli.base import Command, add_data_dir_argument, make_console
from harness.data.download import download_dataset
from harness.data.loader import dataset_counts, load_split_files
from harness.data.locate import locate_dataset, resolve_data_dir
from harness.data.registry import REGISTRY, DatasetSpec, count_mismatches, get_spec
from harness.errors import SptxError

__all__ = ["DatasetsCommand", "DatasetRow", "inspect_dataset"]

_COUNT_FIELDS = ("n_entities", "n_relations", "n_train", "n_valid", "n_test")


@dataclass(frozen=True)
class DatasetRow:
    """What `sptx datasets` knows about one registry dataset on this machine."""

    spec: DatasetSpec
    status: str
    where: str
    found: dict[str, int] | None
    error: str | None = None


def inspect_dataset(spec: DatasetSpec, data_dir: str | None, load: bool) -> DatasetRow:
    """Check whether `spec`'s files are present and, with `load`, parse them to report the counts actually found."""
    files = locate_dataset(spec.name, data_dir)
    if files is None:
        return DatasetRow(spec, "missing", "-", None)
    if not load:
        return DatasetRow(spec, "real", str(files.folder), None)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            dataset = load_split_files(files, spec.name)
    except SptxError as exc:
        return DatasetRow(spec, "invalid", str(files.folder), None, str(exc))
    return DatasetRow(spec, "real", str(files.folder), dataset_counts(dataset))


def _count_cell(spec: DatasetSpec, field: str, found: dict[str, int] | None) -> str:
    expected = spec.expected_counts()[field]
    shown = "?" if expected is None else f"{expected:,}"
    if found is None:
        return shown
    got = found[field]
    if expected is None:
        return f"{shown} / [cyan]{got:,}[/]"
    if got == expected:
        return f"[green]{got:,} ✓[/]"
    return f"{shown} / [red]{got:,}[/]"


def _table(rows: list[DatasetRow], loaded: bool) -> Table:
    table = Table(
        title="Knowledge-graph datasets",
        caption="counts: published figure; ✓ = the files match it, 'published / found' where they differ"
        if loaded
        else "counts: published figures (files not loaded: --no-load)",
    )
    table.add_column("dataset", no_wrap=True, style="bold")
    table.add_column("status", no_wrap=True)
    table.add_column("synthetic", no_wrap=True)
    for header in ("entities", "relations", "train", "valid", "test"):
        table.add_column(header, justify="right", no_wrap=True)
    table.add_column("found in", overflow="fold")
    colours = {"real": "green", "missing": "yellow", "invalid": "red"}
    for row in rows:
        table.add_row(
            row.spec.name,
            f"[{colours[row.status]}]{row.status}[/]",
            f"synthetic:{row.spec.name}",
            *(_count_cell(row.spec, field, row.found) for field in _COUNT_FIELDS),
            row.where,
        )
    return table


def _download(names: list[str], data_dir: str | None, force: bool, console: Console) -> None:
    specs = [get_spec(name) for name in names]
    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        console=console,
        transient=True,
    ) as progress:
        for spec in specs:
            task: TaskID = progress.add_task(f"downloading {spec.name}", total=None)

            def report(url: str, done: int, total: int | None, task: TaskID = task) -> None:
                progress.update(task, completed=done, total=total)

            folder = download_dataset(spec, data_dir, force=force, progress=report)
            progress.remove_task(task)
            console.print(f"{spec.name}: ready in {folder}")


class DatasetsCommand(Command):
    """List the paper datasets and where their files are; optionally download some."""

    name = "datasets"
    help = "list the benchmark datasets, check their files, download them"
    description = (
        "List every dataset the harness knows (FB15k, FB15k-237, WN18, WN18RR, FB13, YAGO3-10, BioKG) with its "
        "published sizes, whether its files are present in the data folder (real) or not (missing), and the sizes "
        "actually found in the files. Files are looked for as <data dir>/<NAME>/{train,valid,test}.txt[.gz], "
        "one head<TAB>relation<TAB>tail triple per line. A synthetic stand-in of the same size "
        "(synthetic:NAME) is always available. --download fetches a dataset from its public source into the data "
        "folder; without network, copy the files there by hand."
    )

    @classmethod
    def add_arguments(cls, parser: argparse.ArgumentParser) -> None:
        """Declare --data-dir, --download, --force and --no-load."""
        add_data_dir_argument(parser)
        parser.add_argument(
            "--download",
            metavar="NAME",
            action="append",
            default=[],
            help="download dataset NAME into the data folder first (repeatable; case-insensitive)",
        )
        parser.add_argument(
            "--force",
            action="store_true",
            help="with --download: fetch again even if the files are already there",
        )
        parser.add_argument(
            "--no-load",
            action="store_true",
            help="only check which files are present; do not parse them to count entities and triples",
        )

    def run(self, args: argparse.Namespace) -> int:
        """Download what was asked for, then print the table; exit code 1 if any present dataset is invalid."""
        console = make_console()
        data_dir = getattr(args, "data_dir", None)
        resolved = resolve_data_dir(data_dir)
        if args.download:
            _download(args.download, data_dir, args.force, console)
        load = not args.no_load
        rows: list[DatasetRow] = []
        with console.status("checking datasets") as status:
            for spec in REGISTRY:
                status.update(f"{'loading' if load else 'checking'} {spec.name}")
                rows.append(inspect_dataset(spec, data_dir, load))
        console.print(_table(rows, load))
        console.print(f"data folder: {resolved.path} (from {resolved.origin})")
        for row in rows:
            if row.error:
                console.print(f"[red]{row.spec.name}: {row.error}[/]", soft_wrap=True)
            elif row.found is not None:
                for field, want, got in count_mismatches(row.spec, row.found):
                    console.print(f"[yellow]{row.spec.name}: {field} expected {want:,}, found {got:,}[/]")
        missing = [row.spec.name for row in rows if row.status == "missing"]
        if missing:
            console.print(
                f"missing: {', '.join(missing)}. Get one with `sptx datasets --download NAME`, copy its files to "
                f"{resolved.path}/NAME/, or run on synthetic:NAME.",
                soft_wrap=True,
            )
        return 1 if any(row.status == "invalid" for row in rows) else 0
