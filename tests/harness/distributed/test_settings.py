"""DistributedSettings: validation, and the worker's command line reproducing both settings blocks."""

from __future__ import annotations

import pytest

from harness.distributed.settings import DistributedSettings, distributed_from_args, resolve_backend, settings_argv
from harness.distributed.worker import build_parser
from harness.errors import SptxError
from harness.settings import RunSettings, settings_from_args


def test_the_worker_argv_round_trips_both_settings() -> None:
    settings = RunSettings(model="transr", dataset="WN18RR", dim=16, rel_dim=8, batch_size=64, num_negatives=3,
                           sampler="uniform", seed=7, steps=4, warmup=1, threads=1, allocator="default")
    dist_settings = DistributedSettings(world_size=4, backend="gloo", strategy="rowsparse", collective_timeout_s=9.5)
    args = build_parser().parse_args(settings_argv(settings, dist_settings))
    assert settings_from_args(args) == settings
    assert distributed_from_args(args, world_size=4) == dist_settings


def test_validation_and_backend_choice() -> None:
    with pytest.raises(SptxError, match="--strategy"):
        DistributedSettings(strategy="ring")
    with pytest.raises(SptxError, match="--dist-backend"):
        DistributedSettings(backend="mpi")
    with pytest.raises(SptxError, match="world size"):
        DistributedSettings(world_size=0)
    assert resolve_backend("auto", "cpu") == "gloo" and resolve_backend("auto", "cuda:1") == "nccl"
    assert resolve_backend("gloo", "cuda") == "gloo"
