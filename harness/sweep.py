"""Sweeps: a grid of datasets x models x frameworks at a named scale, read from a commented TOML file
(the built-in `paper` grid lives in harness/grids/paper.toml) and expanded into runner cells."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from harness.errors import SptxError
from harness.runner.cell import Cell
from harness.spec import MODEL_NAMES

__all__ = ["Scale", "Grid", "load_grid", "grid_cells", "BUILTIN_GRIDS"]

BUILTIN_GRIDS: tuple[str, ...] = ("paper",)

_GRID_KEYS = {"datasets", "fallback_synthetic", "negatives", "seed", "sparse_backends"}
_MODEL_KEYS = {"frameworks"}
_SCALE_KEYS = {"steps", "warmup", "time_limit_s", "measure_flops", "dim", "batch_size", "datasets"}


@dataclass(frozen=True)
class Scale:
    """Sizes and measurement effort of one scale; `dim` and `batch_size` are per model."""

    name: str
    dim: dict[str, int]
    batch_size: dict[str, int]
    steps: int = 20
    warmup: int = 3
    time_limit_s: float = 600.0
    measure_flops: bool = True
    datasets: tuple[str, ...] | None = None


@dataclass(frozen=True)
class Grid:
    """Datasets x models x frameworks, and the scales it can run at."""

    source: str
    datasets: tuple[str, ...]
    frameworks: dict[str, tuple[str, ...]]
    scales: dict[str, Scale]
    fallback_synthetic: bool = True
    negatives: int = 1
    seed: int = 0
    sparse_backends: tuple[str, ...] = ("segment",)
    notes: list[str] = field(default_factory=list)


def _check_keys(where: str, table: dict[str, Any], allowed: set[str]) -> None:
    unknown = sorted(set(table) - allowed)
    if unknown:
        raise SptxError(f"{where}: unknown key(s) {', '.join(unknown)}; allowed: {', '.join(sorted(allowed))}")


def _per_model(where: str, value: Any) -> dict[str, int]:
    if not isinstance(value, dict) or set(value) - set(MODEL_NAMES):
        raise SptxError(f"{where}: expected a table keyed by model ({', '.join(MODEL_NAMES)})")
    return {k: int(v) for k, v in value.items()}


def _parse_scale(source: str, name: str, table: dict[str, Any]) -> Scale:
    where = f"{source} [scales.{name}]"
    _check_keys(where, table, _SCALE_KEYS)
    if "dim" not in table or "batch_size" not in table:
        raise SptxError(f"{where}: needs `dim` and `batch_size` tables")
    datasets = table.get("datasets")
    return Scale(name=name, dim=_per_model(f"{where} dim", table["dim"]),
                 batch_size=_per_model(f"{where} batch_size", table["batch_size"]),
                 steps=int(table.get("steps", 20)), warmup=int(table.get("warmup", 3)),
                 time_limit_s=float(table.get("time_limit_s", 600)),
                 measure_flops=bool(table.get("measure_flops", True)),
                 datasets=tuple(datasets) if datasets is not None else None)


def parse_grid(raw: dict[str, Any], source: str) -> Grid:
    """A Grid from parsed TOML, with every key checked."""
    _check_keys(source, raw, {"grid", "models", "scales"})
    grid = raw.get("grid", {})
    _check_keys(f"{source} [grid]", grid, _GRID_KEYS)
    models = raw.get("models", {})
    unknown = sorted(set(models) - set(MODEL_NAMES))
    if unknown:
        raise SptxError(f"{source}: unknown model(s) {', '.join(unknown)}; known: {', '.join(MODEL_NAMES)}")
    frameworks = {}
    for model, table in models.items():
        _check_keys(f"{source} [models.{model}]", table, _MODEL_KEYS)
        frameworks[model] = tuple(table.get("frameworks", ()))
    scales = {name: _parse_scale(source, name, table) for name, table in raw.get("scales", {}).items()}
    if not grid.get("datasets") or not frameworks or not scales:
        raise SptxError(f"{source}: a grid needs [grid] datasets, at least one [models.*] and one [scales.*]")
    return Grid(source=source, datasets=tuple(grid["datasets"]), frameworks=frameworks, scales=scales,
                fallback_synthetic=bool(grid.get("fallback_synthetic", True)),
                negatives=int(grid.get("negatives", 1)), seed=int(grid.get("seed", 0)),
                sparse_backends=tuple(grid.get("sparse_backends", ("segment",))))


def load_grid(name_or_path: str) -> Grid:
    """A built-in grid by name (`paper`) or a user's TOML file."""
    if name_or_path in BUILTIN_GRIDS:
        text = resources.files("harness.grids").joinpath(f"{name_or_path}.toml").read_text(encoding="utf-8")
        source = f"built-in grid {name_or_path!r}"
    else:
        path = Path(name_or_path)
        if not path.is_file():
            raise SptxError(f"grid {name_or_path!r} is neither a built-in grid ({', '.join(BUILTIN_GRIDS)}) nor a file")
        text, source = path.read_text(encoding="utf-8"), str(path)
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise SptxError(f"{source}: not valid TOML ({exc})") from None
    return parse_grid(raw, source)


def grid_cells(grid: Grid, scale_name: str, device: str, data_dir: str | None,
               dataset_names: dict[str, str]) -> list[Cell]:
    """Every cell of the grid at one scale; `dataset_names` maps each grid dataset to the name measured
    (itself, or its `synthetic:` stand-in)."""
    if scale_name not in grid.scales:
        raise SptxError(f"{grid.source} has no scale {scale_name!r}; it has: {', '.join(grid.scales)}")
    scale = grid.scales[scale_name]
    cells = []
    for dataset in scale.datasets or grid.datasets:
        for model, frameworks in grid.frameworks.items():
            if model not in scale.dim or model not in scale.batch_size:
                raise SptxError(f"{grid.source} [scales.{scale_name}]: no dim/batch_size for {model}")
            for framework in frameworks:
                for backend in (grid.sparse_backends if framework == "sparse" else (None,)):
                    cells.append(Cell(
                        framework=framework, model=model, dataset=dataset_names[dataset], device=device,
                        dim=scale.dim[model], batch_size=scale.batch_size[model], num_negatives=grid.negatives,
                        steps=scale.steps, warmup=scale.warmup, seed=grid.seed, backend=backend,
                        data_dir=data_dir, time_limit_s=scale.time_limit_s, measure_flops=scale.measure_flops,
                    ))
    return cells


def scale_datasets(grid: Grid, scale_name: str) -> tuple[str, ...]:
    """The datasets a scale runs (its own list, or the grid's)."""
    scale = grid.scales.get(scale_name)
    return (scale.datasets if scale and scale.datasets else None) or grid.datasets
