"""The record of one training run: one JSON object appended whole to a JSON Lines file, beside (and
distinguished from) the measurement records by `record_type` ("training")."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from harness.records.schema import RecordBase, RecordType

__all__ = ["EpochResult", "RECORD_TYPE", "TrainingRecord"]

RECORD_TYPE = RecordType.TRAINING


@dataclass
class EpochResult:
    """One epoch: mean loss per positive, its training wall time, and validation metrics when evaluated."""

    epoch: int
    loss: float
    train_time_s: float  # this epoch's batches: sampling, prepare, forward, backward, optimizer step
    elapsed_train_time_s: float  # all epochs so far, evaluation excluded
    eval_time_s: float = 0.0
    valid: dict[str, float] | None = None  # harness.evaluate metrics (realistic ranks, the record's eval_protocol)


@dataclass(kw_only=True)
class TrainingRecord(RecordBase):
    """One framework trained under one `settings` (run identity) and `training` block.

    `time_to_target_s`: training wall time (evaluation excluded) until the validation filtered MRR first
    reached `training.target_mrr`, None when it never did or no target was set. `test`: metrics on the
    test split with the final parameters. `status` as for measurement records (ok, error, killed, ...).
    `eval_protocol` says how the validation and test metrics were ranked (harness.evaluate.protocols): `full`
    (filtered, all entities) or `ogb` (each triple's sampled candidates, unfiltered); records written before it
    existed read as `full` (harness.evaluate.record_protocol). `eval_candidates`: with `ogb`, per split (valid,
    test) the candidates per triple on each side and how many named no entity (`head`, `tail`, `unknown`).
    """

    training: dict[str, Any]
    batches_per_epoch: int = 0
    epochs: list[EpochResult] = field(default_factory=list)
    test: dict[str, float] | None = None
    time_to_target_s: float | None = None
    target_epoch: int | None = None
    train_time_s: float = 0.0
    eval_time_s: float = 0.0
    wall_time_s: float = 0.0
    eval_protocol: str = "full"
    eval_candidates: dict[str, dict[str, int]] | None = None
    record_type: RecordType = RecordType.TRAINING
