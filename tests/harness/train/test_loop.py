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


def _with_candidates(tiny_graph_dir, tmp_path, splits=("valid", "test")):
    """A copy of the tiny ring graph with OGB-style sampled candidates: for every valid/test triple, every entity but
    its true head (tail) as head (tail) candidates. No two triples of the ring share a query, so the filtered full
    ranking removes nothing and the OGB protocol must give exactly its ranks."""
    import shutil

    import numpy as np

    from harness.data import load_dataset

    folder = tmp_path / "tiny-ogb"
    shutil.copytree(tiny_graph_dir, folder)
    ds = load_dataset(str(folder))
    every = np.arange(ds.n_entities)
    for split in splits:
        triples = getattr(ds, split).numpy()
        others = [np.stack([every[every != x] for x in triples[:, column]]) for column in (0, 2)]
        np.savez(folder / f"{split}_candidates.npz", head_neg=others[0], tail_neg=others[1])
    return folder


def test_ogb_protocol_with_every_other_entity_gives_the_full_rankings_metrics(tiny_graph_dir, tmp_path):
    folder = _with_candidates(tiny_graph_dir, tmp_path)
    full = run_training(_job(folder, eval_triples=2))
    ogb = run_training(_job(folder, eval_triples=2, eval_protocol="ogb"))
    assert full.status == ogb.status == "ok", ogb.message
    assert (full.eval_protocol, ogb.eval_protocol) == ("full", "ogb")
    assert full.eval_candidates is None
    assert ogb.eval_candidates == {"valid": {"head": 11, "tail": 11, "unknown": 0},
                                   "test": {"head": 11, "tail": 11, "unknown": 0}}
    assert [e.loss for e in ogb.epochs] == [e.loss for e in full.epochs]  # the same training
    assert ogb.epochs[-1].valid == pytest.approx(full.epochs[-1].valid)  # the same seeded validation subset
    assert ogb.epochs[-1].valid["n_triples"] == 2
    assert ogb.test == pytest.approx(full.test)
    assert ogb.to_dict()["eval_protocol"] == "ogb" and ogb.group_key != full.group_key


def test_ogb_protocol_without_candidates_is_a_one_line_error_before_training(tiny_graph_dir, tmp_path):
    from harness.errors import SptxError

    folder = _with_candidates(tiny_graph_dir, tmp_path, splits=("test",))
    with pytest.raises(SptxError) as error:
        run_training(_job(folder, eval_protocol="ogb"))
    assert f"{folder / 'valid_candidates.npz'} not found" in str(error.value) and "\n" not in str(error.value)
    record = run_training(_job(folder, eval_protocol="ogb", eval_every=0))  # no validation: test's are enough
    assert record.status == "ok" and list(record.eval_candidates) == ["test"]
    with pytest.raises(SptxError, match="synthetic:FB15k-237 .* has none"):
        run_training(TrainingJob(RunSettings(model="transe", dataset="synthetic:FB15k-237", dim=8, batch_size=5,
                                             steps=1, warmup=0, threads=1),
                                 TrainingSettings(epochs=1, eval_protocol="ogb"), "sparse"))


def test_the_protocol_setting_keeps_old_records_groups_and_reads_them():
    from dataclasses import asdict

    from harness.errors import SptxError
    from harness.settings import stable_key

    job = _job("somewhere")
    old_training = {k: v for k, v in asdict(job.training).items() if k != "eval_protocol"}
    # run settings added after these records, at their defaults (the losses of issue 20)
    old_settings = {k: v for k, v in job.settings.to_dict().items() if k not in ("loss", "adversarial_temperature")}
    assert job.group_key == stable_key({"settings": old_settings, "training": old_training})
    assert TrainingSettings.from_dict(old_training).eval_protocol == "full"
    with pytest.raises(SptxError, match="--eval-protocol 'sampled': choose one of full, ogb"):
        TrainingSettings(eval_protocol="sampled")
