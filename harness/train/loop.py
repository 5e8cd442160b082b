"""Real training epochs for any framework behind the FrameworkStep adapter, with validation on a schedule
(filtered ranking among all entities, or OGB's sampled candidates: TrainingSettings.eval_protocol), a
time-to-quality stop (MLPerf-style: training time until the validation MRR first reaches the target,
evaluation time excluded and kept apart) and test metrics at the end."""

from __future__ import annotations

import datetime as _dt
import time
from dataclasses import dataclass, field
from typing import Any, Callable

import torch

from harness.errors import SptxError
from harness.settings import RunSettings, keyed_dict, stable_key
from harness.train.record import EpochResult, TrainingRecord
from harness.train.settings import TrainingSettings

__all__ = ["TrainingJob", "run_training"]


@dataclass(frozen=True)
class TrainingJob:
    """Everything one `sptx train` run needs; JSON-serialisable so a fresh worker process can run it."""

    settings: RunSettings
    training: TrainingSettings
    framework: str
    options: dict[str, Any] = field(default_factory=dict)
    data_dir: str | None = None
    command_line: tuple[str, ...] = ()

    @property
    def group_key(self) -> str:
        """Frameworks are compared within runs of equal settings and training blocks (training settings added
        later, e.g. eval_protocol, left out at their default: old records keep their groups)."""
        return stable_key({"settings": keyed_dict(self.settings), "training": keyed_dict(self.training)})

    def to_dict(self) -> dict[str, Any]:
        return {"settings": self.settings.to_dict(), "training": self.training.to_dict(), "framework": self.framework,
                "options": dict(self.options), "data_dir": self.data_dir, "command_line": list(self.command_line)}

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> "TrainingJob":
        return cls(RunSettings.from_dict(raw["settings"]), TrainingSettings.from_dict(raw["training"]),
                   raw["framework"], raw.get("options") or {}, raw.get("data_dir"), tuple(raw.get("command_line") or ()))


def _synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _new_record(job: TrainingJob, label: str, options: dict[str, Any]) -> TrainingRecord:
    from harness.records.environment import environment, git_commit
    from harness.runner.run import new_run_id

    return TrainingRecord(
        run_id=new_run_id(), group_key=job.group_key, framework=job.framework, options=options, label=label,
        settings=job.settings.to_dict(), training=job.training.to_dict(), status="error",
        dataset_kind="synthetic" if job.settings.dataset.startswith("synthetic:") else "real",
        timestamp=_dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        code_version=git_commit() or "unknown", env=environment(job.settings.seed, list(job.command_line)),
        eval_protocol=job.training.eval_protocol)


def run_training(job: TrainingJob, on_epoch: Callable[[EpochResult], None] | None = None) -> TrainingRecord:
    """Train `job.framework` epoch by epoch and return its complete record (status ok).

    A failure inside the loop returns the record so far with status error (SIGINT or SIGTERM at any point
    after the record exists: killed, with the epochs done), so the caller can append it whole; bad input
    raises SptxError before any training.
    """
    from baselines import get_framework
    from harness.interrupts import interrupted_message, release_interrupts

    cls = get_framework(job.framework)
    options = cls.resolve_options(job.options)
    record = _new_record(job, cls.label(options), options)
    try:
        release_interrupts()
        _train(job, record, cls, options, on_epoch)
    except KeyboardInterrupt as exc:
        record.status, record.message = "killed", interrupted_message(exc)
    return record


def _train(job: TrainingJob, record: TrainingRecord, cls, options: dict[str, Any],
           on_epoch: Callable[[EpochResult], None] | None) -> None:
    """Load, build and train into `record`; failures in the loop become its status, interrupts propagate."""
    from harness.evaluate import (KnownTriples, SampledCandidates, candidates_folder, load_sampled_candidates,
                                  rank_against_candidates, rank_triples, require_candidates)
    from harness.measure.driver import drive_step
    from harness.runner.worker import workload_for

    s, t = job.settings, job.training
    folder = None
    if t.eval_protocol == "ogb":  # before loading anything: a dataset without candidates is refused at once
        folder = candidates_folder(s.dataset, job.data_dir)
        require_candidates(folder, ("valid", "test") if t.eval_every else ("test",))
    work = workload_for(s, job.data_dir, margin=t.margin, lr=t.lr, weight_decay=t.weight_decay)
    dataset, cfg = work.dataset, work.cfg
    record.dataset_kind = dataset.kind
    reason = cls.unsupported_reason(cfg, options, s.optimizer, s.loss) or cls.unavailable_reason_for(options)
    if reason:
        raise SptxError(reason)
    device = torch.device(s.device)
    step = cls.build(cfg, work.train, work.params, device, options, native=s.mode == "native")
    batches = iter(work.stream)
    record.batches_per_epoch = work.stream.batches_per_epoch()
    valid, chosen = dataset.valid, None
    if t.eval_triples and t.eval_triples < valid.shape[0]:
        chosen = torch.randperm(valid.shape[0], generator=torch.Generator().manual_seed(s.seed))[: t.eval_triples]
        valid = valid[chosen]
    candidates: dict[str, SampledCandidates] = {}
    known = None
    if folder is not None:  # each triple's own candidates, unfiltered: no known triples needed
        if t.eval_every:
            loaded = load_sampled_candidates(folder, "valid", dataset.valid.shape[0], dataset.n_entities)
            candidates["valid"] = (loaded.subset(chosen) if chosen is not None else loaded).compact(dataset.n_entities)
        loaded = load_sampled_candidates(folder, "test", dataset.test.shape[0], dataset.n_entities)
        candidates["test"] = loaded.compact(dataset.n_entities)
        record.eval_candidates = {split: c.describe() for split, c in candidates.items()}
    else:
        known = KnownTriples.from_splits([dataset.train, dataset.valid, dataset.test], dataset.n_entities,
                                         dataset.n_relations)

    def evaluate(triples: torch.Tensor, split: str) -> tuple[dict[str, float], float]:
        start = time.perf_counter()
        params = step.canonical_parameters()
        if known is None:
            result = rank_against_candidates(cfg.spec, params, cfg.dissimilarity, triples, candidates[split])
        else:
            result = rank_triples(cfg.spec, params, cfg.dissimilarity, triples, known)
        return result.metrics(), time.perf_counter() - start

    started = time.perf_counter()
    try:
        for epoch in range(1, t.epochs + 1):
            _synchronize(device)
            start = time.perf_counter()
            loss_sum = 0.0
            for _ in range(record.batches_per_epoch):
                loss = drive_step(step, next(batches)).loss
                assert loss is not None
                loss_sum += float(loss.detach())
            _synchronize(device)
            seconds = time.perf_counter() - start
            record.train_time_s += seconds
            result = EpochResult(epoch, loss_sum / dataset.train.shape[0], seconds, record.train_time_s)
            if t.eval_every and (epoch % t.eval_every == 0 or epoch == t.epochs):
                result.valid, result.eval_time_s = evaluate(valid, "valid")
                record.eval_time_s += result.eval_time_s
            record.epochs.append(result)
            if on_epoch is not None:
                on_epoch(result)
            if (t.target_mrr is not None and result.valid is not None and record.time_to_target_s is None
                    and result.valid["both_mrr"] >= t.target_mrr):
                record.time_to_target_s, record.target_epoch = record.train_time_s, epoch
                break
        record.test, seconds = evaluate(dataset.test, "test")
        record.eval_time_s += seconds
        record.status = "ok"
    except Exception as exc:  # noqa: BLE001 - every failure becomes the record's status and message
        from harness.runner.worker import classify_failure

        record.status, record.message = classify_failure(exc), f"{type(exc).__name__}: {exc}"
    finally:
        record.wall_time_s = time.perf_counter() - started
