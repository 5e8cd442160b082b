"""Measure one cell in this process: load, build the framework step, drive warm-up and measured
steps with the timing / CPU / page-fault / RSS probes, then (round 0 only) memory and FLOPs.
Run as `python -m harness.runner.worker CELL.json OUT.json RUN_ID [--lockstep READ_FD,WRITE_FD]` by the isolation
layer, whose
environment already fixes the thread count and the allocator (harness/runner/process_env.py).
"""

from __future__ import annotations

import datetime as _dt
import os
import sys
import time
import traceback
from dataclasses import dataclass, replace
from typing import Any

import torch

from harness.errors import SptxError
from harness.measure.memory import peak_rss_bytes
from harness.records.environment import environment
from harness.records.schema import Record
from harness.runner.cell import Cell

__all__ = ["Workload", "base_record", "classify_failure", "main", "measure_cell", "measure_steps",
           "prepare_workload", "step_notes", "workload_for"]


def base_record(cell: Cell, run_id: str, status: str, message: str = "", *, dataset_kind: str | None = None,
                command_line: list[str] | None = None) -> Record:
    """A record holding the cell's identity, a status and a message; measurements are filled in later."""
    settings = cell.settings
    kind = dataset_kind or ("synthetic" if settings.dataset.startswith("synthetic:") else "real")
    return Record(
        run_id=run_id, cell_key=cell.key, group_key=cell.group_key, framework=cell.framework,
        options=cell.option_dict, label=cell.framework_label, settings=settings.to_dict(), status=status,
        message=message, round=cell.round, rounds=cell.rounds, dataset_kind=kind,
        timestamp=_dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        code_version=cell.code_version, env=environment(settings.seed, command_line),
        batch_clamped_from=cell.batch_clamped_from,
    )


def classify_failure(exc: BaseException) -> str:
    """'oom' for allocation failures (CPU or CUDA), 'error' for everything else."""
    text = f"{type(exc).__name__}: {exc}"
    if isinstance(exc, MemoryError) or isinstance(exc, getattr(torch.cuda, "OutOfMemoryError", ())):
        return "oom"
    if "out of memory" in text.lower() or "can't allocate memory" in text.lower() or "cannot allocate" in text.lower():
        return "oom"
    return "error"


def build_step(cell: Cell, cfg, train, params, device, eager: bool = False):
    """The framework's adapter with the cell's declared options (native=True in native mode); `eager`
    leaves torch.compile out (FLOPs are counted on the eager step: the same math)."""
    from baselines import get_framework

    options = dict(cell.option_dict, compile=False) if eager else cell.option_dict
    return get_framework(cell.framework).build(cfg, train, params, device, options,
                                               native=cell.settings.mode == "native")


def _stats(samples: dict[str, list[float]]) -> dict[str, dict[str, float]]:
    from harness.measure.timing import summarize

    out = {}
    for phase, values in samples.items():
        stats = summarize(values)
        if stats is not None:
            out[phase] = stats.as_dict()
    return out


def _median(values: list[float]) -> float | None:
    import numpy as np

    return float(np.median(values)) if values else None


@dataclass
class Workload:
    """What one cell trains on: the dataset, the model and training settings, batches and parameters."""

    dataset: Any
    cfg: Any
    train: Any
    stream: Any
    params: dict[str, torch.Tensor]
    load: "GraphLoad | None" = None


@dataclass(frozen=True)
class GraphLoad:
    """The graph's load alone: seconds, the process's peak resident MiB after it, whether it came from the cache."""

    seconds: float
    peak_rss_mb: float
    cached: bool


def prepare_workload(cell: Cell) -> Workload:
    """Load the cell's dataset (checking it is the one the run identified) and build everything a step needs."""
    return workload_for(cell.settings, cell.data_dir)


def workload_for(s: Any, data_dir: str | None, initial: bool = True, **train_options: Any) -> Workload:
    """The workload of RunSettings `s`: the dataset (checked against the run's content hash and batch size),
    the model and training configs (`train_options`: margin, lr, weight_decay of `sptx train`), the batch
    stream and the seeded initial parameters (none with `initial=False`: a sharded distributed rank draws only
    its own rows); shared by measurement, training and distributed workers."""
    from harness.data import load_dataset
    from harness.sampling import BatchStream, make_sampler
    from harness.spec import ModelConfig, TrainConfig, init_parameters

    from harness.data.cache import holds

    cached, started = holds(s.dataset_sha256 or ""), time.perf_counter()
    dataset = load_dataset(s.dataset, data_dir)
    load = GraphLoad(time.perf_counter() - started, peak_rss_bytes() / 2**20, cached)
    actual = getattr(dataset, "content_sha256", "")
    if s.dataset_sha256 and actual and actual != s.dataset_sha256:
        raise SptxError(f"the files of {s.dataset} changed since the run started (sha256 {actual[:12]}, "
                        f"expected {s.dataset_sha256[:12]})")
    if s.batch_size > dataset.train.shape[0]:  # sweeps clamp a grid's batch to the split when they make the cell
        raise SptxError(f"batch size {s.batch_size} is larger than the {dataset.train.shape[0]} training "
                        f"triples of {s.dataset}")
    cfg = ModelConfig(s.model, dataset.n_entities, dataset.n_relations, s.dim, rel_dim=s.rel_dim,
                      dissimilarity=s.dissimilarity)
    train = TrainConfig(num_negatives=s.num_negatives, sampler=s.sampler, seed=s.seed, optimizer=s.optimizer,
                        loss=s.loss, adversarial_temperature=s.adversarial_temperature,
                        **train_options)
    sampler = make_sampler(s.sampler, dataset.train, dataset.n_entities, dataset.n_relations)
    stream = BatchStream(dataset.train, s.batch_size, sampler, s.num_negatives, s.seed)
    return Workload(dataset, cfg, train, stream, init_parameters(cfg, seed=s.seed) if initial else {}, load)


def step_notes(cell: Cell, step: Any) -> list[str]:
    """What the record should say about how the step ran: its kernel, a missing native variant or fused Adam, and
    which implementation of a row-sparse optimizer ran (FrameworkStep.optimizer_note)."""
    from baselines.base import optimizer_kind

    from harness.records.schema import batch_clamp_note

    s, notes = cell.settings, []
    if cell.batch_clamped_from:
        notes.append(batch_clamp_note(cell.batch_clamped_from, s.batch_size))
    if s.mode == "native" and not type(step).has_native:
        notes.append(f"{cell.framework} has no native variant: the identical-work step was measured")
    kernel = getattr(step, "kernel", None)
    if kernel:
        notes.append(f"kernel: {kernel}")
    optimizer = getattr(step, "optimizer", None)
    if isinstance(optimizer, torch.optim.Optimizer) and optimizer_kind(optimizer) != s.optimizer:
        notes.append(f"optimizer: {optimizer_kind(optimizer)} ({s.optimizer} is not available here)")
    if note := getattr(step, "optimizer_note", lambda: None)():  # the row-sparse implementation that ran
        notes.append(note)
    return notes


def measure_steps(record: Record, step: Any, batches: Any, cell: Cell, device: torch.device,
                  gate: Any = None) -> None:
    """Warm-up, then the measured steps with the RSS, CPU/page-fault and clock probes (the clock closest
    to the phases), the machine's load around them, and on CUDA the un-instrumented event-timed steps."""
    from harness.measure import load as machine_load
    from harness.measure.driver import CudaEventTimer, PhaseTimer, ResourceProbe, drive_steps, monotonic_clock
    from harness.measure.memory import RssProbe
    from harness.measure.timing import summarize

    s = cell.settings
    warm_rss = RssProbe()
    drive_steps(step, batches, s.warmup, [warm_rss])
    rss, resources, timer = RssProbe(), ResourceProbe(), PhaseTimer(monotonic_clock(device))
    if gate is not None:  # lockstep: each measured step waits for its turn (harness/runner/lockstep.py)
        gate.ready()
        drive_steps(step, gate.turns(batches), s.steps, [gate, rss, resources, timer])
        record.load = gate.load.as_dict()
        record.interleave = "steps"
        gate.wait_turn_to_finish()
    else:
        before = machine_load.snapshot()
        drive_steps(step, batches, s.steps, [rss, resources, timer])
        record.load = machine_load.load_between(before, machine_load.snapshot())
    if device.type == "cuda":
        events = CudaEventTimer(device)
        drive_steps(step, batches, s.steps, [events])
        stats = summarize(events.finish())
        record.cuda_event_step_ms = stats.as_dict() if stats else None

    record.steps_measured = timer.steps
    record.losses = timer.losses
    record.time_ms = _stats(timer.samples_ms)
    cpu = {p: [u + sy for u, sy in zip(resources.user_ms[p], resources.system_ms[p])] for p in resources.user_ms}
    record.cpu_time_ms = _stats(cpu)
    record.samples = {"wall_ms": timer.samples_ms, "user_ms": resources.user_ms, "system_ms": resources.system_ms,
                      "minor_faults": resources.minor_faults, "major_faults": resources.major_faults,
                      "rss_growth_bytes": rss.growth_bytes}
    record.rss_growth_first_step_bytes = (warm_rss.growth_bytes or rss.growth_bytes or [None])[0]
    median_growth = _median(rss.growth_bytes)
    record.rss_growth_step_bytes = None if median_growth is None else int(median_growth)
    record.disturbed = machine_load.disturbed(record.load)
    record.noisy_reasons = machine_load.noisy_reasons(record.load, _median(resources.system_ms["step"]),
                                                      record.time_ms.get("step", {}).get("median"))


def _fill_epoch_time(record: Record, stream: Any) -> None:
    """Epoch time: measured when the run covered an epoch, else the median step x batches per epoch."""
    per_epoch = stream.batches_per_epoch()
    record.batches_per_epoch = per_epoch
    step_samples = record.samples["wall_ms"]["step"]
    if len(step_samples) >= per_epoch:
        record.epoch_time_s = sum(step_samples[:per_epoch]) / 1e3
        record.epoch_time_extrapolated = False
    else:
        record.epoch_time_s = record.time_ms["step"]["median"] * per_epoch / 1e3
        record.epoch_time_extrapolated = True


def measure_cell(cell: Cell, run_id: str, command_line: list[str] | None = None, gate: Any = None) -> Record:
    """Run the cell here and return its record (status 'ok', or the failure it met); with a lockstep `gate`,
    the measured steps take turns with the other workers of the comparison."""
    from harness.measure.model_flops import model_flops_per_step
    from harness.measure.roofline import min_bytes_per_step, triad_bandwidth
    from harness.spec import OwnedParameters

    started = time.perf_counter()
    s = cell.settings
    torch.set_num_threads(s.threads)
    device = torch.device(s.device)
    work = prepare_workload(cell)
    loaded = time.perf_counter()
    record = base_record(cell, run_id, "ok", dataset_kind=work.dataset.kind, command_line=command_line)
    if work.load is not None:
        record.load_s, record.load_peak_rss_mb, record.load_cached = (work.load.seconds, work.load.peak_rss_mb,
                                                                      work.load.cached)
    record.graph = {"n_entities": work.dataset.n_entities, "n_relations": work.dataset.n_relations,
                    "n_train": int(work.dataset.train.shape[0]), "load_s": loaded - started,
                    "load_peak_rss_bytes": peak_rss_bytes()}
    step = build_step(cell, work.cfg, work.train, OwnedParameters(work.params), device)
    work = replace(work, params={})  # the step holds them now; the FLOP pass draws the same ones again
    notes = step_notes(cell, step)
    batches = iter(work.stream)
    measure_steps(record, step, batches, cell, device, gate)
    record.process_peak_rss_bytes = peak_rss_bytes()
    _fill_epoch_time(record, work.stream)
    record.flops_model = model_flops_per_step(s.model, s.dissimilarity, s.dim, s.rel_dim, s.batch_size,
                                              s.num_negatives)
    record.min_bytes_per_step = min_bytes_per_step(s.model, work.dataset.n_entities, work.dataset.n_relations,
                                                   s.dim, s.rel_dim, s.batch_size, s.num_negatives)
    if cell.measure_memory:
        _measure_memory(record, step, batches, device)
        if device.type == "cpu":  # the same process and threads as the step
            record.bandwidth_bytes_per_s = triad_bandwidth()
    if cell.measure_flops:
        _count_flops(record, cell, work.cfg, work.train, device, next(batches), notes)
    record.message = "; ".join(n for n in notes if n)
    record.wall_time_s = time.perf_counter() - started
    return record


def _measure_memory(record: Record, step, batches, device: torch.device) -> None:
    """CUDA: the allocator's peak over one driven step. CPU: live-tensor peak of one more step."""
    from harness.measure import memory
    from harness.measure.driver import drive_step

    if device.type == "cuda":
        record.memory_kind = "cuda_allocator"
        with memory.cuda_peak_tracker(device) as tracker, tracker.phase("step"):
            drive_step(step, next(batches))
        record.peak_memory_bytes = int(tracker.peaks["step"])
        return
    record.memory_kind = "cpu_live_tensors"
    record.peak_memory_bytes = int(memory.step_live_tensor_peak(step, next(batches)).peak_bytes)


def _count_flops(record: Record, cell: Cell, cfg, train, device, batch, notes: list[str]) -> None:
    """Executed and profiler FLOPs of one step, on a fresh eager step (from the same seeded initial parameters)
    so the timed one is untouched."""
    from harness.measure.flops import count_step_flops
    from harness.spec import init_parameters

    step = build_step(cell, cfg, train, init_parameters(cfg, seed=cell.settings.seed), device, eager=True)
    counted = count_step_flops(step, batch)
    hidden = step.work_outside_aten()
    record.flops_executed = None if hidden else int(counted.executed)
    record.flops_optimizer = int(counted.optimizer)
    record.flops_profiler_dense = None if counted.profiler is None or hidden else int(counted.profiler)
    if hidden:
        notes.append(f"executed FLOPs not counted: {hidden} run outside aten, where the counter cannot see them")
    if counted.uncounted_ops:
        notes.append("FLOPs not counted for: " + ", ".join(sorted(counted.uncounted_ops)))


def main(argv: list[str] | None = None) -> int:
    """Read a cell, measure it, write its record as JSON; failures and SIGINT/SIGTERM become records too."""
    import json

    from harness.interrupts import (install_interrupt_handlers, interrupted_message, interrupts_blocked,
                                    release_interrupts)

    install_interrupt_handlers()
    argv = sys.argv[1:] if argv is None else argv
    cell_path, out_path, run_id = argv[0], argv[1], argv[2]
    gate = None
    if len(argv) > 4 and argv[3] == "--lockstep":
        from harness.runner.gate import LockstepGate

        gate = LockstepGate.from_fds(argv[4])
    command_line = json.loads(os.environ.get("SPTX_COMMAND_LINE", "null"))
    with open(cell_path, encoding="utf-8") as fh:
        cell = Cell.from_json(fh.read())
    try:
        release_interrupts()
        record = measure_cell(cell, run_id, command_line, gate)
    except KeyboardInterrupt as exc:  # SIGINT or SIGTERM, forwarded by the parent
        record = base_record(cell, run_id, "killed", interrupted_message(exc), command_line=command_line)
    except BaseException as exc:  # noqa: BLE001 - every failure must become a record
        status = classify_failure(exc)
        message = f"{type(exc).__name__}: {exc}".strip().splitlines()[0][:500] if str(exc) else type(exc).__name__
        traceback.print_exc(file=sys.stderr)
        record = base_record(cell, run_id, status, message, command_line=command_line)
    with interrupts_blocked():
        tmp = out_path + ".tmp"
        with open(tmp, "w", encoding="utf-8") as fh:
            json.dump(record.to_dict(), fh, default=str, allow_nan=False)
        os.replace(tmp, out_path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
