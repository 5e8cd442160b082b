"""What identifies a distributed run beyond `RunSettings`: the world size, the communication backend and
the gradient exchange strategy, declared once here. CLI flags, the worker's command line, the record's
`distributed` block and the report's grouping derive from `DistributedSettings`.

Conventions: `RunSettings.batch_size` is the *global* batch (positives per step over all ranks; each rank
trains on an equal contiguous shard of it and of its negatives), and `RunSettings.threads` is the thread
count of *each* rank.
"""

from __future__ import annotations

import argparse
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from harness.distributed.exchange import STRATEGIES
from harness.errors import SptxError
from harness.settings import RunSettings, setting_specs

__all__ = ["BACKENDS", "DistributedSettings", "add_distributed_arguments", "distributed_from_args",
           "settings_argv", "resolve_backend"]

# torch.distributed backend per device type: gloo on CPU, NCCL on CUDA GPUs.
BACKENDS: dict[str, str] = {"cpu": "gloo", "cuda": "nccl"}


def _strategy_names() -> tuple[str, ...]:
    return tuple(STRATEGIES)


def _dist_field(default: Any, flag: str, help: str) -> Any:
    return field(default=default, metadata={"flag": flag, "help": help})


@dataclass(frozen=True)
class DistributedSettings:
    """One distributed run: how many ranks, which backend carries the collectives, how gradients are combined."""

    world_size: int = _dist_field(1, "--world-size", "ranks over all nodes (torchrun sets WORLD_SIZE)")
    backend: str = _dist_field("auto", "--dist-backend",
                               "torch.distributed backend: auto = gloo on CPU, nccl on CUDA; or gloo / nccl")
    strategy: str = _dist_field("dense", "--strategy", "gradient exchange: " + "; ".join(
        f"{name} = {cls.summary}" for name, cls in STRATEGIES.items()))
    collective_timeout_s: float = _dist_field(60.0, "--collective-timeout",
                                              "seconds a collective may wait for a peer before the run fails "
                                              "(the process group's timeout)")

    def __post_init__(self) -> None:
        if self.world_size < 1:
            raise SptxError(f"world size must be at least 1, not {self.world_size}")
        if self.strategy not in _strategy_names():
            raise SptxError(f"--strategy {self.strategy!r}: choose one of {', '.join(_strategy_names())}")
        if self.backend not in ("auto", *BACKENDS.values()):
            raise SptxError(f"--dist-backend {self.backend!r}: choose auto, {', '.join(BACKENDS.values())}")
        if not self.collective_timeout_s > 0:
            raise SptxError("--collective-timeout must be positive")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> "DistributedSettings":
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in raw.items() if k in names})


def resolve_backend(backend: str, device: str) -> str:
    """The backend to use for `device` ('auto' picks gloo for CPU, nccl for CUDA)."""
    if backend != "auto":
        return backend
    kind = device.split(":")[0]
    if kind not in BACKENDS:
        raise SptxError(f"no torch.distributed backend known for device {device!r}")
    return BACKENDS[kind]


def add_distributed_arguments(parser: argparse.ArgumentParser, exclude: tuple[str, ...] = ()) -> None:
    """One option per DistributedSettings field (the worker's single values; the CLI excludes what it sweeps)."""
    for f in fields(DistributedSettings):
        if f.name in exclude:
            continue
        kwargs: dict[str, Any] = {"dest": f.name, "default": f.default, "help": f.metadata["help"],
                                  "type": type(f.default)}
        if f.name == "strategy":
            kwargs["choices"] = _strategy_names()
        parser.add_argument(f.metadata["flag"], **kwargs)


def distributed_from_args(args: argparse.Namespace, **overrides: Any) -> DistributedSettings:
    """DistributedSettings from parsed options plus overrides (e.g. the world size torchrun gave)."""
    values = {f.name: getattr(args, f.name) for f in fields(DistributedSettings) if hasattr(args, f.name)}
    values.update(overrides)
    return DistributedSettings(**values)


def settings_argv(settings: RunSettings, dist_settings: DistributedSettings) -> list[str]:
    """The worker's command-line options that reproduce both settings blocks (the inverse of their parsers);
    the world size is left to the launcher, which passes it to every rank as WORLD_SIZE."""
    argv: list[str] = []
    for name, spec, _ in setting_specs():
        value = getattr(settings, name)
        if spec.flag is not None and value is not None:
            argv += [spec.flag, str(value)]
    for f in fields(DistributedSettings):
        if f.name == "world_size":
            continue
        argv += [f.metadata["flag"], str(getattr(dist_settings, f.name))]
    return argv
