"""`sptx train`: real training runs to a quality, with filtered link-prediction evaluation."""

from harness.train.loop import TrainingJob, run_training
from harness.train.record import RECORD_TYPE, EpochResult, TrainingRecord
from harness.train.settings import TrainingSettings

__all__ = ["EpochResult", "RECORD_TYPE", "TrainingJob", "TrainingRecord", "TrainingSettings", "run_training"]
