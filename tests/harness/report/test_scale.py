"""The scale tables from hand-made records: growth over the smallest graph paired by round, the phase that
grew, and sparse's speedup per graph."""

from __future__ import annotations

from harness.report.scale import growth_table, speedup_by_size, target_table


def _record(framework: str, entities: int, round_: int, step: float, optimizer: str = "adam-lazy",
            optimizer_ms: float = 1.0, dim: int = 128, disturbed: bool = False) -> dict:
    phases = {"step": step, "prepare": 1.0, "forward": step - 2.0 - optimizer_ms, "backward": 1.0,
              "optimizer": optimizer_ms}
    return {"status": "ok", "framework": framework, "label": framework, "cell_key": f"{framework}-{entities}-{optimizer}-{round_}",
            "group_key": f"{entities}-{optimizer}-{dim}", "round": round_, "code_version": "v", "disturbed": disturbed,
            "settings": {"dataset": f"g{entities}", "optimizer": optimizer, "dim": dim, "model": "transe",
                         "dissimilarity": "L2sq"},
            "graph": {"n_entities": entities, "n_relations": 10, "n_train": entities * 5, "load_s": 2.0,
                      "load_peak_rss_bytes": 2**30},
            "time_ms": {p: {"median": v} for p, v in phases.items()},
            "process_peak_rss_bytes": entities * 1000, "peak_memory_bytes": 2**20}


def test_growth_is_paired_by_round_and_names_the_phase_that_grew():
    records = []
    for round_, drift in enumerate((1.0, 2.0, 1.5)):  # the machine drifts, the ratio does not
        records += [_record("sparse", 1000, round_, 10.0 * drift), _record("sparse", 10**6, round_, 15.0 * drift,
                                                                            optimizer_ms=6.0 * drift)]
    table = growth_table(records)
    big = table[table["entities"] == 10**6].iloc[0]
    assert big["growth"].startswith("1.50x [1.50-1.50]")
    assert big["grew_most"].startswith("optimizer")
    assert table[table["entities"] == 1000].iloc[0]["growth"] == "1.00x (base)"


def test_speedup_per_graph_pairs_rounds_within_a_graph_and_optimizer():
    records = [_record("sparse", 1000, r, 10.0 + r) for r in range(3)]
    records += [_record("gather", 1000, r, 3 * (10.0 + r)) for r in range(3)]
    table = speedup_by_size(records)
    assert list(table["vs"]) == ["gather"] and table.iloc[0]["speedup"].startswith("3.00x")


def test_each_framework_with_its_fastest_optimizer():
    records = []
    for r in range(3):
        records += [_record("sparse", 1000, r, 10.0, "adam-fused"), _record("sparse", 1000, r, 4.0, "adagrad-rowwise")]
        records += [_record("gather", 1000, r, 20.0, "adam-fused"), _record("gather", 1000, r, 12.0, "adam-lazy")]
    from harness.report.scale import best_speedup_by_size

    row = best_speedup_by_size(records).iloc[0]
    assert row["sparse"] == "adagrad-rowwise" and row["vs"] == "gather (adam-lazy)" and row["speedup"].startswith("3.00x")


def test_a_disturbed_round_is_left_out_of_the_growth_where_undisturbed_ones_remain():
    records = []
    for round_ in range(3):
        disturbed = round_ == 1
        records += [_record("sparse", 1000, round_, 10.0),
                    _record("sparse", 10**6, round_, 40.0 if disturbed else 20.0, disturbed=disturbed)]
    big = growth_table(records).set_index("entities").loc[10**6]
    assert big["growth"].startswith("2.00x [2.00-2.00]") and big["rounds"] == 3


def test_targets_say_met_not_met_or_what_is_missing():
    records = []
    for r in range(3):
        records += [_record("sparse", 10_000, r, 10.0, "adagrad-rowwise"),
                    _record("sparse", 4_000_000, r, 14.0 + 0.1 * r, "adagrad-rowwise"),
                    _record("sparse", 10_000, r, 10.0, "adam-lazy"), _record("sparse", 4_000_000, r, 30.0, "adam-lazy"),
                    _record("gather", 4_000_000, r, 140.0, "adam-lazy")]
    table = target_table(records).set_index("case")
    verdicts = list(table["verdict"])
    growth = table[table.index.str.contains("adagrad-rowwise") & table.index.str.startswith("sparse step")].iloc[0]
    assert growth["verdict"] == "met" and growth["measured"].startswith("1.4")  # 14.0-14.2 / 10: at most 1.5x
    lazy = table[table.index.str.contains("adam-lazy")].iloc[0]
    assert lazy["verdict"] == "not met"  # 3x, target 2x
    rival = table[table.index.str.contains("strongest rival")].iloc[0]
    assert rival["verdict"] == "met" and "gather (adam-lazy)" in rival["measured"]  # 140 / 14 = 10x
    rss = table[table.index.str.contains("peak RSS")].iloc[0]
    assert rss["verdict"] == "not met"  # 4 GB of RSS against 2 GiB of parameters
    assert table[table.index.str.contains("16M")].iloc[0]["measured"].startswith("not measured (sptx scale")
    assert "met" in verdicts and "not met" in verdicts


def _load_rows(records: list[dict]) -> dict[str, dict]:
    table = target_table(records)
    return {row["case"]: row for _, row in table.iterrows() if row["case"].startswith("load a 20M")}


def test_the_load_target_reads_the_loading_fields_first_and_cached_apart():
    records = [_record("sparse", 4_000_000, r, 10.0, "adagrad-rowwise") for r in range(3)]
    for r in records:
        r["graph"]["n_train"] = 20_000_000
    rows = _load_rows(records)  # records without load_s / load_peak_rss_mb / load_cached: not measured
    assert [row["verdict"] for row in rows.values()] == ["not measured", "not measured"]
    assert all("have no load_s / load_peak_rss_mb / load_cached" in row["measured"] for row in rows.values())
    for r, (seconds, mib, cached) in zip(records, ((40.0, 2500, False), (1.5, 900, True), (6.0, 900, True))):
        r.update(load_s=seconds, load_peak_rss_mb=mib, load_cached=cached)
    first, cached = _load_rows(records).values()
    assert first["verdict"] == "met" and first["measured"].startswith("40.0 s worst")
    assert cached["verdict"] == "not met" and "6.0 s worst, 3.8 s median of 2" in cached["measured"]  # 6 s > 5 s


def test_targets_stated_at_4m_entities_are_not_measured_on_smaller_graphs():
    records = []
    for r in range(3):
        records += [_record("sparse", 10_000, r, 10.0, "adagrad-rowwise"),
                    _record("sparse", 1_000_000, r, 11.0, "adagrad-rowwise"),
                    _record("gather", 1_000_000, r, 99.0, "adagrad-rowwise")]
    table = target_table(records).set_index("case")
    assert set(table["verdict"]) == {"not measured"}  # a 1M graph meets nothing stated at 4M
    assert "at >= 4,000,000 entities" in table.iloc[0]["measured"]
    assert "no ok record of a graph with 20,000,000 to 30,000,000 training triples (largest: 5,000,000)" in \
        " ".join(table["measured"])


def test_the_load_target_leaves_out_graphs_far_bigger_than_the_one_it_is_stated_for():
    records = [_record("sparse", 4_000_000, 0, 10.0, "adagrad-rowwise"),
               _record("sparse", 16_000_000, 0, 30.0, "adagrad-rowwise")]
    for r, (triples, seconds) in zip(records, ((20_000_000, 25.0), (80_000_000, 161.0))):
        r["graph"]["n_train"] = triples
        r.update(load_s=seconds, load_peak_rss_mb=1500, load_cached=False)
    first = _load_rows(records)["load a 20M-triple graph, first (builds the cache)"]
    assert first["verdict"] == "met" and first["measured"].startswith("25.0 s worst, 25.0 s median of 1")
