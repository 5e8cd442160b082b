"""Which evaluation protocol produced a training record's metrics, and how records and reports name it.

- `full`: filtered ranking among all entities (harness.evaluate.ranking), the default and what records written
  before the protocol was recorded used.
- `ogb`: ranking against each triple's sampled candidates, unfiltered, as OGB's link-property evaluator
  (harness.evaluate.sampled); needs the dataset's `{valid,test}_candidates.npz`.
"""

from __future__ import annotations

from typing import Any, Mapping

__all__ = ["DEFAULT_PROTOCOL", "EVAL_PROTOCOLS", "protocol_label", "record_protocol", "record_protocol_label"]

EVAL_PROTOCOLS: tuple[str, ...] = ("full", "ogb")
DEFAULT_PROTOCOL = "full"


def protocol_label(protocol: str, candidates: Mapping[str, Any] | None = None) -> str:
    """How text names a protocol: "filtered, all entities" or "sampled candidates (OGB, 500 + 500)" (`candidates`:
    the head and tail counts per triple, as SampledCandidates.describe gives them)."""
    if protocol == "full":
        return "filtered, all entities"
    if protocol == "ogb":
        if candidates and "head" in candidates and "tail" in candidates:
            unknown = int(candidates.get("unknown") or 0)
            note = f", {unknown} unknown left out" if unknown else ""
            return f"sampled candidates (OGB, {candidates['head']} + {candidates['tail']}{note})"
        return "sampled candidates (OGB)"
    return protocol


def record_protocol(record: Mapping[str, Any]) -> str:
    """The protocol of a training record (a dict as read from disk); a record without the field is `full`."""
    return record.get("eval_protocol") or (record.get("training") or {}).get("eval_protocol") or DEFAULT_PROTOCOL


def record_protocol_label(record: Mapping[str, Any], split: str = "test") -> str:
    """`protocol_label` of a training record, with the candidate counts of `split` where it has them."""
    candidates = (record.get("eval_candidates") or {}).get(split)
    return protocol_label(record_protocol(record), candidates)
