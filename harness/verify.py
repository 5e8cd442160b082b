"""Proof of exactness: one real batch through a framework's step (by default our SpMM model) and through
the reference's step for the same model (an independent implementation: TorchKGE where it has the model, else
PyKEEN where it has it (RotatE), else our gather step, which is the model spec's score evaluated by gathers), from
the same initial parameters and with the run's loss, comparing scores, loss and every parameter gradient; and the
model spec's score function (harness.models, what evaluation ranks with) on the same positives.

Tolerance. Both run in float32 and differ only in summation order (SpMM sums a column's contributions
in another order than a scatter-add), so we also run the reference in float64 as the exact answer
and measure each float32 result's error against it, relative to the tensor's scale (max |exact|).
A tensor passes when our error is at most RTOL (1e-4) of scale, or at most FACTOR (4) times the
reference's own float32 error: where cancellation makes float32 sums inexact (TorusE relation gradients
on WN18RR reach ~3e-4 of scale in TorchKGE itself) we ask to be as exact as the reference, and a wrong
formula (errors of order 1) fails either way. The printed differences are ours vs the reference in float32.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

import torch

from baselines import FRAMEWORKS, get_framework
from harness.errors import SptxError
from harness.measure.driver import drive_step
from harness.sampling import Batch, BatchStream, make_sampler
from harness.spec import ModelConfig, TrainConfig, init_parameters

__all__ = ["RTOL", "FACTOR", "REFERENCES", "TensorComparison", "VerifyReport", "compare_tensors", "reference_framework",
           "verify_step"]

RTOL = 1e-4
FACTOR = 4.0


@dataclass(frozen=True)
class TensorComparison:
    """How far one of our tensors is from the reference's, and how far each is from the exact (float64) one."""

    name: str
    shape: tuple[int, ...]
    max_abs: float  # max |ours - reference|
    max_rel: float  # max_abs / max |reference|
    error: float  # max |ours - exact| / max |exact|
    reference_error: float  # max |reference - exact| / max |exact|
    passed: bool


@dataclass(frozen=True)
class VerifyReport:
    """Every compared tensor of one verification run."""

    model: str
    dissimilarity: str | None
    label: str  # what was verified, e.g. sparse[fused]
    reference: str  # the framework it was compared with
    batch_size: int
    comparisons: tuple[TensorComparison, ...]

    @property
    def passed(self) -> bool:
        return all(c.passed for c in self.comparisons)


def _max_abs_diff(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a.double() - b.double()).abs().max()) if b.numel() else 0.0


def _scale(x: torch.Tensor) -> float:
    return float(x.double().abs().max()) if x.numel() else 0.0


def compare_tensors(name: str, ours: torch.Tensor, reference: torch.Tensor,
                    exact: torch.Tensor | None = None) -> TensorComparison:
    """Differences of `ours` from `reference` and, when given, of both from `exact` (see module docstring)."""
    ours, reference = ours.detach().cpu(), reference.detach().cpu()
    exact = reference.double() if exact is None else exact.detach().cpu().double()
    if ours.shape != reference.shape or exact.shape != reference.shape:
        inf = float("inf")
        return TensorComparison(name, tuple(reference.shape), inf, inf, inf, inf, False)
    max_abs, scale = _max_abs_diff(ours, reference), _scale(exact)
    relative = (lambda v: v / scale) if scale > 0 else (lambda v: 0.0 if v == 0 else float("inf"))
    error, reference_error = relative(_max_abs_diff(ours, exact)), relative(_max_abs_diff(reference, exact))
    passed = error <= RTOL or error <= FACTOR * reference_error
    ref_scale = _scale(reference)
    max_rel = max_abs / ref_scale if ref_scale > 0 else (0.0 if max_abs == 0 else float("inf"))
    return TensorComparison(name, tuple(reference.shape), max_abs, max_rel, error, reference_error, passed)


def _run_one_step(step, batch: Batch) -> dict[str, torch.Tensor]:
    """prepare, forward and backward through the one step driver; scores re-computed from the prepared batch."""
    result = drive_step(step, batch, phases=("prepare", "forward", "backward"))
    assert result.loss is not None
    with torch.no_grad():
        positive, negative = step.scores(result.prepared)
    out = {"score(positive)": positive.detach(), "score(negative)": negative.detach(), "loss": result.loss.detach()}
    out.update({f"grad({k})": v for k, v in step.canonical_gradients().items()})
    return out


REFERENCES = ("torchkge", "pykeen")  # independent implementations, in order of preference; gather is the last resort


def reference_framework(cfg: ModelConfig) -> str:
    """The first of TorchKGE and PyKEEN that has the model (with its dissimilarity), else gather (the spec by
    gathers): TorchKGE for the translation models, DistMult and ComplEx, PyKEEN for RotatE."""
    return next((name for name in REFERENCES if FRAMEWORKS[name].unsupported_reason(cfg) is None), "gather")


def verify_step(cfg: ModelConfig, train_triples: torch.Tensor, batch_size: int, framework: str = "sparse",
                options: Mapping[str, Any] | None = None, train: TrainConfig | None = None,
                device: torch.device | None = None, reference: str | None = None) -> VerifyReport:
    """Compare `framework`'s step (with `options`, e.g. {"backend": "fused"}) with the reference's (`reference`, by
    default reference_framework's) on the first seeded batch of `train_triples`. SptxError when the framework or
    the reference lacks the model or cannot run here."""
    train = train or TrainConfig()
    device = device or torch.device("cpu")
    ours_cls = get_framework(framework)
    resolved = ours_cls.resolve_options(options or {})
    reason = ours_cls.unsupported_reason(cfg, resolved, None, train.loss)
    if reason:
        raise SptxError(reason)
    reason = ours_cls.unavailable_reason_for(resolved)
    if reason:
        raise SptxError(f"{ours_cls.label(resolved)} is unavailable here: {reason}")
    reference = reference or reference_framework(cfg)
    reference_cls = get_framework(reference)
    reason = reference_cls.unavailable_reason() or reference_cls.unsupported_reason(cfg, None, None, train.loss)
    if reason:
        raise SptxError(f"verify needs {reference} as the reference: {reason}")
    sampler = make_sampler(train.sampler, train_triples, cfg.n_entities, cfg.n_relations)
    batch = next(iter(BatchStream(train_triples, batch_size, sampler, train.num_negatives, train.seed)))
    params = init_parameters(cfg, seed=train.seed)
    ours = _run_one_step(ours_cls.build(cfg, train, params, device, resolved), batch)
    expected = _run_one_step(reference_cls.build(cfg, train, params, device, {}), batch)
    params64 = {k: v.double() for k, v in params.items()}
    exact = _run_one_step(reference_cls.build(cfg, train, params64, device, {}), batch)
    comparisons = tuple(compare_tensors(name, ours[name], expected[name], exact[name]) for name in expected)
    # the model spec's score function, the one the link-prediction evaluator ranks with
    h, r, t = batch.positives[:, 0], batch.positives[:, 1], batch.positives[:, 2]
    with torch.no_grad():
        by_spec = cfg.spec.score(params, cfg.dissimilarity, h, r, t)
    comparisons += (compare_tensors("score(positive) by model spec", by_spec, expected["score(positive)"],
                                    exact["score(positive)"]),)
    return VerifyReport(cfg.model, cfg.dissimilarity, ours_cls.label(resolved), reference, batch.size, comparisons)
