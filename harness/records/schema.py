"""The public data format: one self-describing record per run (JSON Lines).

Every record has the fields of `RecordBase` and a `record_type` saying which kind it is: `measurement`
(`Record`, one framework's timed steps), `distributed` (a `Record` of a data-parallel run, `distributed`
filled) or `training` (harness.train.record.TrainingRecord). All kinds share one `schema_version`; it
changes when field names do, and `migrate` brings older records (versions 1 and 2) up to date when they
are read. What identified the run is the `settings` block (harness.settings.RunSettings), written whole.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from enum import Enum, StrEnum
from typing import Any, Iterable

__all__ = ["SCHEMA_VERSION", "Record", "RecordBase", "RecordType", "Status", "batch_clamp_note", "by_record_type",
           "migrate", "strict_json_value"]

SCHEMA_VERSION = 3


class Status(StrEnum):
    """How a run ended; the values are the strings records hold."""

    OK = "ok"
    OOM = "oom"
    TIMEOUT = "timeout"
    KILLED = "killed"
    ERROR = "error"
    UNSUPPORTED = "unsupported"
    UNAVAILABLE = "unavailable"

    @classmethod
    def final(cls) -> frozenset[Status]:
        """Statuses a rerun would not change (ok, unsupported, unavailable): --retry-failed skips them."""
        return frozenset({cls.OK, cls.UNSUPPORTED, cls.UNAVAILABLE})

    @classmethod
    def failures(cls) -> frozenset[Status]:
        """Statuses of failed runs (error, timeout, oom, killed): the rest; compare and sweep exit 1 on them."""
        return frozenset(cls) - cls.final()

    @property
    def is_final(self) -> bool:
        return self in self.final()

    @property
    def is_failure(self) -> bool:
        return self in self.failures()

    @property
    def text(self) -> str:
        """How reports print it."""
        return "OOM" if self is Status.OOM else self.value


class RecordType(StrEnum):
    """Which kind of run a record describes (its `record_type`)."""

    MEASUREMENT = "measurement"
    DISTRIBUTED = "distributed"
    TRAINING = "training"


@dataclass(kw_only=True)
class RecordBase:
    """The fields every kind of record has: the run's identity, how it ended, when, where and which code."""

    run_id: str
    group_key: str
    framework: str
    options: dict[str, Any]
    label: str
    settings: dict[str, Any]
    status: Status
    message: str = ""
    dataset_kind: str = ""
    wall_time_s: float | None = None
    timestamp: str = ""
    code_version: str = ""
    env: dict[str, Any] = field(default_factory=dict)
    record_type: RecordType
    schema_version: int = SCHEMA_VERSION

    def __post_init__(self) -> None:
        self.status = Status(self.status)
        self.record_type = RecordType(self.record_type)

    def to_dict(self) -> dict[str, Any]:
        return strict_json_value(asdict(self))


@dataclass(kw_only=True)
class Record(RecordBase):
    """One framework measured under one `settings` block in one round, and what was measured.

    Times are wall-clock ms per training step: `time_ms[phase]` has median, iqr, ci_low, ci_high over
    the measured steps, `cpu_time_ms[phase]` the same for user + system CPU time (all threads), and
    `samples` keeps every raw per-step value (wall, user and system ms per phase, page faults, RSS
    growth). `peak_memory_bytes` is the CUDA allocator peak on CUDA and the live-tensor peak of one
    step on CPU (`memory_kind` says which); `process_peak_rss_bytes` the measuring process's peak resident
    memory from its start through the measured steps (loading included), and `graph` the graph's size
    (n_entities, n_relations, n_train) with its load time and the peak resident memory after loading. `flops_model` is the model's analytic FLOPs per step (the
    same for every framework); `flops_executed` is what the counter saw this framework execute, under
    one rule for all; `flops_profiler_dense` is torch.profiler's dense-counting figure, for reference.
    `min_bytes_per_step` is the least memory traffic of the step's work and `bandwidth_bytes_per_s` this
    process's triad bandwidth (harness.measure.roofline): the step's distance from the memory roof.
    `load` holds the machine's load at the start and end of the measurement, and `noisy_reasons` why
    the record's times may be off (empty when none); `disturbed` is True when other processes or the
    hypervisor took CPU time meanwhile (such rounds are left out of speedups where undisturbed ones exist).
    `interleave` says how the round's frameworks shared the machine: `processes` (one after another) or
    `steps` (all started together, measured steps in turns; then `load` covers this cell's own steps only).
    `batch_clamped_from` is None unless the grid asked for a batch larger than the dataset's training split:
    then `settings.batch_size` is the split's size (the batch used, one step = one epoch) and this field the
    size asked for (the paper's TransE/TorusE batch of 393,216 on FB15k-237's 272,115 triples); older records
    read as None. `load_s`, `load_peak_rss_mb` and `load_cached` are the graph's load alone (seconds, the process's
    peak resident MiB after it, and whether it came from the graph cache; graph.load_s also covers drawing the
    initial parameters); None in older records. `distributed` is None for single-process cells; a data-parallel run (`sptx distributed`, record_type
    `distributed`) fills it with its world size, backend, exchange strategy, bytes per step and every rank's
    raw samples (harness/distributed/worker.py), and its `time_ms` has compute / communicate / adam beside
    the phases. A record built with `distributed` filled and no record_type is a `distributed` one.
    """

    cell_key: str
    round: int = 0
    rounds: int = 1
    interleave: str = "processes"
    steps_measured: int = 0
    time_ms: dict[str, dict[str, float]] = field(default_factory=dict)
    cpu_time_ms: dict[str, dict[str, float]] = field(default_factory=dict)
    cuda_event_step_ms: dict[str, float] | None = None
    samples: dict[str, Any] = field(default_factory=dict)
    losses: list[float] = field(default_factory=list)
    batches_per_epoch: int | None = None
    epoch_time_s: float | None = None
    epoch_time_extrapolated: bool | None = None
    peak_memory_bytes: int | None = None
    memory_kind: str | None = None
    peak_memory_bytes_by_phase: dict[str, int] = field(default_factory=dict)
    rss_growth_first_step_bytes: int | None = None
    rss_growth_step_bytes: int | None = None
    process_peak_rss_bytes: int | None = None
    graph: dict[str, Any] = field(default_factory=dict)
    flops_model: int | None = None
    flops_executed: int | None = None
    flops_optimizer: int | None = None
    flops_profiler_dense: int | None = None
    min_bytes_per_step: int | None = None
    bandwidth_bytes_per_s: float | None = None
    load: dict[str, float | None] = field(default_factory=dict)
    noisy_reasons: list[str] = field(default_factory=list)
    disturbed: bool = False
    distributed: dict[str, Any] | None = None
    batch_clamped_from: int | None = None
    load_s: float | None = None
    load_peak_rss_mb: float | None = None
    load_cached: bool | None = None
    record_type: RecordType = RecordType.MEASUREMENT

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.distributed and self.record_type is RecordType.MEASUREMENT:
            self.record_type = RecordType.DISTRIBUTED


def batch_clamp_note(requested: int, used: int) -> str:
    """The one wording of a clamped batch, for records' messages and reports' notes."""
    return f"batch {requested:,} clamped to {used:,}, the whole training split"


def by_record_type(records: Iterable[dict[str, Any]]) -> dict[RecordType, list[dict[str, Any]]]:
    """Records as read (migrated) grouped by kind, each list in the given order; ValueError for a record
    without a known `record_type`."""
    out: dict[RecordType, list[dict[str, Any]]] = {kind: [] for kind in RecordType}
    for r in records:
        try:
            out[RecordType(r["record_type"])].append(r)
        except (KeyError, ValueError):
            raise ValueError(f"record {r.get('run_id')!r} has no known record_type "
                             f"({r.get('record_type')!r}); read records through harness.records") from None
    return out


def strict_json_value(value: Any) -> Any:
    """`value` with every non-finite float replaced by None, so the JSON written is strict (no NaN), and
    enum members (Status, RecordType) by their plain string values."""
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: strict_json_value(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [strict_json_value(v) for v in value]
    return value


_V1_SETTINGS = ("model", "dataset", "device", "dim", "rel_dim", "dissimilarity", "batch_size", "num_negatives",
                "mode", "seed")


def _migrate_v1(raw: dict[str, Any]) -> dict[str, Any]:
    """Version 1 kept the settings as flat fields, one sparse backend field, a lifetime RSS peak and
    FLOPs under the older rule (a +-1 segment sum charged 2 * nnz * d)."""
    from harness.settings import stable_key

    env = raw.get("env") or {}
    settings = {k: raw.get(k) for k in _V1_SETTINGS}
    settings.update(sampler="bernoulli", steps=raw.get("steps_measured", 0), warmup=raw.get("warmup_steps", 0),
                    threads=env.get("threads"), allocator="default", dataset_sha256="", optimizer="adam")
    backend = raw.get("backend")
    options = {"backend": backend} if backend else {}
    framework = raw.get("framework", "")
    out = {k: v for k, v in raw.items() if k not in (*_V1_SETTINGS, "backend", "warmup_steps", "flops",
                                                       "flops_profiler", "peak_rss_bytes")}
    out.update(settings=settings, options=options, group_key=stable_key(settings),
               label=f"{framework}[{backend}]" if backend else framework,
               flops_executed=raw.get("flops"), flops_profiler_dense=raw.get("flops_profiler"),
               code_version=env.get("git_commit") or "", schema_version=2, migrated_from=1)
    return out


def _migrate_v2(raw: dict[str, Any]) -> dict[str, Any]:
    """Version 2 told kinds apart by `record_type: "training"` or a filled `distributed`; version 3 names
    every record's kind in `record_type`."""
    if raw.get("record_type") == RecordType.TRAINING:
        kind = RecordType.TRAINING
    elif raw.get("distributed"):
        kind = RecordType.DISTRIBUTED
    else:
        kind = RecordType.MEASUREMENT
    return {**raw, "record_type": kind.value, "schema_version": 3, "migrated_from": raw.get("migrated_from", 2)}


def migrate(raw: dict[str, Any]) -> dict[str, Any]:
    """Bring a record read from disk to the current schema (`migrated_from` then says the version it had on
    disk); raises ValueError for what cannot be read."""
    if not isinstance(raw, dict):
        raise ValueError(f"a record is a JSON object, not {type(raw).__name__}")
    version = raw.get("schema_version", 1)
    if not isinstance(version, int) or version < 1:
        raise ValueError(f"bad schema_version {version!r}")
    if version > SCHEMA_VERSION:
        raise ValueError(f"record schema {version} is newer than this sptx ({SCHEMA_VERSION}); upgrade sptx")
    if version == 1:
        raw = _migrate_v1(raw)
    if raw["schema_version"] == 2:
        raw = _migrate_v2(raw)
    for required in ("framework", "settings", "status", "record_type"):
        if required not in raw:
            raise ValueError(f"record has no {required!r}")
    if not isinstance(raw["settings"], dict):
        raise ValueError("record's settings is not an object")
    if raw["record_type"] not in tuple(RecordType):
        raise ValueError(f"unknown record_type {raw['record_type']!r}")
    return raw
