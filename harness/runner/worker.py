"""Measure one cell in this process: load, build the framework step, time real batches, then count
memory and FLOPs. Run as `python -m harness.runner.worker CELL.json OUT.json` by the isolation layer,
so every number belongs to a fresh process."""

from __future__ import annotations

import datetime as _dt
import inspect
import os
import resource
import sys
import time
import traceback
from itertools import islice
from typing import Any

import torch

from harness.records.environment import environment
from harness.records.schema import Record
from harness.runner.cell import Cell

__all__ = ["base_record", "measure_cell", "classify_failure", "main"]


def base_record(cell: Cell, run_id: str, status: str, message: str = "", *, dataset_kind: str | None = None,
                command_line: list[str] | None = None) -> Record:
    """A record holding the cell's settings, a status and a message; measurements are filled in later."""
    from harness.spec import DEFAULT_DISSIMILARITY

    kind = dataset_kind or ("synthetic" if cell.dataset.startswith("synthetic:") else "real")
    return Record(
        run_id=run_id, cell_key=cell.key, framework=cell.framework, backend=cell.backend, model=cell.model,
        dissimilarity=cell.dissimilarity or DEFAULT_DISSIMILARITY.get(cell.model, ""), dataset=cell.dataset,
        dataset_kind=kind, device=cell.device, dim=cell.dim, rel_dim=cell.rel_dim, batch_size=cell.batch_size,
        num_negatives=cell.num_negatives, mode=cell.mode, status=status, message=message,
        warmup_steps=cell.warmup, seed=cell.seed,
        timestamp=_dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        env=environment(cell.seed, command_line),
    )


def classify_failure(exc: BaseException) -> str:
    """'oom' for allocation failures (CPU or CUDA), 'error' for everything else."""
    text = f"{type(exc).__name__}: {exc}"
    if isinstance(exc, MemoryError) or isinstance(exc, getattr(torch.cuda, "OutOfMemoryError", ())):
        return "oom"
    if "out of memory" in text.lower() or "can't allocate memory" in text.lower() or "cannot allocate" in text.lower():
        return "oom"
    return "error"


def _limit_memory(extra_bytes: int) -> None:
    """Cap this process's address space at what it uses now plus `extra_bytes` (forces 'oom' in tests)."""
    import psutil

    limit = psutil.Process().memory_info().vms + extra_bytes
    _, hard = resource.getrlimit(resource.RLIMIT_AS)
    resource.setrlimit(resource.RLIMIT_AS, (limit, hard))


def _unlimit_memory() -> None:
    """Lift the soft cap again, so the failure can still be written down."""
    _, hard = resource.getrlimit(resource.RLIMIT_AS)
    resource.setrlimit(resource.RLIMIT_AS, (hard, hard))


def _build_step(cell: Cell, cfg, train, params, device):
    from baselines import get_framework

    cls = get_framework(cell.framework)
    options: dict[str, Any] = {}
    accepted = inspect.signature(cls.__init__).parameters
    if cell.backend is not None and "backend" in accepted:
        options["backend"] = cell.backend
    if cell.mode == "native" and "native" in accepted:
        options["native"] = True
    return cls(cfg, train, params, device, **options)


def measure_cell(cell: Cell, run_id: str, command_line: list[str] | None = None) -> Record:
    """Run the cell here and return its record (status 'ok', or the failure it met)."""
    from harness.data import load_dataset
    from harness.measure.timing import time_steps
    from harness.sampling import BatchStream, make_sampler
    from harness.spec import ModelConfig, TrainConfig, init_parameters

    started = time.perf_counter()
    device = torch.device(cell.device)
    dataset = load_dataset(cell.dataset, cell.data_dir)
    record = base_record(cell, run_id, "ok", dataset_kind=dataset.kind, command_line=command_line)
    cfg = ModelConfig(cell.model, dataset.n_entities, dataset.n_relations, cell.dim, rel_dim=cell.rel_dim,
                      dissimilarity=cell.dissimilarity)
    train = TrainConfig(num_negatives=cell.num_negatives, sampler=cell.sampler, seed=cell.seed)
    sampler = make_sampler(cell.sampler, dataset.train, dataset.n_entities, dataset.n_relations)
    stream = BatchStream(dataset.train, cell.batch_size, sampler, cell.num_negatives, cell.seed)
    params = init_parameters(cfg, seed=cell.seed)
    if cell.memory_limit_bytes is not None:
        _limit_memory(cell.memory_limit_bytes)

    step = _build_step(cell, cfg, train, params, device)
    if cell.mode == "native" and "native" not in inspect.signature(type(step).__init__).parameters:
        record.message = f"{cell.framework} has no native variant: the identical-work step was measured"
    notes = [record.message] if record.message else []
    kernel = getattr(step, "kernel", None)
    if kernel:
        notes.append(f"kernel: {kernel}")

    batches = iter(stream)
    times = time_steps(step, batches, cell.warmup, cell.steps, device)
    record.steps_measured = cell.steps
    record.losses = times.losses
    record.time_ms = {phase: stats.as_dict() for phase, stats in times.stats().items()}
    record.peak_memory_bytes_by_phase = dict(getattr(times, "peak_memory_bytes_by_phase", {}) or {})

    per_epoch = stream.batches_per_epoch()
    record.batches_per_epoch = per_epoch
    step_samples = times.samples_ms["step"]
    if len(step_samples) >= per_epoch:
        record.epoch_time_s = sum(step_samples[:per_epoch]) / 1e3
        record.epoch_time_extrapolated = False
    else:
        record.epoch_time_s = record.time_ms["step"]["median"] * per_epoch / 1e3
        record.epoch_time_extrapolated = True

    if cell.measure_memory:
        _measure_memory(record, step, batches, device)
    if cell.measure_flops:
        _count_flops(record, cell, cfg, train, params, device, next(batches), notes)
    from harness.measure.memory import peak_rss_bytes

    record.peak_rss_bytes = peak_rss_bytes()
    record.message = "; ".join(n for n in notes if n)
    record.wall_time_s = time.perf_counter() - started
    return record


def _measure_memory(record: Record, step, batches, device: torch.device) -> None:
    """CUDA: the allocator's peak over the measured steps. CPU: live-tensor peak of one more step."""
    from harness.measure import memory

    if device.type == "cuda":
        record.memory_kind = "cuda_allocator"
        by_phase = record.peak_memory_bytes_by_phase
        record.peak_memory_bytes = max(by_phase.values()) if by_phase else int(torch.cuda.max_memory_allocated(device))
        return
    record.memory_kind = "cpu_live_tensors"
    record.peak_memory_bytes = int(memory.step_live_tensor_peak(step, next(batches)).peak_bytes)


def _count_flops(record: Record, cell: Cell, cfg, train, params, device, batch, notes: list[str]) -> None:
    """Sparse-aware and profiler FLOPs of one step, on a fresh step so the timed one is untouched."""
    from harness.measure.flops import count_step_flops

    counted = count_step_flops(_build_step(cell, cfg, train, params, device), batch)
    record.flops = int(counted.sparse_aware)
    record.flops_profiler = None if counted.profiler is None else int(counted.profiler)
    if counted.uncounted_ops:
        notes.append("FLOPs not counted for: " + ", ".join(sorted(counted.uncounted_ops)))


def main(argv: list[str] | None = None) -> int:
    """Read a cell, measure it, write its record as JSON; failures become records too."""
    import json

    argv = sys.argv[1:] if argv is None else argv
    cell_path, out_path, run_id = argv[0], argv[1], argv[2]
    command_line = json.loads(os.environ.get("SPTX_COMMAND_LINE", "null"))
    with open(cell_path, encoding="utf-8") as fh:
        cell = Cell.from_json(fh.read())
    try:
        record = measure_cell(cell, run_id, command_line)
    except BaseException as exc:  # noqa: BLE001 - every failure must become a record
        status = classify_failure(exc)
        message = f"{type(exc).__name__}: {exc}".strip().splitlines()[0][:500] if str(exc) else type(exc).__name__
        traceback.print_exc(file=sys.stderr)
        _unlimit_memory()
        record = base_record(cell, run_id, status, message, command_line=command_line)
    tmp = out_path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as fh:
        json.dump(record.to_dict(), fh, default=str)
    os.replace(tmp, out_path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
