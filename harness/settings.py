"""The one declaration of what identifies a measurement (LibKGE-style: one settings object drives
every job). CLI flags of `compare` and `sweep`, sweep-grid keys, the resume key, the record's
`settings` block and the report's grouping are all derived from `RunSettings` below; nothing else
lists these fields by hand.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
from dataclasses import asdict, dataclass, field, fields
from typing import Any, Callable, Iterator

from harness.allocators import ALLOCATORS, DEFAULT_ALLOCATOR
from harness.errors import SptxError
from harness.models import MODELS, get_model
from harness.sampling.negatives import SAMPLERS
from harness.optim import OPTIMIZERS
from harness.spec import TrainConfig
from sparse_impl.loss import LOSSES

__all__ = [
    "RunSettings",
    "SettingSpec",
    "add_settings_arguments",
    "check_setting_fields",
    "setting_field",
    "available_cores",
    "check_threads",
    "settings_from_args",
    "setting_specs",
    "stable_key",
    "keyed_dict",
    "GROUP_FIELDS",
]


def available_cores() -> int:
    """CPU cores this process may run on (its affinity mask), the default thread count."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - non-Linux
        return os.cpu_count() or 1


def check_threads(threads: int, flag: str = "--threads") -> None:
    """One-line SptxError for more threads than this process has cores: oversubscribed threads make every step
    slower and the numbers meaningless. Checked when a run starts, not on records measured elsewhere."""
    cores = available_cores()
    if threads > cores:
        raise SptxError(f"{flag} {threads}: this machine has {cores} core(s) available to this process; "
                        f"use at most {cores} (0 = all)")


@dataclass(frozen=True)
class SettingSpec:
    """How one settings field appears on the command line and in grids, and its valid range."""

    flag: str | None  # None: derived, not a user option (e.g. the dataset's content hash)
    help: str
    minimum: int | None = None
    choices: Callable[[], tuple[str, ...]] | None = None
    type: Callable[[str], Any] | None = None  # the argparse type when not an integer with a minimum
    # Settings added after records existed: left out of the settings' key while at their default, so the key of
    # the work measured before they existed is unchanged (old records keep grouping with new ones).
    keyed_at_default: bool = True


def setting_field(default: Any, flag: str | None, help: str, *, minimum: int | None = None,
                  choices: Callable[[], tuple[str, ...]] | None = None, type: Callable[[str], Any] | None = None,
                  keyed_at_default: bool = True) -> Any:
    """A dataclass field carrying its SettingSpec in the metadata (for RunSettings and other settings blocks)."""
    return field(default=default, metadata={"spec": SettingSpec(flag, help, minimum, choices, type, keyed_at_default)})


def check_setting_fields(settings: Any) -> None:
    """One-line SptxError for a field of a settings dataclass below its minimum or outside its choices."""
    for f in fields(settings):
        spec: SettingSpec = f.metadata["spec"]
        value = getattr(settings, f.name)
        if spec.minimum is not None and value is not None:
            if not isinstance(value, int) or isinstance(value, bool):
                raise SptxError(f"{spec.flag or f.name} must be an integer, not {value!r}")
            if value < spec.minimum:
                raise SptxError(f"{spec.flag or f.name} must be at least {spec.minimum}, not {value}")
        if spec.choices is not None and value not in spec.choices():
            raise SptxError(f"{spec.flag or f.name} {value!r}: choose one of {', '.join(spec.choices())}")


def _model_names() -> tuple[str, ...]:
    return tuple(MODELS)


@dataclass(frozen=True)
class RunSettings:
    """Everything that makes two measurements the same work on the same machine setup.

    Frameworks (and their options, e.g. the SpMM backend) are compared *within* one RunSettings;
    the round and the limits of a cell are not part of it.
    """

    model: str = setting_field("transe", "--model", "model to train", choices=_model_names)
    dataset: str = setting_field("FB15k-237", "--dataset", "registry name, synthetic:NAME or a folder")
    dataset_sha256: str = setting_field("", None, "content hash of the dataset's files (derived)")
    device: str = setting_field("cpu", "--device", "torch device: cpu, cuda or cuda:N")
    dim: int = setting_field(128, "--dim", "embedding dimension (TransR: entity dimension)", minimum=1)
    rel_dim: int | None = setting_field(None, "--rel-dim", "TransR relation dimension (default: --dim)", minimum=1)
    dissimilarity: str | None = setting_field(None, "--dissimilarity", "score function (default per model)")
    batch_size: int = setting_field(32768, "--batch-size", "positive triples per batch", minimum=1)
    num_negatives: int = setting_field(TrainConfig.num_negatives, "--negatives", "negatives per positive", minimum=1)
    sampler: str = setting_field(TrainConfig.sampler, "--sampler", "negative sampler",
                                 choices=lambda: tuple(SAMPLERS))
    seed: int = setting_field(TrainConfig.seed, "--seed", "seed of parameters, batch order and negatives", minimum=0)
    steps: int = setting_field(20, "--steps", "measured training steps per cell (real, distinct batches)", minimum=1)
    warmup: int = setting_field(3, "--warmup", "unmeasured warm-up steps per cell", minimum=0)
    threads: int = setting_field(0, "--threads", "torch/OpenMP threads per measuring process (0: all cores)",
                            minimum=0)
    allocator: str = setting_field(DEFAULT_ALLOCATOR, "--allocator",
                              "memory allocator of measuring processes: "
                              + "; ".join(f"{name} = {a.help}" for name, a in ALLOCATORS.items()),
                              choices=lambda: tuple(ALLOCATORS))
    optimizer: str = setting_field(TrainConfig.optimizer, "--optimizer",
                              "Adam for every framework: "
                              + "; ".join(f"{name} = {kind.help}" for name, kind in OPTIMIZERS.items()),
                              choices=lambda: tuple(OPTIMIZERS))
    mode: str = setting_field("identical", None, "identical work, or each framework's native step (--native)")
    loss: str = setting_field(TrainConfig.loss, "--loss", "training loss: "
                              + "; ".join(f"{name} = {loss.help}" for name, loss in LOSSES.items()),
                              choices=lambda: tuple(LOSSES), keyed_at_default=False)
    adversarial_temperature: float = setting_field(TrainConfig.adversarial_temperature, "--adversarial-temperature",
                                                   "alpha of the nssa loss: negatives weighted by softmax(alpha * "
                                                   "score)", type=float, keyed_at_default=False)

    def __post_init__(self) -> None:
        check_setting_fields(self)
        if not self.dataset:
            raise SptxError("a dataset is needed")
        if self.mode not in ("identical", "native"):
            raise SptxError(f"mode {self.mode!r}: choose identical or native")
        if self.threads == 0:
            object.__setattr__(self, "threads", available_cores())
        if not isinstance(self.adversarial_temperature, (int, float)) or not math.isfinite(self.adversarial_temperature):
            raise SptxError(f"--adversarial-temperature must be a finite number, not {self.adversarial_temperature!r}")
        spec = get_model(self.model)
        if self.dissimilarity is None:
            object.__setattr__(self, "dissimilarity", spec.default_dissimilarity)
        object.__setattr__(self, "rel_dim", spec.relation_dim(self.dim, self.rel_dim))

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> "RunSettings":
        """Settings from a record's or a cell's `settings` block; unknown keys are an error."""
        names = {f.name for f in fields(cls)}
        unknown = sorted(set(raw) - names)
        if unknown:
            raise SptxError(f"unknown setting(s) {', '.join(unknown)}")
        return cls(**raw)

    @property
    def key(self) -> str:
        """Stable hash of the settings: the comparison group of every framework measured with them (fields added
        later are left out while at their default: see SettingSpec.keyed_at_default)."""
        return stable_key(keyed_dict(self))

    def describe(self) -> str:
        """One line for titles: model, dataset, device, sizes, threads, allocator."""
        rel = f"/{self.rel_dim}" if self.rel_dim is not None and self.rel_dim != self.dim else ""
        score = f" ({self.dissimilarity})" if self.dissimilarity else ""
        loss = "" if self.loss == TrainConfig.loss else (
            f", loss {self.loss}" + (f" (alpha {self.adversarial_temperature:g})" if self.loss == "nssa" else ""))
        return (f"{self.model}{score}{loss} on {self.dataset}, {self.device}, d={self.dim}{rel}, "
                f"batch {self.batch_size} x (1 + {self.num_negatives}), {self.mode} work, {self.steps} steps "
                f"after {self.warmup} warm-up, {self.threads} thread(s), allocator {self.allocator}")


def keyed_dict(settings: Any) -> dict[str, Any]:
    """A settings dataclass as the dict its key hashes: every field, except those added later at their default."""
    out = asdict(settings)
    for f in fields(settings):
        if not f.metadata["spec"].keyed_at_default and out[f.name] == f.default:
            del out[f.name]
    return out


def stable_key(payload: dict[str, Any]) -> str:
    """16 hex digits of sha256 over the sorted JSON of a dict: the settings' group key and a cell's key."""
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()[:16]


def setting_specs(cls: type | None = None) -> Iterator[tuple[str, SettingSpec, Any]]:
    """(field name, spec, default) of every field of a settings dataclass (RunSettings by default), in order."""
    for f in fields(cls or RunSettings):
        yield f.name, f.metadata["spec"], f.default


# The report compares frameworks within groups of equal settings: every field of RunSettings.
GROUP_FIELDS: tuple[str, ...] = tuple(f.name for f in fields(RunSettings))


def _integer(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None


def add_settings_arguments(parser: argparse.ArgumentParser, exclude: tuple[str, ...] = (), cls: type | None = None) -> None:
    """Add one option per user-settable field of a settings dataclass (RunSettings by default; defaults and
    ranges from the declaration)."""
    for name, spec, default in setting_specs(cls):
        if spec.flag is None or name in exclude:
            continue
        kwargs: dict[str, Any] = {"dest": name, "default": default, "help": spec.help}
        if spec.minimum is not None:
            kwargs["type"] = _integer
        if spec.type is not None:
            kwargs["type"] = spec.type
        if spec.choices is not None:
            kwargs["choices"] = spec.choices()
        parser.add_argument(spec.flag, **kwargs)


def settings_from_args(args: argparse.Namespace, cls: type | None = None, **overrides: Any) -> Any:
    """A settings dataclass (RunSettings by default) from parsed options (those added by
    add_settings_arguments) plus overrides; a thread count above this machine's cores is refused."""
    values = {name: getattr(args, name) for name, spec, _ in setting_specs(cls)
              if spec.flag is not None and hasattr(args, name)}
    values.update(overrides)
    if isinstance(values.get("threads"), int):
        check_threads(values["threads"])
    return (cls or RunSettings)(**values)
