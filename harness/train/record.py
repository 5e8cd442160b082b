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
    valid: dict[str, float] | None = None  # harness.evaluate metrics (realistic filtered ranks)


@dataclass(kw_only=True)
class TrainingRecord(RecordBase):
    """One framework trained under one `settings` (run identity) and `training` block.

    `time_to_target_s`: training wall time (evaluation excluded) until the validation filtered MRR first
    reached `training.target_mrr`, None when it never did or no target was set. `test`: metrics on the
    test split with the final parameters. `status` as for measurement records (ok, error, killed, ...).
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
    record_type: RecordType = RecordType.TRAINING
