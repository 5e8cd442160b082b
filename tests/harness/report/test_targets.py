"""The performance targets evaluated on hand-made records with known times and memory."""

import math

from harness.report.targets import GROUPS, TARGETS, Target, evaluate_targets


def _records(record_factory, rounds=3):
    """TransE d=128 group: sparse 10 ms, torchkge 70 ms, gather 15 ms, gather[compiled] 25 ms, per round."""
    out = []
    for r in range(rounds):
        jitter = 1 + 0.01 * r
        out += [
            record_factory("sparse", step_ms=10.0 * jitter, memory=100 * 2**20, round=r, rounds=rounds),
            record_factory("torchkge", step_ms=70.0 * jitter, memory=250 * 2**20, round=r, rounds=rounds),
            record_factory("gather", step_ms=15.0 * jitter, round=r, rounds=rounds),
            record_factory("gather", options={"compile": True}, step_ms=25.0 * jitter, round=r, rounds=rounds),
        ]
    for rec in out:
        if rec["label"] == "sparse[torch]":
            rec["min_bytes_per_step"], rec["bandwidth_bytes_per_s"] = 4e7, 1e10  # floor 4 ms
    return out


def _targets():
    return [Target("vs torchkge", "g", "speedup", 6.0, ("torchkge",)),
            Target("vs strongest gather", "g", "speedup", 2.0, ("gather", "gather[compiled]")),
            Target("memory", "g", "memory", 0.5, ("torchkge",)),
            Target("roofline", "g", "roofline", 3.0),
            Target("missing rival", "g", "speedup", 1.5, ("pyg",))]


def test_speedup_memory_and_roofline_targets(record_factory):
    records = _records(record_factory)
    by_case = {r.target.case: r for r in evaluate_targets(records, {"g": records[0]["group_key"]}, _targets())}
    assert math.isclose(by_case["vs torchkge"].value, 7.0) and by_case["vs torchkge"].passed
    strongest = by_case["vs strongest gather"]
    assert strongest.binding == "gather" and math.isclose(strongest.value, 1.5) and strongest.passed is False  # fastest binds
    assert strongest.ci is not None and strongest.ci[0] - 1e-9 <= 1.5 <= strongest.ci[1] + 1e-9
    assert math.isclose(by_case["memory"].value, 0.4) and by_case["memory"].passed
    assert math.isclose(by_case["roofline"].value, 10.1 / 4.0)  # the median step over the rounds / the floor
    assert by_case["roofline"].passed
    missing = by_case["missing rival"]
    assert missing.value is None and missing.passed is None and "pyg" in missing.note


def test_a_group_without_records_is_not_applicable_not_passed(record_factory):
    (result,) = evaluate_targets([], {"g": "nothing"}, _targets()[:1])
    assert result.passed is None and result.note == "no records for this group"


def test_every_target_names_a_declared_group_and_its_rivals_are_cells_of_it():
    from baselines import FRAMEWORKS

    groups = {g.name: g for g in GROUPS}
    for target in TARGETS:
        assert target.group in groups, target
        labels = {FRAMEWORKS[f].label(FRAMEWORKS[f].resolve_options(dict(o))) for f, o in groups[target.group].cells}
        assert set(target.rivals) <= labels, (target, labels)
