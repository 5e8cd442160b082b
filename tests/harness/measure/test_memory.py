"""Memory measurement: live CPU tensor peak from allocator records, step state bytes, RSS, CUDA peaks."""

import warnings

import pytest
import torch

from baselines.sparse import SparseStep
from harness.errors import SptxError
from harness.measure import (
    LiveTensorPeak,
    cuda_peak_tracker,
    current_rss_bytes,
    live_tensor_peak,
    peak_rss_bytes,
    state_bytes,
    step_live_tensor_peak,
)
from harness.measure.memory import _peak_growth
from harness.sampling import Batch
from harness.spec import ModelConfig, TrainConfig, init_parameters

MB = 1 << 20
warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta state")


def test_peak_growth_of_allocate_free_allocate():
    def work() -> None:
        first = torch.ones(4 * MB // 4)  # 4 MB of float32
        second = torch.ones(8 * MB // 4)  # 8 MB: 12 MB live
        del first  # 8 MB live
        third = torch.ones(1 * MB // 4)  # 9 MB live
        del second, third

    peak = live_tensor_peak(work)
    assert peak.baseline_bytes == 0
    assert peak.growth_bytes == pytest.approx(12 * MB, rel=0.05)


def test_baseline_is_added_to_the_peak():
    peak = live_tensor_peak(lambda: torch.ones(MB // 4), baseline_bytes=123)
    assert peak == LiveTensorPeak(123, peak.peak_bytes)
    assert peak.growth_bytes == pytest.approx(MB, rel=0.05)


def test_peak_growth_orders_deltas_by_time():
    assert _peak_growth([(3, -5), (1, 10), (2, 4)]) == 14
    assert _peak_growth([(1, -5)]) == 0


def _sparse_step() -> tuple[SparseStep, Batch]:
    cfg = ModelConfig("transe", 200, 4, 32)
    step = SparseStep(cfg, TrainConfig(), init_parameters(cfg), torch.device("cpu"))
    g = torch.Generator().manual_seed(0)
    positives = torch.stack([torch.randint(0, 200, (64,), generator=g), torch.randint(0, 4, (64,), generator=g),
                             torch.randint(0, 200, (64,), generator=g)], dim=1)
    negatives = positives.clone()
    negatives[:, 2] = torch.randint(0, 200, (64,), generator=g)
    return step, Batch(positives, negatives)


def test_step_state_bytes_and_peak():
    step, batch = _sparse_step()
    param_bytes = (200 + 4) * 32 * 4
    assert state_bytes(step) == param_bytes
    first = step_live_tensor_peak(step, batch)
    assert first.baseline_bytes == param_bytes
    # The step's table copies (normalised entities, stacked table, its gradient) exceed the parameters.
    assert first.growth_bytes > param_bytes
    after = state_bytes(step)  # Adam's two moment buffers and its scalar step counters now exist
    assert 3 * param_bytes <= after <= 3 * param_bytes + 64
    assert step_live_tensor_peak(step, batch).baseline_bytes == after


def test_rss():
    current = current_rss_bytes()
    assert current > 0
    assert peak_rss_bytes() >= current * 0.9  # the peak is never below what is resident now


def test_cuda_tracker_refuses_a_cpu_device():
    with pytest.raises(SptxError):
        with cuda_peak_tracker("cpu"):
            pass


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device on this machine")
def test_cuda_peak_per_phase():
    device = torch.device("cuda")
    with cuda_peak_tracker(device) as tracker:
        with tracker.phase("alloc"):
            a = torch.ones(8 * MB // 4, device=device)
            del a
        with tracker.phase("small"):
            b = torch.ones(MB // 4, device=device)
    assert tracker.peaks["alloc"] - tracker.baseline_bytes >= 8 * MB
    assert tracker.peaks["small"] - tracker.baseline_bytes < 8 * MB
    del b
