"""Sweeps: a grid of datasets x models x frameworks at a named scale, read from a commented TOML file
(the built-in `paper` grid lives in harness/grids/paper.toml) and expanded into runner cells.

A grid's batch size larger than a dataset's training split is clamped to the split when the cell is made (the
paper's TransE/TorusE batch of 393,216 on FB15k-237's 272,115 triples): the cell's settings then hold the batch
used, so its comparison group, FLOPs and labels describe the work done, and the record keeps the size asked for
in `batch_clamped_from` (with a note in its message). `sptx compare` still refuses an explicit --batch-size
larger than the split: there the user chose the number."""

from __future__ import annotations

import itertools
import tomllib
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from harness.errors import SptxError
from harness.runner.cell import Cell, make_cell
from harness.settings import check_threads, setting_specs
from harness.models import MODELS
from sparse_impl.backends import DEFAULT_BACKEND

__all__ = ["BUILTIN_GRIDS", "Grid", "SETTING_KEYS", "Scale", "clamp_batch", "grid_cells", "grid_rounds", "load_grid",
           "scale_datasets", "train_split_size"]

# The grids shipped in harness/grids/ (one TOML file each): `paper` and `beyond` (models beyond translation).
BUILTIN_GRIDS: tuple[str, ...] = tuple(sorted(
    entry.name.removesuffix(".toml") for entry in resources.files("harness.grids").iterdir()
    if entry.name.endswith(".toml")))

# Run settings a grid or a scale may set, derived from harness.settings (model, dataset and device come
# from the grid's structure and the command line). A value is a scalar, a list (one cell per value) or
# a table keyed by model (whose values may again be lists).
SETTING_KEYS: frozenset[str] = frozenset(name for name, spec, _ in setting_specs()
                                         if spec.flag is not None and name not in ("model", "dataset", "device"))
_RUN_KEYS = {"rounds", "time_limit_s", "measure_flops", "measure_memory"}
_GRID_KEYS = {"datasets", "fallback_synthetic", "sparse_backends"} | _RUN_KEYS | SETTING_KEYS
_MODEL_KEYS = {"frameworks"}
_SCALE_KEYS = {"datasets"} | _RUN_KEYS | SETTING_KEYS


@dataclass(frozen=True)
class Scale:
    """Sizes and measurement effort of one scale: run settings (see SETTING_KEYS) and execution keys."""

    name: str
    settings: dict[str, Any]
    run: dict[str, Any]
    datasets: tuple[str, ...] | None = None


@dataclass(frozen=True)
class Grid:
    """Datasets x models x frameworks, and the scales it can run at."""

    source: str
    datasets: tuple[str, ...]
    frameworks: dict[str, tuple[str, ...]]
    scales: dict[str, Scale]
    settings: dict[str, Any] = field(default_factory=dict)
    run: dict[str, Any] = field(default_factory=dict)
    fallback_synthetic: bool = True
    sparse_backends: tuple[str, ...] = (DEFAULT_BACKEND,)


def _check_keys(where: str, table: dict[str, Any], allowed: set[str] | frozenset[str]) -> None:
    if not isinstance(table, dict):
        raise SptxError(f"{where}: expected a table, not {table!r}")
    unknown = sorted(set(table) - set(allowed))
    if unknown:
        raise SptxError(f"{where}: unknown key(s) {', '.join(unknown)}; allowed: {', '.join(sorted(allowed))}")


def _check_run(where: str, run: dict[str, Any]) -> dict[str, Any]:
    """Execution keys with their types and ranges checked."""
    if "rounds" in run and (not isinstance(run["rounds"], int) or isinstance(run["rounds"], bool) or run["rounds"] < 1):
        raise SptxError(f"{where}: rounds must be an integer of at least 1, not {run['rounds']!r}")
    if "time_limit_s" in run and (not isinstance(run["time_limit_s"], (int, float)) or run["time_limit_s"] <= 0):
        raise SptxError(f"{where}: time_limit_s must be a positive number, not {run['time_limit_s']!r}")
    for flag in ("measure_flops", "measure_memory"):
        if flag in run and not isinstance(run[flag], bool):
            raise SptxError(f"{where}: {flag} must be true or false, not {run[flag]!r}")
    return run


def _split(where: str, table: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(run settings, execution keys) of a [grid] or [scales.*] table."""
    settings = {k: v for k, v in table.items() if k in SETTING_KEYS}
    for key, value in settings.items():
        if isinstance(value, dict) and set(value) - set(MODELS):
            raise SptxError(f"{where} {key}: a table must be keyed by model ({', '.join(MODELS)})")
        if isinstance(value, list) and not value:
            raise SptxError(f"{where} {key}: an empty list")
    return settings, _check_run(where, {k: v for k, v in table.items() if k in _RUN_KEYS})


def _parse_scale(source: str, name: str, table: dict[str, Any]) -> Scale:
    where = f"{source} [scales.{name}]"
    _check_keys(where, table, _SCALE_KEYS)
    settings, run = _split(where, table)
    datasets = table.get("datasets")
    return Scale(name=name, settings=settings, run=run, datasets=tuple(datasets) if datasets is not None else None)


def parse_grid(raw: dict[str, Any], source: str) -> Grid:
    """A Grid from parsed TOML, with every key checked."""
    _check_keys(source, raw, {"grid", "models", "scales"})
    grid = raw.get("grid", {})
    _check_keys(f"{source} [grid]", grid, _GRID_KEYS)
    models = raw.get("models", {})
    unknown = sorted(set(models) - set(MODELS))
    if unknown:
        raise SptxError(f"{source}: unknown model(s) {', '.join(unknown)}; known: {', '.join(MODELS)}")
    frameworks = {}
    for model, table in models.items():
        _check_keys(f"{source} [models.{model}]", table, _MODEL_KEYS)
        frameworks[model] = tuple(table.get("frameworks", ()))
    scales = {name: _parse_scale(source, name, table) for name, table in raw.get("scales", {}).items()}
    if not grid.get("datasets") or not frameworks or not scales:
        raise SptxError(f"{source}: a grid needs [grid] datasets, at least one [models.*] and one [scales.*]")
    settings, run = _split(f"{source} [grid]", grid)
    return Grid(source=source, datasets=tuple(grid["datasets"]), frameworks=frameworks, scales=scales,
                settings=settings, run=run, fallback_synthetic=bool(grid.get("fallback_synthetic", True)),
                sparse_backends=tuple(grid.get("sparse_backends", (DEFAULT_BACKEND,))))


def load_grid(name_or_path: str) -> Grid:
    """A built-in grid by name (`paper`) or a user's TOML file."""
    if name_or_path in BUILTIN_GRIDS:
        text = resources.files("harness.grids").joinpath(f"{name_or_path}.toml").read_text(encoding="utf-8")
        source = f"built-in grid {name_or_path!r}"
    else:
        path = Path(name_or_path)
        if not path.is_file():
            raise SptxError(f"grid {name_or_path!r} is neither a built-in grid ({', '.join(BUILTIN_GRIDS)}) nor a file")
        try:
            text, source = path.read_text(encoding="utf-8"), str(path)
        except (OSError, UnicodeDecodeError) as exc:
            raise SptxError(f"cannot read grid {path}: {exc}") from None
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise SptxError(f"{source}: not valid TOML ({exc})") from None
    return parse_grid(raw, source)


def _values_for(model: str, value: Any) -> list[Any]:
    """The values a grid entry gives one model: per-model table, list or scalar."""
    if isinstance(value, dict):
        value = value.get(model)
        if value is None:
            return []
    return list(value) if isinstance(value, list) else [value]


def _setting_combinations(model: str, layers: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every combination of the settings the layers give `model` (later layers override earlier ones)."""
    merged: dict[str, Any] = {}
    for layer in layers:
        for key, value in layer.items():
            values = _values_for(model, value)
            if values:
                merged[key] = values
    keys = sorted(merged)
    return [dict(zip(keys, combo)) for combo in itertools.product(*(merged[k] for k in keys))]


def train_split_size(name: str, data_dir: str | None) -> int | None:
    """Training triples of a dataset without loading it: a synthetic graph's requested size, else the line count
    of its train file; None when it cannot be told here (the worker then checks the batch against the loaded split)."""
    from harness.data.loader import find_dataset_files, scan_split_files
    from harness.data.synthetic import is_synthetic_name, synthetic_shape

    try:
        if is_synthetic_name(name):
            return synthetic_shape(name).split_sizes[0]
        return scan_split_files(find_dataset_files(name, data_dir)).counts.get("n_train")
    except (SptxError, OSError):
        return None


def clamp_batch(values: dict[str, Any], n_train: int | None) -> tuple[dict[str, Any], int | None]:
    """The settings with `batch_size` clamped to `n_train` training triples, and the size asked for (None when
    no clamp was needed)."""
    asked = values.get("batch_size")
    if n_train is None or not isinstance(asked, int) or asked <= n_train:
        return values, None
    return {**values, "batch_size": n_train}, asked


def grid_cells(grid: Grid, scale_name: str, device: str, data_dir: str | None,
               datasets: dict[str, tuple[str, str]], code_version: str | None = None) -> list[Cell]:
    """Round-0 cells of the grid at one scale for the given datasets; `datasets` maps each grid dataset
    to the (name measured, content sha256) pair (the name is itself or its `synthetic:` stand-in). A batch
    larger than a dataset's training split is clamped to it (see the module docstring)."""
    if scale_name not in grid.scales:
        raise SptxError(f"{grid.source} has no scale {scale_name!r}; it has: {', '.join(grid.scales)}")
    scale = grid.scales[scale_name]
    run = {**grid.run, **scale.run}
    cells = []
    for dataset, (name, sha256) in datasets.items():
        n_train = train_split_size(name, data_dir)
        for model, frameworks in grid.frameworks.items():
            for asked in _setting_combinations(model, [grid.settings, scale.settings]):
                values, clamped_from = clamp_batch(asked, n_train)
                where = f"{grid.source} [scales.{scale_name}] {model}"
                for framework in frameworks:
                    for backend in (grid.sparse_backends if framework == "sparse" else (None,)):
                        try:
                            if "threads" in values:
                                check_threads(values["threads"], "threads =")
                            cells.append(make_cell(
                                framework, backend=backend, model=model, dataset=name, dataset_sha256=sha256,
                                device=device, data_dir=data_dir, time_limit_s=float(run.get("time_limit_s", 600)),
                                measure_flops=run.get("measure_flops", True),
                                measure_memory=run.get("measure_memory", True), code_version=code_version or "",
                                batch_clamped_from=clamped_from, **values))
                        except SptxError as exc:
                            raise SptxError(f"{where}: {exc}") from None
    return cells


def grid_rounds(grid: Grid, scale_name: str) -> int:
    """Interleaved rounds per comparison group at this scale (default 1)."""
    return int({**grid.run, **grid.scales[scale_name].run}.get("rounds", 1))


def scale_datasets(grid: Grid, scale_name: str) -> tuple[str, ...]:
    """The datasets a scale runs (its own list, or the grid's)."""
    scale = grid.scales.get(scale_name)
    return (scale.datasets if scale and scale.datasets else None) or grid.datasets
