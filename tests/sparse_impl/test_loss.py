"""The losses' values on hand-computed cases, and the self-adversarial weights carrying no gradient."""

import math

import pytest
import torch

from harness.errors import SptxError
from sparse_impl.loss import LOSSES, batch_loss, get_loss


def softplus(x: float) -> float:
    return math.log1p(math.exp(x))


POS = torch.tensor([1.0, -2.0])
NEG = torch.tensor([0.5, -1.0, 2.0, -3.0])  # block j of 2 rows: negatives of positive 0 are 0.5 and 2.0


def test_margin_is_the_hinge_sum():
    # positive 0 (1.0): 0.5 - 1 + 0.5 = 0 -> 0; 0.5 - 1 + 2 = 1.5. positive 1 (-2): 0.5 + 2 - 1 = 1.5; 0.5 + 2 - 3 = -0.5 -> 0
    assert batch_loss("margin", POS, NEG, 0.5).item() == pytest.approx(3.0)


def test_softplus_counts_each_positive_once():
    expected = softplus(-1.0) + softplus(2.0) + sum(softplus(v) for v in NEG.tolist())
    assert batch_loss("softplus", POS, NEG, 0.5).item() == pytest.approx(expected)


def test_nssa_weights_negatives_by_their_softmax():
    margin, alpha = 3.0, 0.7
    expected = 0.0
    for i, negatives in enumerate(([0.5, 2.0], [-1.0, -3.0])):
        weights = torch.softmax(alpha * torch.tensor(negatives), 0).tolist()
        expected += softplus(-(margin + POS[i].item()))
        expected += sum(w * softplus(margin + n) for w, n in zip(weights, negatives))
    assert batch_loss("nssa", POS, NEG, margin, alpha).item() == pytest.approx(0.5 * expected)


def test_nssa_gradient_does_not_flow_through_the_weights():
    neg = NEG.clone().requires_grad_()
    batch_loss("nssa", POS, neg, 3.0, 0.7).backward()
    weights = torch.softmax(0.7 * NEG.view(2, 2).t(), 1).t().reshape(-1)
    expected = 0.5 * weights * torch.sigmoid(3.0 + NEG)
    assert torch.allclose(neg.grad, expected)


def test_every_loss_has_a_distinct_kernel_code_and_unknown_names_fail_in_one_line():
    assert len({loss.code for loss in LOSSES.values()}) == len(LOSSES)
    with pytest.raises(SptxError, match="unknown loss"):
        get_loss("hinge")
