"""The report's quality section from hand-made training records with known times and metrics."""

from __future__ import annotations

import pandas as pd
import pytest

from harness.report.quality import optimizer_summary, quality_frame, seed_summary, write_quality_section
from harness.report.writer import write_report
from harness.settings import RunSettings
from harness.train import EpochResult, TrainingRecord, TrainingSettings


def _record(framework: str, seconds_per_epoch: float, test_mrr: float, target: float | None = 0.2,
            seed: int = 0, optimizer: str = "adam-fused", lr: float = 0.01) -> dict:
    settings = RunSettings(model="transe", dataset="FB15k-237", steps=9, warmup=0, threads=2, seed=seed,
                           optimizer=optimizer)
    training = TrainingSettings(epochs=4, eval_every=1, target_mrr=target, lr=lr)
    epochs = [EpochResult(e, 1.0 / e, seconds_per_epoch, seconds_per_epoch * e, 0.5,
                          {"both_mrr": 0.1 * e}) for e in (1, 2)]
    return TrainingRecord(
        run_id="r", group_key=settings.key, framework=framework, options={}, label=framework, settings=settings.to_dict(),
        training=training.to_dict(), status="ok", batches_per_epoch=9, epochs=epochs,
        test={"both_mrr": test_mrr, "both_mr": 100.0, "both_hits_at_1": 0.1, "both_hits_at_3": 0.2,
              "both_hits_at_10": 0.4},
        time_to_target_s=seconds_per_epoch * 2, target_epoch=2, train_time_s=seconds_per_epoch * 2,
        eval_time_s=1.0).to_dict()


RECORDS = [_record("sparse", 1.0, 0.25), _record("torchkge", 3.5, 0.2)]


def test_speedup_to_target_and_mrr_difference():
    frame = quality_frame(RECORDS).set_index("framework")
    assert frame.loc["torchkge", "speedup_to_target"] == pytest.approx(3.5)
    assert frame.loc["sparse", "speedup_to_target"] == pytest.approx(1.0)
    assert frame.loc["torchkge", "test_mrr_vs_reference"] == pytest.approx(0.25 / 0.2 - 1)
    assert frame.loc["sparse", "epoch_time_s"] == pytest.approx(1.0)
    assert frame.loc["torchkge", "valid_mrr"] == pytest.approx(0.2)


def test_section_markdown_and_files(tmp_path):
    section = write_quality_section(RECORDS, tmp_path)
    assert "| torchkge | ok | 2/4 | 3.50 |" in section.markdown
    assert "7.0 (2) | 3.50 |" in section.markdown
    assert {p.suffix for p in section.paths} == {".csv", ".png"}


def test_report_mixes_measurements_and_training(tmp_path, simple_records):
    written = write_report(simple_records + RECORDS, tmp_path)
    text = (tmp_path / "README.md").read_text()
    assert "## Summary" in text and "## Quality" in text
    assert tmp_path / "quality.csv" in written


def test_a_newer_run_replaces_the_older_one():
    newer = _record("sparse", 2.0, 0.3)
    frame = quality_frame([*RECORDS, newer]).set_index("framework")
    assert frame.loc["sparse", "test_mrr"] == pytest.approx(0.3)


SEEDED = [_record("sparse", 1.0, mrr, None, seed) for seed, mrr in enumerate((0.20, 0.22, 0.24))] + [
    _record("torchkge", 3.0, 0.20, None, seed) for seed in range(3)]


def test_seed_summary_means_and_paired_ratio():
    summary = seed_summary(quality_frame(SEEDED)).set_index("framework")
    assert summary.loc["sparse", "seeds"] == 3
    assert summary.loc["sparse", "test_mrr_mean"] == pytest.approx(0.22)
    assert summary.loc["sparse", "test_mrr_sd"] == pytest.approx(0.02)
    assert summary.loc["sparse", "test_mrr_ci_low"] <= 0.22 <= summary.loc["sparse", "test_mrr_ci_high"]
    assert summary.loc["torchkge", "mrr_vs_reference"] == pytest.approx(0.22 / 0.20 - 1)
    assert summary.loc["torchkge", "paired_seeds"] == 3
    low, high = summary.loc["torchkge", ["mrr_vs_reference_ci_low", "mrr_vs_reference_ci_high"]]
    assert 0.0 <= low <= 0.10 <= high <= 0.2 + 1e-9
    assert pd.isna(summary.loc["sparse", "mrr_vs_reference"])


def test_several_seeds_make_one_section_with_a_per_seed_table(tmp_path):
    section = write_quality_section(SEEDED, tmp_path)
    assert section.markdown.count("### ") == 1 and "seeds 0, 1, 2" in section.markdown
    assert "| 1 | 0.2200 | 0.2000 |" in section.markdown
    assert "+10.00% [" in section.markdown
    assert tmp_path / "quality-seeds.csv" in section.paths


OPTIMIZED = [_record("sparse", 1.0, mrr, None, seed) for seed, mrr in enumerate((0.20, 0.22, 0.24))] + [
    _record("sparse", 0.5, mrr, None, seed, "adagrad-rowwise", 0.1) for seed, mrr in enumerate((0.19, 0.22, 0.21))]


def test_optimizers_are_compared_with_dense_adam_paired_by_seed(tmp_path):
    summary = optimizer_summary(quality_frame(OPTIMIZED)).set_index("optimizer")
    assert summary.loc["adagrad-rowwise", "mrr_vs_dense"] == pytest.approx(0.62 / 0.66 - 1)
    assert summary.loc["adagrad-rowwise", "paired_seeds"] == 3
    assert summary.loc["adagrad-rowwise", "lr"] == pytest.approx(0.1)
    assert pd.isna(summary.loc["adam-fused", "mrr_vs_dense"])
    assert optimizer_summary(quality_frame(SEEDED)).empty  # one optimizer: nothing to compare
    section = write_quality_section(OPTIMIZED, tmp_path)
    assert "### Optimizers compared: sparse" in section.markdown
    assert "| adagrad-rowwise | 0.1 | 3 |" in section.markdown and "-6.06%" in section.markdown
