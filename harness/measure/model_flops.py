"""The model's analytic FLOPs per training step: what its math costs, the same for every framework
doing identical work, whatever kernels it runs (its `flops_executed` may differ; see flops.py).

Conventions, per scored triple (n = B * (1 + k) rows, d = dim, d_r = TransR's relation dimension):
an add, multiply, comparison or square root is 1 FLOP; a dot product of length d is 2d.
- Normalising an entity row is 3d + 1 (squares and sum, sqrt, divide), counted for the batch's head and
  tail rows, not the whole table. Each model's spec counts its own forward (`ModelSpec.forward_flops`),
  each dissimilarity its own (sparse_impl.dissimilarity).
- Margin loss per negative: 3 (margin - pos + neg) + 1 (clamp) + 1 (sum).
Training = forward + backward, counted as 3 x forward (the backward of each op costs about twice
its forward); the optimizer update is left out (dense vs row-sparse Adam is a framework choice).
"""

from __future__ import annotations

from harness.models import get_model

__all__ = ["model_flops_per_step", "forward_flops_per_triple"]

_LOSS_PER_NEGATIVE = 5


def forward_flops_per_triple(model: str, dissimilarity: str | None, dim: int, rel_dim: int | None) -> int:
    """Forward FLOPs of scoring one triple, as the model's spec counts them (harness.models)."""
    return get_model(model).forward_flops(dissimilarity, dim, rel_dim)


def model_flops_per_step(model: str, dissimilarity: str | None, dim: int, rel_dim: int | None, batch_size: int,
                         num_negatives: int) -> int:
    """Analytic FLOPs of one training step (forward and backward) over a batch and its negatives."""
    rows = batch_size * (1 + num_negatives)
    forward = rows * forward_flops_per_triple(model, dissimilarity, dim, rel_dim)
    forward += batch_size * num_negatives * _LOSS_PER_NEGATIVE
    return 3 * forward
