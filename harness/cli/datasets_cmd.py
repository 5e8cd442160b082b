"""`sptx datasets`: which paper datasets are present and from where, their published and actual sizes, and
downloading them (verified by sha256 unless explicitly allowed otherwise)."""

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
from harness.data.locate import EMBEDDED_SOURCE, locate_dataset, resolve_data_dir
from harness.data.registry import REGISTRY, DatasetSpec, count_mismatches, dataset_names, get_spec
from harness.errors import SptxError

__all__ = ["DatasetsCommand", "DatasetRow", "inspect_dataset"]

_COUNT_FIELDS = ("n_entities", "n_relations", "n_train", "n_valid", "n_test")


@dataclass(frozen=True)
class DatasetRow:
    """What `sptx datasets` knows about one registry dataset on this machine.

    `status` is real, modified (counts differ from the published ones), missing or invalid; `source` says where
    the files were found: --data-dir, $SPTX_DATA_DIR, cache, embedded (shipped with sptx) or "-".
    """

    spec: DatasetSpec
    status: str
    where: str
    found: dict[str, int] | None
    error: str | None = None
    source: str = "-"


def inspect_dataset(spec: DatasetSpec, data_dir: str | None, load: bool) -> DatasetRow:
    """Check whether `spec`'s files are present and, with `load`, parse them to report the counts actually found."""
    try:
        files = locate_dataset(spec.name, data_dir)
    except SptxError as exc:
        return DatasetRow(spec, "invalid", "-", None, str(exc))
    if files is None:
        return DatasetRow(spec, "missing", "-", None)
    if not load:
        return DatasetRow(spec, "real", str(files.folder), None, source=files.source)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            dataset = load_split_files(files, spec.name)
    except SptxError as exc:
        return DatasetRow(spec, "invalid", str(files.folder), None, str(exc), files.source)
    found = dataset_counts(dataset)
    status = "modified" if count_mismatches(spec, found) else "real"
    return DatasetRow(spec, status, str(files.folder), found, source=files.source)


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
    table.add_column("source", no_wrap=True)
    table.add_column("synthetic", no_wrap=True)
    for header in ("entities", "relations", "train", "valid", "test"):
        table.add_column(header, justify="right", no_wrap=True)
    table.add_column("found in", overflow="fold")
    colours = {"real": "green", "modified": "magenta", "missing": "yellow", "invalid": "red"}
    for row in rows:
        table.add_row(
            row.spec.name,
            f"[{colours[row.status]}]{row.status}[/]",
            f"[cyan]{row.source}[/]" if row.source == EMBEDDED_SOURCE else row.source,
            f"synthetic:{row.spec.name}",
            *(_count_cell(row.spec, field, row.found) for field in _COUNT_FIELDS),
            row.where,
        )
    return table


def _download(names: list[str], data_dir: str | None, force: bool, allow_unverified: bool, console: Console) -> None:
    specs = [get_spec(name) for name in names]
    observed: list[tuple[str, str, str]] = []
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

            def unverified(url: str, sha256: str, name: str = spec.name) -> None:
                observed.append((name, url, sha256))

            folder = download_dataset(spec, data_dir, force=force, progress=report,
                                      allow_unverified=allow_unverified, on_unverified=unverified)
            progress.remove_task(task)
            console.print(f"{spec.name}: ready in {folder}")
    for name, url, sha256 in observed:
        console.print(f"[yellow]{name}: UNVERIFIED download {url} has sha256 {sha256}[/]; after checking the files, "
                      "pin it in harness/data/registry.py", soft_wrap=True, highlight=False)


class DatasetsCommand(Command):
    """List the paper datasets and the big public graphs, and where their files are; optionally download some."""

    name = "datasets"
    help = "list the benchmark datasets, check their files, download them"
    description = (
        f"List every dataset the harness knows ({', '.join(dataset_names())}) with its "
        "published sizes, whether its files are present (real; modified where their counts differ from the "
        "published ones) or not (missing), where they were found (source: --data-dir, $SPTX_DATA_DIR, cache, or "
        "embedded for the WN18RR copy shipped with sptx), and the sizes actually found in the files. Files are "
        "looked for as <data dir>/<NAME>/{train,valid,test}.txt[.gz], one head<TAB>relation<TAB>tail triple per "
        "line. A synthetic stand-in of the same size (synthetic:NAME) is always available. --download fetches a "
        "dataset from its public source into the data folder, checked against its pinned sha256; without network, "
        "copy the files there by hand. An OGB download (BioKG, ogbl-wikikg2) also keeps the sampled candidates of "
        "valid/test as {valid,test}_candidates.npz beside the splits (harness.data.load_candidates). Graphs of 1M+ "
        "training triples are parsed once, then read from the graph cache ($SPTX_CACHE_DIR) by content hash."
    )

    @classmethod
    def add_arguments(cls, parser: argparse.ArgumentParser) -> None:
        """Declare --data-dir, --download, --force, --allow-unverified and --no-load."""
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
            "--allow-unverified",
            action="store_true",
            help="with --download: also fetch files that have no pinned sha256, and print their observed sha256",
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
            _download(args.download, data_dir, args.force, args.allow_unverified, console)
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
