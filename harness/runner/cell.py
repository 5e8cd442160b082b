"""A cell: one framework (with its options) measured once under one RunSettings, in one round; the
unit of process isolation, of records and of --resume."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from typing import Any, Mapping

from harness.settings import GROUP_FIELDS, RunSettings, keyed_dict, stable_key

__all__ = ["Cell", "make_cell"]


@dataclass(frozen=True)
class Cell:
    """Everything one isolated measurement needs.

    `settings` identify the work (and the comparison group); `options` are the framework adapter's
    declared options, resolved with their defaults; `round` is which of `rounds` interleaved repetitions
    this is (`rounds` 0: `--rounds auto`, the count not known in advance). Limits and the data folder do not change what is measured, so they are not in the key.
    `batch_clamped_from`: the batch size a sweep's grid asked for when it was larger than the training split
    (settings.batch_size is then the split's size); the record carries it.
    """

    framework: str
    settings: RunSettings
    options: tuple[tuple[str, Any], ...] = ()
    round: int = 0
    rounds: int = 1
    data_dir: str | None = None
    time_limit_s: float = 600.0
    memory_limit_bytes: int | None = None
    measure_flops: bool = True
    measure_memory: bool = True
    batch_clamped_from: int | None = None
    code_version: str = field(default="", compare=False)

    @property
    def option_dict(self) -> dict[str, Any]:
        return dict(self.options)

    @property
    def key(self) -> str:
        """Stable identity for --resume: framework, options, settings, round and the code version."""
        return stable_key({"framework": self.framework, "options": self.option_dict,
                           "settings": keyed_dict(self.settings), "round": self.round,
                           "code_version": self.code_version})

    @property
    def group_key(self) -> str:
        """The comparison group: every framework measured under the same settings."""
        return self.settings.key

    @property
    def framework_label(self) -> str:
        """`sparse[segment]`, `gather[normalize=rows]`, `torchkge`: the adapter's label for these options."""
        from baselines import FRAMEWORKS

        cls = FRAMEWORKS.get(self.framework)
        if cls is None:
            return self.framework
        return cls.label(self.option_dict)

    @property
    def label(self) -> str:
        s = self.settings
        of = f"/{self.rounds}" if self.rounds else " (auto)"
        return (f"{self.framework_label} {s.model} {s.dataset} {s.device} d={s.dim} b={s.batch_size} "
                f"round {self.round + 1}{of}")

    def to_json(self) -> str:
        raw = asdict(self)
        raw["options"] = self.option_dict
        return json.dumps(raw)

    @classmethod
    def from_json(cls, text: str) -> "Cell":
        raw: dict[str, Any] = json.loads(text)
        names = {f.name for f in fields(cls)}
        values = {k: v for k, v in raw.items() if k in names}
        values["settings"] = RunSettings.from_dict(values["settings"])
        values["options"] = tuple(sorted((values.get("options") or {}).items()))
        return cls(**values)


_CELL_FIELDS = frozenset(f.name for f in fields(Cell)) - {"framework", "settings", "options"}
_SETTING_FIELDS = frozenset(GROUP_FIELDS)


def make_cell(framework: str, options: Mapping[str, Any] | None = None, **values: Any) -> Cell:
    """A Cell from flat keywords: RunSettings fields, Cell fields, and `backend` as sparse's option.

    The adapter's declared options are resolved (defaults filled in), so keys and labels are explicit.
    """
    from baselines import FRAMEWORKS

    given = dict(options or {})
    backend = values.pop("backend", None)
    if backend is not None:
        given["backend"] = backend
    unknown = set(values) - _CELL_FIELDS - _SETTING_FIELDS
    if unknown:
        raise TypeError(f"unknown cell field(s): {', '.join(sorted(unknown))}")
    settings = RunSettings(**{k: v for k, v in values.items() if k in _SETTING_FIELDS})
    cls = FRAMEWORKS.get(framework)
    resolved = cls.resolve_options(given) if cls is not None else given
    if not values.get("code_version"):
        from harness.records.environment import git_commit

        values["code_version"] = git_commit() or "unknown"
    return Cell(framework=framework, settings=settings, options=tuple(sorted(resolved.items())),
                **{k: v for k, v in values.items() if k in _CELL_FIELDS})
