"""A cell: one (framework, model, dataset, device, settings) measurement, the unit of isolation,
of results and of --resume."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, fields
from typing import Any

__all__ = ["Cell", "KEY_FIELDS"]

# The settings that make two cells the same measurement (limits and paths do not).
KEY_FIELDS: tuple[str, ...] = (
    "framework", "backend", "model", "dissimilarity", "dataset", "device", "dim", "rel_dim", "batch_size",
    "num_negatives", "mode", "steps", "warmup", "seed", "sampler",
)


@dataclass(frozen=True)
class Cell:
    """Everything one isolated measurement needs; `dataset` is a registry name or `synthetic:NAME`."""

    framework: str
    model: str
    dataset: str
    device: str = "cpu"
    dim: int = 128
    batch_size: int = 32768
    num_negatives: int = 1
    mode: str = "identical"
    steps: int = 20
    warmup: int = 3
    seed: int = 0
    backend: str | None = None
    dissimilarity: str | None = None
    rel_dim: int | None = None
    sampler: str = "bernoulli"
    data_dir: str | None = None
    time_limit_s: float = 600.0
    memory_limit_bytes: int | None = None
    measure_flops: bool = True
    measure_memory: bool = True

    @property
    def key(self) -> str:
        """Stable identity of the measurement, for --resume and for joining records."""
        payload = json.dumps({k: getattr(self, k) for k in KEY_FIELDS}, sort_keys=True)
        return hashlib.sha256(payload.encode()).hexdigest()[:16]

    @property
    def label(self) -> str:
        backend = f"[{self.backend}]" if self.backend else ""
        return f"{self.framework}{backend} {self.model} {self.dataset} {self.device} d={self.dim} b={self.batch_size}"

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> "Cell":
        raw: dict[str, Any] = json.loads(text)
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in raw.items() if k in names})
