"""Margin ranking loss, as TorchKGE's MarginLoss: sum(max(0, margin - pos + neg))."""

from __future__ import annotations

import torch

__all__ = ["margin_ranking_loss"]


def margin_ranking_loss(positive: torch.Tensor, negative: torch.Tensor, margin: float) -> torch.Tensor:
    """positive: scores of shape (B,); negative: shape (k * B,), block j of B rows corrupting the positives.

    Scores are higher-is-better (minus the dissimilarity). Reduction is a sum, as in the paper.
    """
    k = negative.shape[0] // positive.shape[0]
    pos = positive.repeat(k) if k > 1 else positive
    return torch.clamp(margin - pos + negative, min=0).sum()
