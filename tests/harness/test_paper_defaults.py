"""The paper's hyper-parameters are written once (harness.spec.TrainConfig): the run settings, `sptx train`,
`sptx verify` and the paper grid read them, and the optimizer choices follow harness.optim.OPTIMIZERS."""

from __future__ import annotations

import pytest

from harness.cli import build_parser
from harness.errors import SptxError
from harness.optim import OPTIMIZERS
from harness.settings import RunSettings
from harness.spec import TrainConfig
from harness.train.settings import TrainingSettings


def test_the_run_settings_and_sptx_train_default_to_the_train_config():
    paper, run, training = TrainConfig(), RunSettings(), TrainingSettings()
    assert (run.num_negatives, run.sampler, run.seed, run.optimizer) == (
        paper.num_negatives, paper.sampler, paper.seed, paper.optimizer)
    assert (training.lr, training.margin, training.weight_decay) == (paper.lr, paper.margin, paper.weight_decay)


def test_sptx_verify_defaults_to_the_train_config():
    args = build_parser().parse_args(["verify", "--model", "transe"])
    paper = TrainConfig()
    assert (args.negatives, args.sampler, args.seed) == (paper.num_negatives, paper.sampler, paper.seed)


def test_the_paper_grid_measures_with_the_default_settings():
    from harness.sweep import grid_cells, load_grid

    cells = grid_cells(load_grid("paper"), "smoke", "cpu", None, {"WN18RR": ("WN18RR", "")})
    defaults = RunSettings()
    assert {(c.settings.num_negatives, c.settings.seed, c.settings.sampler, c.settings.allocator) for c in cells} == {
        (defaults.num_negatives, defaults.seed, defaults.sampler, defaults.allocator)}


def test_the_optimizer_choices_follow_the_registry(monkeypatch):
    assert TrainConfig.optimizer in OPTIMIZERS
    with pytest.raises(SptxError, match="--optimizer 'adam-x'"):
        RunSettings(optimizer="adam-x")
    monkeypatch.setitem(OPTIMIZERS, "adam-x", OPTIMIZERS["adam"])
    assert RunSettings(optimizer="adam-x").optimizer == "adam-x"
