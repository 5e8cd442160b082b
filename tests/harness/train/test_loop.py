"""Training epochs, evaluation schedule, target stop and identical work across frameworks."""

from __future__ import annotations

import pytest

from harness.settings import RunSettings
from harness.train import TrainingJob, TrainingSettings, run_training


def _job(folder, framework="sparse", **training) -> TrainingJob:
    settings = RunSettings(model="transe", dataset=str(folder), dim=8, batch_size=5, steps=1, warmup=0, threads=1)
    return TrainingJob(settings, TrainingSettings(**{"epochs": 4, "eval_every": 2, "lr": 0.05, **training}), framework)


def test_epochs_use_every_batch_and_record_metrics(tiny_graph_dir):
    record = run_training(_job(tiny_graph_dir))
    assert record.status == "ok", record.message
    assert record.batches_per_epoch == 4  # 18 training triples in batches of 5
    assert [e.epoch for e in record.epochs] == [1, 2, 3, 4]
    assert [e.valid is not None for e in record.epochs] == [False, True, False, True]
    assert record.test is not None and record.test["n_triples"] == 3
    assert record.epochs[-1].elapsed_train_time_s == pytest.approx(sum(e.train_time_s for e in record.epochs))
    assert record.eval_time_s > 0 and record.time_to_target_s is None


def test_target_stops_at_the_first_evaluation_reaching_it(tiny_graph_dir):
    record = run_training(_job(tiny_graph_dir, epochs=6, eval_every=1, target_mrr=1e-6))
    assert record.status == "ok"
    assert record.target_epoch == 1 and len(record.epochs) == 1
    assert record.time_to_target_s == pytest.approx(record.epochs[0].train_time_s)


@pytest.mark.parametrize("framework", ["gather", "torchkge", "pykeen"])
def test_frameworks_do_identical_work(tiny_graph_dir, framework):
    """The same batches and initial parameters: per-epoch losses agree with sparse's to float tolerance."""
    pytest.importorskip(framework if framework != "gather" else "torch")
    ours = run_training(_job(tiny_graph_dir, eval_every=0))
    theirs = run_training(_job(tiny_graph_dir, framework, eval_every=0))
    assert theirs.status == "ok", theirs.message
    assert [e.loss for e in theirs.epochs] == pytest.approx([e.loss for e in ours.epochs], rel=1e-4, abs=1e-6)
    assert theirs.test["both_mrr"] == pytest.approx(ours.test["both_mrr"], rel=1e-3)


def test_bad_training_settings_are_one_line_errors():
    from harness.errors import SptxError

    with pytest.raises(SptxError, match="--target-mrr needs validation"):
        TrainingSettings(target_mrr=0.3, eval_every=0)
    with pytest.raises(SptxError, match="--epochs must be at least 1"):
        TrainingSettings(epochs=0)
    with pytest.raises(SptxError, match="--target-mrr must be in"):
        TrainingSettings(target_mrr=2.0)
