"""The training losses, as a registry (a run setting, `--loss`): each takes the scores of B positives and of their
k*B negatives (block j of B rows corrupting the positives, higher is better) and returns the batch's summed loss.

- `margin`: the paper's margin ranking loss, TorchKGE's MarginLoss: sum over (i, j) of max(0, margin - pos_i + neg_ij).
- `softplus`: the pointwise logistic loss (binary cross-entropy on scores, PyKEEN's SoftplusLoss with sum
  reduction): sum softplus(-pos_i) + sum softplus(neg_ij); no margin.
- `nssa`: self-adversarial negative sampling (Sun et al., 2019, RotatE; PyKEEN's NSSALoss with sum reduction):
  1/2 * sum_i [softplus(-(margin + pos_i)) + sum_j w_ij softplus(margin + neg_ij)], w_i = softmax(temperature *
  neg_i) over the k negatives of positive i, detached (no gradient through the weights); the 1/2 is the RotatE
  code's (PyKEEN applies it with mean reduction only, so its adapter sets it for sum). `margin` is the paper's
  gamma, `temperature` its alpha.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch
from torch.nn.functional import softplus

from harness.errors import SptxError

__all__ = ["DEFAULT_LOSS", "LOSSES", "LossFunction", "batch_loss", "get_loss", "margin_ranking_loss"]

DEFAULT_LOSS = "margin"


def _by_positive(positive: torch.Tensor, negative: torch.Tensor) -> torch.Tensor:
    """The negatives as (B, k): row i holds the k corruptions of positive i."""
    return negative.view(-1, positive.shape[0]).t()


def margin_ranking_loss(positive: torch.Tensor, negative: torch.Tensor, margin: float) -> torch.Tensor:
    """positive: scores of shape (B,); negative: shape (k * B,), block j of B rows corrupting the positives.

    Scores are higher-is-better (minus the dissimilarity). Reduction is a sum, as in the paper.
    """
    k = negative.shape[0] // positive.shape[0]
    pos = positive.repeat(k) if k > 1 else positive
    return torch.clamp(margin - pos + negative, min=0).sum()


def _margin(positive: torch.Tensor, negative: torch.Tensor, margin: float, temperature: float) -> torch.Tensor:
    return margin_ranking_loss(positive, negative, margin)


def _softplus(positive: torch.Tensor, negative: torch.Tensor, margin: float, temperature: float) -> torch.Tensor:
    return softplus(-positive).sum() + softplus(negative).sum()


def _nssa(positive: torch.Tensor, negative: torch.Tensor, margin: float, temperature: float) -> torch.Tensor:
    negatives = _by_positive(positive, negative)
    weights = torch.softmax(negatives.detach() * temperature, dim=1)
    return 0.5 * (softplus(-(margin + positive)).sum() + (weights * softplus(margin + negatives)).sum())


@dataclass(frozen=True)
class LossFunction:
    """One loss: its name, a line of help, and the function of (positive, negative, margin, temperature)."""

    name: str
    help: str
    function: Callable[[torch.Tensor, torch.Tensor, float, float], torch.Tensor]
    code: int  # the fused kernels' number for it (sparse_impl.backends.fused)


LOSSES: dict[str, LossFunction] = {loss.name: loss for loss in (
    LossFunction("margin", "margin ranking, sum max(0, margin - pos + neg) (the paper's)", _margin, 0),
    LossFunction("softplus", "softplus / binary cross-entropy on scores, sum softplus(-pos) + softplus(neg)",
                 _softplus, 1),
    LossFunction("nssa", "self-adversarial negative sampling (RotatE): softplus with margin gamma, negatives "
                 "weighted by softmax(temperature * score), detached", _nssa, 2),
)}


def get_loss(name: str) -> LossFunction:
    """The loss registered under `name`; SptxError for an unknown one."""
    try:
        return LOSSES[name]
    except KeyError:
        raise SptxError(f"unknown loss {name!r}; choose one of {', '.join(LOSSES)}") from None


def batch_loss(name: str, positive: torch.Tensor, negative: torch.Tensor, margin: float,
               temperature: float = 1.0) -> torch.Tensor:
    """The named loss of a batch's scores (positive (B,), negative (k*B,)), summed."""
    return get_loss(name).function(positive, negative, margin, temperature)
