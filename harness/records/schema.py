"""The public data format: one self-describing record per measured cell (JSON Lines).

Field names are part of the format; `schema_version` changes when they do, and `migrate` brings
older records up to date when they are read.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

__all__ = ["SCHEMA_VERSION", "STATUSES", "Record", "migrate"]

SCHEMA_VERSION = 1
Status = Literal["ok", "oom", "timeout", "error", "unsupported", "unavailable"]
STATUSES: tuple[str, ...] = ("ok", "oom", "timeout", "error", "unsupported", "unavailable")


@dataclass
class Record:
    """One (framework, model, dataset, device, settings) cell and what was measured for it.

    Times are in milliseconds per training step (`time_ms[phase]` has median, iqr, ci_low, ci_high);
    `peak_memory_bytes` is the CUDA allocator peak on CUDA and the live-tensor peak on CPU
    (`memory_kind` says which); `flops` counts sparse products as 2 * nnz * d, `flops_profiler` is
    torch.profiler's dense-counting figure.
    """

    run_id: str
    cell_key: str
    framework: str
    backend: str | None
    model: str
    dissimilarity: str
    dataset: str
    dataset_kind: str
    device: str
    dim: int
    rel_dim: int | None
    batch_size: int
    num_negatives: int
    mode: str
    status: Status
    message: str = ""
    steps_measured: int = 0
    warmup_steps: int = 0
    seed: int = 0
    time_ms: dict[str, dict[str, float]] = field(default_factory=dict)
    batches_per_epoch: int | None = None
    epoch_time_s: float | None = None
    epoch_time_extrapolated: bool | None = None
    peak_memory_bytes: int | None = None
    memory_kind: str | None = None
    peak_memory_bytes_by_phase: dict[str, int] = field(default_factory=dict)
    peak_rss_bytes: int | None = None
    flops: int | None = None
    flops_profiler: int | None = None
    losses: list[float] = field(default_factory=list)
    wall_time_s: float | None = None
    timestamp: str = ""
    env: dict[str, Any] = field(default_factory=dict)
    schema_version: int = SCHEMA_VERSION

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def migrate(raw: dict[str, Any]) -> dict[str, Any]:
    """Bring a record read from disk to the current schema (version 1 is the first: nothing to do yet)."""
    version = raw.get("schema_version", 1)
    if version > SCHEMA_VERSION:
        raise ValueError(f"record schema {version} is newer than this sptx ({SCHEMA_VERSION}); upgrade sptx")
    return raw
