"""One rank of a distributed run, started by torchrun (torch.distributed's elastic launcher), which sets
RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR and MASTER_PORT. `sptx distributed` starts it; so can torchrun
directly, on one node or several:

    torchrun --nnodes 2 --nproc-per-node 8 --rdzv-backend c10d --rdzv-endpoint HOST:29500 \\
        -m harness.distributed.worker --model transe --dataset FB15k-237 --device cuda --strategy rowsparse \\
        --batch-size 32768 --threads 1 --out results/distributed.jsonl

Every rank loads the dataset, draws the same seeded global batches, trains on its shard, and measures
its steps with the step driver's probes; rank 0 gathers the ranks' raw samples, checks that the
replicated parameters are identical on every rank (for `sharded`: the relation-side tables; the entity
rows live on their owners only), and appends one record to --out.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import os
import signal
import socket
import sys
from dataclasses import asdict, replace
from typing import Any

import torch
import torch.distributed as dist

from harness.distributed.settings import (
    DistributedSettings, add_distributed_arguments, distributed_from_args, resolve_backend,
)
from harness.errors import SptxError
from harness.measure.driver import Probe
from harness.settings import RunSettings, add_settings_arguments, settings_from_args, stable_key

__all__ = ["FAULT_VARIABLE", "build_parser", "distributed_record", "main", "run_rank"]

# Test hook: "RANK:STEP" makes that rank kill itself (SIGKILL) at that measured step, as a crash would;
# "RANK:STEP:stop" makes it stop (SIGSTOP), as a hung rank would, so its peers' collectives time out.
FAULT_VARIABLE = "SPTX_FAULT_RANK_AT_STEP"
PARAMETER_TOLERANCE = 0.0  # ranks apply the same update to the same numbers: the tables must be bit-identical
FRAMEWORK = "sparse"


def build_parser() -> argparse.ArgumentParser:
    """The worker's options: RunSettings and DistributedSettings flags, where to write, a run id."""
    parser = argparse.ArgumentParser(prog="python -m harness.distributed.worker",
                                     description="one rank of a data-parallel SpMM training run (start it with torchrun)")
    add_settings_arguments(parser)
    add_distributed_arguments(parser, exclude=("world_size",))
    parser.add_argument("--data-dir", default=None, help="folder holding the dataset")
    parser.add_argument("--out", default=None, help="JSON Lines results file rank 0 appends its record to")
    parser.add_argument("--run-id", default=None, help="the run this record belongs to (default: a new id)")
    parser.add_argument("--round", type=int, default=0, help="which repetition of the run this is (0-based)")
    parser.add_argument("--rounds", type=int, default=1, help="how many repetitions the run has")
    parser.add_argument("--save-parameters", default=None,
                        help="rank 0 saves the final parameters here (torch.save of a dict of tensors)")
    return parser


def _device(settings: RunSettings, local_rank: int) -> torch.device:
    """CUDA: the GPU of this rank's LOCAL_RANK; otherwise the device named in the settings."""
    if settings.device.startswith("cuda"):
        if not torch.cuda.is_available():
            raise SptxError("--device cuda: no CUDA device on this machine")
        torch.cuda.set_device(local_rank)
        return torch.device("cuda", local_rank)
    return torch.device(settings.device)


class _FaultAt(Probe):
    """Probe that sends this process `signal_` at one measured step (the FAULT_VARIABLE test hook)."""

    def __init__(self, step: int, signal_: signal.Signals) -> None:
        self.step = step
        self.signal = signal_

    def step_start(self, index: int) -> None:
        if index == self.step:
            os.kill(os.getpid(), self.signal)


def _fault_probes(rank: int) -> list[Probe]:
    spec = os.environ.get(FAULT_VARIABLE, "")
    if not spec:
        return []
    victim, step, *how = spec.split(":")
    signal_ = signal.SIGSTOP if how == ["stop"] else signal.SIGKILL
    return [_FaultAt(int(step), signal_)] if int(victim) == rank else []


def run_rank(settings: RunSettings, dist_settings: DistributedSettings, data_dir: str | None,
             rank: int, local_rank: int) -> tuple[dict[str, Any], Any, Any]:
    """Train and measure on this rank: (its raw samples, its step, the workload). The step is a
    DistributedSparseStep (replicated tables) or, for `sharded`, a ShardedSparseStep (this rank's block of the
    entity rows only: the workload then draws no initial parameters, the step draws its block's)."""
    from baselines.sparse import SparseStep
    from harness.distributed.exchange import get_strategy
    from harness.distributed.sharded import ShardedSparseStep
    from harness.distributed.training import DistributedSparseStep
    from harness.measure import load as machine_load
    from harness.measure.driver import PhaseTimer, ResourceProbe, drive_steps, monotonic_clock
    from harness.measure.memory import peak_rss_bytes
    from harness.runner.worker import workload_for
    from harness.spec import OwnedParameters

    device = _device(settings, local_rank)
    strategy = get_strategy(dist_settings.strategy)
    refusal = strategy.refusal(settings.optimizer)
    if refusal:
        raise SptxError(refusal)
    work = workload_for(settings, data_dir, initial=strategy.replicated)
    if settings.batch_size < dist_settings.world_size:
        raise SptxError(f"batch size {settings.batch_size} is smaller than the world size {dist_settings.world_size}")
    clock = monotonic_clock(device)
    if strategy.replicated:  # the step adopts the initial tables (no second copy of the entity table)
        step = DistributedSparseStep(SparseStep(work.cfg, work.train, OwnedParameters(work.params), device,
                                                backend=work_backend()),
                                     strategy, rank, dist_settings.world_size, clock)
    else:
        step = ShardedSparseStep(work.cfg, work.train, rank, dist_settings.world_size, clock, device, work_backend())
    batches = iter(work.stream)
    drive_steps(step, batches, settings.warmup)
    step.reset_samples()
    timer, resources = PhaseTimer(clock), ResourceProbe()
    dist.barrier()
    before = machine_load.snapshot()
    drive_steps(step, batches, settings.steps, [*_fault_probes(rank), resources, timer])
    after = machine_load.snapshot()
    samples = {
        "rank": rank, "hostname": socket.gethostname(), "device": str(device), "threads": torch.get_num_threads(),
        "wall_ms": timer.samples_ms, "exchange_ms": step.exchange_ms, "update_ms": step.update_ms,
        "losses": timer.losses, "user_ms": resources.user_ms, "system_ms": resources.system_ms,
        "minor_faults": resources.minor_faults, "major_faults": resources.major_faults,
        "costs": [asdict(c) for c in step.costs],
        "load_before": asdict(before), "load_after": asdict(after),
        # memory: the process's peak RSS after the graph's load and at the end (getrusage), what the step holds
        # (parameters and optimizer state) and how many entity rows of them; CUDA: the allocator's peak
        "load_peak_rss_bytes": int(work.load.peak_rss_mb * 2**20) if work.load else None,
        "peak_rss_bytes": peak_rss_bytes(), "held_bytes": step.held_bytes(),
        "entity_rows_held": step.held_entity_rows(),
        "cuda_peak_bytes": torch.cuda.max_memory_allocated(device) if device.type == "cuda" else None,
    }
    return samples, step, work


def _median(values: list[float]) -> float | None:
    import numpy as np

    return float(np.median(values)) if values else None


def _stats(values: list[float]) -> dict[str, float]:
    from harness.measure.timing import summarize

    stats = summarize(values)
    return stats.as_dict() if stats else {}


def _load(ranks: list[dict[str, Any]]) -> dict[str, float | None]:
    """The machine's load during the measured steps, with every rank's own CPU time counted as ours
    (the ranks of one node are not each other's neighbours)."""
    from harness.measure.load import LoadSnapshot, load_between

    host = ranks[0]["hostname"]
    local = [r for r in ranks if r["hostname"] == host]
    own = sum(r["load_after"]["own"] - r["load_before"]["own"] for r in local)
    start = LoadSnapshot(**ranks[0]["load_before"])
    end = replace(LoadSnapshot(**ranks[0]["load_after"]), own=start.own + own)
    return load_between(start, end)


def distributed_record(settings: RunSettings, dist_settings: DistributedSettings, ranks: list[dict[str, Any]],
                       spread: float, work: Any, run_id: str, command_line: list[str], round_: int = 0,
                       rounds: int = 1):
    """Rank 0's record of the whole run: per step, the slowest rank's step time, the slowest rank's
    compute (step minus exchange) and their difference as the communication on the critical path."""
    from harness.measure import load as machine_load
    from harness.records.environment import environment, git_commit
    from harness.records.schema import Record, RecordType

    steps = len(ranks[0]["wall_ms"]["step"])
    step_ms = [max(r["wall_ms"]["step"][i] for r in ranks) for i in range(steps)]
    compute_ms = [max(r["wall_ms"]["step"][i] - r["exchange_ms"][i] for r in ranks) for i in range(steps)]
    communicate_ms = [s - c for s, c in zip(step_ms, compute_ms)]
    adam_ms = [max(r["update_ms"][i] for r in ranks) for i in range(steps)]  # the optimizer's own work
    wall = {"step": step_ms, "compute": compute_ms, "communicate": communicate_ms, "adam": adam_ms,
            **{p: [max(r["wall_ms"][p][i] for r in ranks) for i in range(steps)]
               for p in ("prepare", "forward", "backward")}}
    sent = [max(r["costs"][i]["sent_bytes"] for r in ranks) for i in range(steps)]
    payload = [max(r["costs"][i]["payload_bytes"] for r in ranks) for i in range(steps)]
    touched = [max(r["costs"][i]["touched_rows"] for r in ranks) for i in range(steps)]
    collectives = _collectives(ranks, steps)
    identical = spread <= PARAMETER_TOLERANCE
    code_version = git_commit() or "unknown"
    group = run_group(settings, dist_settings)
    load = _load(ranks)
    per_epoch = work.stream.batches_per_epoch()
    median_step = _median(step_ms) or 0.0
    record = Record(
        run_id=run_id, cell_key=run_key(settings, dist_settings, round_, code_version),
        group_key=stable_key(group), framework=FRAMEWORK, options={"backend": work_backend()},
        label=f"{FRAMEWORK}[{dist_settings.strategy}] x{dist_settings.world_size}", settings=settings.to_dict(),
        status="ok" if identical else "error", round=round_, rounds=rounds,
        message="" if identical else f"parameters differ between ranks by up to {spread:.3g} after training",
        dataset_kind=work.dataset.kind, steps_measured=steps,
        time_ms={name: _stats(values) for name, values in wall.items()},
        samples={"wall_ms": wall, "sent_bytes": sent, "payload_bytes": payload, "touched_rows": touched},
        losses=[sum(r["losses"][i] for r in ranks) for i in range(len(ranks[0]["losses"]))],
        batches_per_epoch=per_epoch, epoch_time_s=median_step * per_epoch / 1e3, epoch_time_extrapolated=True,
        load=load, disturbed=machine_load.disturbed(load),
        process_peak_rss_bytes=max(r["peak_rss_bytes"] for r in ranks),
        load_peak_rss_mb=max((r["load_peak_rss_bytes"] or 0) for r in ranks) / 2**20 or None,
        noisy_reasons=machine_load.noisy_reasons(load, None, median_step),
        timestamp=_dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        code_version=code_version, env=environment(settings.seed, command_line),
        record_type=RecordType.DISTRIBUTED,
    )
    record.distributed = {
        **dist_settings.to_dict(),
        "hosts": sorted({r["hostname"] for r in ranks}),
        "n_entities": work.dataset.n_entities, "n_relations": work.dataset.n_relations,
        "train_triples": int(work.dataset.train.shape[0]),
        "sent_bytes_per_step": _median(sent), "payload_bytes_per_step": _median(payload),
        "touched_rows_per_step": _median(touched), "parameter_spread": spread, "parameters_identical": identical,
        "collectives": collectives,
        "peak_rss_bytes_per_rank": max(r["peak_rss_bytes"] for r in ranks),
        "held_bytes_per_rank": max(r["held_bytes"] for r in ranks),
        "entity_rows_per_rank": max(r["entity_rows_held"] for r in ranks),
        "cuda_peak_bytes_per_rank": max((r["cuda_peak_bytes"] or 0) for r in ranks) or None,
        "ranks": ranks,
    }
    return record


def _collectives(ranks: list[dict[str, Any]], steps: int) -> dict[str, dict[str, float | None]]:
    """Per collective of a step (the strategies that time them one by one: sharded): the median over steps of
    the largest bytes sent, bytes handed over and ms of any rank."""
    names = dict.fromkeys(c["name"] for r in ranks for cost in r["costs"] for c in cost.get("collectives", ()))
    summary = {}
    for name in names:
        per_step = [[next(c for c in r["costs"][i]["collectives"] if c["name"] == name) for r in ranks]
                    for i in range(steps)]
        summary[name] = {key: _median([max(c[key] for c in step) for step in per_step])
                         for key in ("sent_bytes", "payload_bytes", "ms")}
    return summary


def run_group(settings: RunSettings, dist_settings: DistributedSettings) -> dict[str, Any]:
    """What runs compared across world sizes share: the settings, the backend and the strategy."""
    return {"settings": settings.to_dict(), "backend": dist_settings.backend, "strategy": dist_settings.strategy,
            "kind": "distributed"}


def run_key(settings: RunSettings, dist_settings: DistributedSettings, round_: int, code_version: str) -> str:
    """One run's identity: its group, world size, round and the code version."""
    return stable_key({**run_group(settings, dist_settings), "world_size": dist_settings.world_size,
                       "round": round_, "code_version": code_version})


def work_backend() -> str:
    """The sparse backend every rank uses: the default one (`fused` where numba imports)."""
    from sparse_impl.backends import DEFAULT_BACKEND

    return DEFAULT_BACKEND


def main(argv: list[str] | None = None) -> int:
    """Entry point of one rank (under torchrun); returns the exit code."""
    import uuid

    args = build_parser().parse_args(argv)
    try:
        rank, world, local_rank = (int(os.environ[v]) for v in ("RANK", "WORLD_SIZE", "LOCAL_RANK"))
    except KeyError as missing:
        print(f"harness.distributed.worker: error: {missing} is not set; start the worker with torchrun",
              file=sys.stderr)
        return 2
    from harness.distributed.lineage import die_with_parent, orphaned_from_run

    die_with_parent()  # a rank never outlives its torchrun agent (which starts it in a session of its own)
    if orphaned_from_run():  # the agent died while this rank was starting
        print(f"harness.distributed.worker rank {rank}: error: torchrun is gone; not starting", file=sys.stderr)
        return 1
    try:
        settings = settings_from_args(args)
        dist_settings = distributed_from_args(args, world_size=world)
        backend = resolve_backend(dist_settings.backend, settings.device)
        dist_settings = replace(dist_settings, backend=backend)
        torch.set_num_threads(settings.threads)
        dist.init_process_group(backend, timeout=_dt.timedelta(seconds=dist_settings.collective_timeout_s))
        from harness.distributed.training import parameter_spread

        samples, step, work = run_rank(settings, dist_settings, args.data_dir, rank, local_rank)
        settings = replace(settings, dataset_sha256=getattr(work.dataset, "content_sha256", ""))
        spread = parameter_spread(step.replicated_parameters())
        parameters = step.full_parameters() if args.save_parameters else {}  # sharded: a collective of every rank
        gathered: list[Any] = [None] * world
        dist.all_gather_object(gathered, samples)
        if rank == 0:
            command_line = [sys.executable, "-m", "harness.distributed.worker", *(argv or sys.argv[1:])]
            record = distributed_record(settings, dist_settings, gathered, spread, work,
                                        args.run_id or uuid.uuid4().hex[:12], command_line, args.round, args.rounds)
            if args.save_parameters:
                torch.save({k: v.detach().cpu() for k, v in parameters.items()}, args.save_parameters)
            if args.out:
                from harness.records.store import ResultsStore

                ResultsStore(args.out).append(record)
        # No rank leaves while another still works: a rank that exited while rank 0 was writing the record
        # was killed by SIGABRT after its atexit handlers ("terminate called without an active exception"),
        # in about 3% of launches whose ranks had just compiled the fused kernels, and took the run with it.
        dist.barrier()
        dist.destroy_process_group()
    except SptxError as exc:
        print(f"harness.distributed.worker rank {rank}: error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
