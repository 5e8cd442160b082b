"""What a training run adds to the run identity of `compare` (harness.settings.RunSettings): epochs,
evaluation schedule and protocol, the quality target and the loss / optimizer hyper-parameters. Declared once with
their flags, like RunSettings."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields
from typing import Any

from harness.errors import SptxError
from harness.evaluate.protocols import DEFAULT_PROTOCOL, EVAL_PROTOCOLS
from harness.settings import check_setting_fields, setting_field
from harness.spec import TrainConfig

__all__ = ["TrainingSettings"]


def _optional_float(text: str) -> float | None:
    import argparse

    if text.lower() in ("", "none"):
        return None
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None


def _float(text: str) -> float:
    import argparse

    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None


@dataclass(frozen=True)
class TrainingSettings:
    """Epochs, evaluation and hyper-parameters of one `sptx train` run (the same for every framework)."""

    epochs: int = setting_field(100, "--epochs", "training epochs (each: a fresh shuffle, fresh negatives, every "
                                "batch used)", minimum=1)
    eval_every: int = setting_field(10, "--eval-every", "evaluate filtered MRR on the validation split every K "
                                    "epochs (0: never; the test split is always evaluated at the end)", minimum=0)
    eval_triples: int = setting_field(0, "--eval-triples", "validation triples evaluated each time: a fixed "
                                      "seeded subset of this size, the same for every framework (0: all)", minimum=0)
    eval_protocol: str = setting_field(DEFAULT_PROTOCOL, "--eval-protocol",
                                       "how validation and test are ranked: full (each true head and tail among all "
                                       "entities, filtered) or ogb (among the triple's own sampled candidates, "
                                       "unfiltered, as OGB's evaluator; needs the dataset's "
                                       "{valid,test}_candidates.npz, which an OGB download keeps)",
                                       choices=lambda: EVAL_PROTOCOLS, keyed_at_default=False)
    target_mrr: float | None = setting_field(None, "--target-mrr", "stop when the validation filtered MRR first "
                                             "reaches this value and record the training time to get there "
                                             "(evaluation time excluded)", type=_optional_float)
    # The paper's values, as TrainConfig declares them (--help shows them).
    lr: float = setting_field(TrainConfig.lr, "--lr", "Adam learning rate (the paper's unless given)", type=_float)
    margin: float = setting_field(TrainConfig.margin, "--margin", "margin of the ranking loss (the paper's unless given)",
                                  type=_float)
    weight_decay: float = setting_field(TrainConfig.weight_decay, "--weight-decay",
                                        "Adam weight decay (the paper's unless given)", type=_float)

    def __post_init__(self) -> None:
        check_setting_fields(self)
        for name in ("lr", "margin", "weight_decay"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
                raise SptxError(f"--{name.replace('_', '-')} must be a finite number >= 0, not {value!r}")
        if self.target_mrr is not None and not 0 < self.target_mrr <= 1:
            raise SptxError(f"--target-mrr must be in (0, 1], not {self.target_mrr}")
        if self.target_mrr is not None and self.eval_every == 0:
            raise SptxError("--target-mrr needs validation: give --eval-every K with K >= 1")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> "TrainingSettings":
        unknown = sorted(set(raw) - {f.name for f in fields(cls)})
        if unknown:
            raise SptxError(f"unknown training setting(s) {', '.join(unknown)}")
        return cls(**raw)
