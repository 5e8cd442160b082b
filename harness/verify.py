"""Proof of exactness: one real batch through our SpMM model and through TorchKGE's model of the same
kind, from the same initial parameters, comparing scores, loss and every parameter gradient.

Tolerance (float32): a tensor passes when max|ours - ref| <= RTOL * max|ref| + ATOL, i.e. the largest
difference is within 1e-4 of the tensor's own scale. Only the summation order differs between the two
(SpMM sums a row's three terms and a column's contributions in another order than gather /
scatter-add), which costs a few float32 ulps per addition; observed differences are around 1e-6 to 1e-5
of scale, so 1e-4 leaves a margin without hiding a wrong formula (those give differences of order 1).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from harness.sampling import Batch, BatchStream, make_sampler
from harness.spec import ModelConfig, TrainConfig, init_parameters

__all__ = ["RTOL", "ATOL", "TensorComparison", "VerifyReport", "compare_tensors", "verify_against_torchkge"]

RTOL = 1e-4
ATOL = 1e-7


@dataclass(frozen=True)
class TensorComparison:
    """How far one of our tensors is from the reference's."""

    name: str
    shape: tuple[int, ...]
    max_abs: float
    max_rel: float  # max_abs relative to max |reference|
    passed: bool


@dataclass(frozen=True)
class VerifyReport:
    """Every compared tensor of one verification run."""

    model: str
    dissimilarity: str
    backend: str
    batch_size: int
    comparisons: tuple[TensorComparison, ...]

    @property
    def passed(self) -> bool:
        return all(c.passed for c in self.comparisons)


def compare_tensors(name: str, ours: torch.Tensor, reference: torch.Tensor) -> TensorComparison:
    """Largest absolute and scale-relative difference between two tensors of the same shape."""
    if ours.shape != reference.shape:
        return TensorComparison(name, tuple(reference.shape), float("inf"), float("inf"), False)
    ours64, ref64 = ours.detach().double().cpu(), reference.detach().double().cpu()
    max_abs = float((ours64 - ref64).abs().max()) if ref64.numel() else 0.0
    scale = float(ref64.abs().max()) if ref64.numel() else 0.0
    max_rel = max_abs / scale if scale > 0 else (0.0 if max_abs == 0 else float("inf"))
    return TensorComparison(name, tuple(reference.shape), max_abs, max_rel, max_abs <= RTOL * scale + ATOL)


def _run_one_step(step, batch: Batch) -> dict[str, torch.Tensor]:
    prepared = step.prepare(batch)
    positive, negative = step.scores(prepared)
    loss = step.forward(prepared)
    step.backward(loss)
    out = {"score(positive)": positive.detach(), "score(negative)": negative.detach(), "loss": loss.detach()}
    out.update({f"grad({k})": v for k, v in step.canonical_gradients().items()})
    return out


def verify_against_torchkge(cfg: ModelConfig, train_triples: torch.Tensor, batch_size: int,
                            backend: str = "torch", train: TrainConfig | None = None,
                            device: torch.device | None = None) -> VerifyReport:
    """Compare our SpMM step with TorchKGE's on the first seeded batch of `train_triples`."""
    from baselines.sparse import SparseStep
    from baselines.torchkge import TorchKGEStep

    train = train or TrainConfig()
    device = device or torch.device("cpu")
    sampler = make_sampler(train.sampler, train_triples, cfg.n_entities, cfg.n_relations)
    batch = next(iter(BatchStream(train_triples, batch_size, sampler, train.num_negatives, train.seed)))
    params = init_parameters(cfg, seed=train.seed)
    ours = _run_one_step(SparseStep(cfg, train, params, device, backend=backend), batch)
    reference = _run_one_step(TorchKGEStep(cfg, train, params, device), batch)
    comparisons = tuple(compare_tensors(name, ours[name], reference[name]) for name in reference)
    assert cfg.dissimilarity is not None
    return VerifyReport(cfg.model, cfg.dissimilarity, backend, batch.size, comparisons)
