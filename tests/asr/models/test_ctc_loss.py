"""The numba CTC loss: equal to PyTorch's F.ctc_loss (value and gradient with respect to the logits) on random
batches with padding, repeated labels and utterances no alignment fits, and to a brute-force sum over every
alignment on tiny cases."""

from __future__ import annotations

import itertools
import math

import pytest
import torch
import torch.nn.functional as F

from asr.models.ctc import CtcHead
from asr.models.ctc_loss import ctc_loss


def _loss_and_grad(fn, logits, targets, in_lens, tgt_lens, reduction, zero_infinity=True):
    logits = logits.detach().clone().requires_grad_(True)
    loss = fn(
        logits.log_softmax(-1),
        targets,
        in_lens,
        tgt_lens,
        blank=0,
        reduction=reduction,
        zero_infinity=zero_infinity,
    )
    weights = torch.arange(1, loss.numel() + 1, dtype=loss.dtype).view(loss.shape)
    (loss * weights).sum().backward()
    return loss.detach(), logits.grad


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("reduction", ["none", "sum", "mean"])
def test_equals_torch_ctc_loss(seed, reduction):
    g = torch.Generator().manual_seed(seed)
    for _ in range(25):
        n_b = int(torch.randint(1, 6, (), generator=g))
        n_t = int(torch.randint(1, 25, (), generator=g))
        vocab = int(torch.randint(2, 7, (), generator=g))  # small vocabularies: many repeated labels
        max_u = int(torch.randint(1, 10, (), generator=g))
        logits = torch.randn(n_t, n_b, vocab, dtype=torch.float64, generator=g) * 3
        targets = torch.randint(1, vocab, (n_b, max_u), generator=g)
        in_lens = torch.randint(1, n_t + 1, (n_b,), generator=g)
        tgt_lens = torch.randint(0, max_u + 1, (n_b,), generator=g)  # some longer than their frames allow
        ref_loss, ref_grad = _loss_and_grad(F.ctc_loss, logits, targets, in_lens, tgt_lens, reduction)
        loss, grad = _loss_and_grad(ctc_loss, logits, targets, in_lens, tgt_lens, reduction)
        torch.testing.assert_close(loss, ref_loss, rtol=1e-9, atol=1e-9)
        torch.testing.assert_close(grad, ref_grad, rtol=1e-9, atol=1e-9)


def test_float32_as_in_training():
    g = torch.Generator().manual_seed(7)
    logits = torch.randn(45, 14, 2000, generator=g)
    targets = torch.randint(1, 2000, (14, 12), generator=g)
    in_lens = torch.randint(30, 46, (14,), generator=g)
    tgt_lens = torch.randint(1, 13, (14,), generator=g)
    ref_loss, ref_grad = _loss_and_grad(F.ctc_loss, logits, targets, in_lens, tgt_lens, "sum")
    loss, grad = _loss_and_grad(ctc_loss, logits, targets, in_lens, tgt_lens, "sum")
    torch.testing.assert_close(loss, ref_loss, rtol=1e-5, atol=1e-3)
    torch.testing.assert_close(grad, ref_grad, rtol=1e-4, atol=1e-5)


def _collapse(path):
    out = []
    prev = None
    for p in path:
        if p != prev and p != 0:
            out.append(p)
        prev = p
    return out


@pytest.mark.parametrize("target", [[], [1], [1, 1], [1, 2], [2, 1, 2], [1, 1, 1]])
def test_brute_force_sum_over_alignments(target):
    n_t, vocab = 5, 3
    g = torch.Generator().manual_seed(len(target))
    logp = torch.randn(n_t, 1, vocab, dtype=torch.float64, generator=g).log_softmax(-1)
    total = 0.0
    for path in itertools.product(range(vocab), repeat=n_t):
        if _collapse(path) == target:
            total += math.exp(sum(float(logp[t, 0, p]) for t, p in enumerate(path)))
    targets = torch.tensor([target + [1] * (3 - len(target))])
    loss = ctc_loss(
        logp, targets, torch.tensor([n_t]), torch.tensor([len(target)]), reduction="none", zero_infinity=False
    )
    assert total > 0.0  # every target fits 5 frames ([1, 1, 1] needs exactly 5: 1 blank 1 blank 1)
    assert float(loss[0]) == pytest.approx(-math.log(total), rel=1e-12)


def test_infeasible_utterance_zero_or_inf():
    logp = torch.randn(3, 2, 4, dtype=torch.float64).log_softmax(-1).requires_grad_(True)
    targets = torch.tensor([[1, 1, 2], [1, 2, 3]])  # the first needs 4 frames (1 blank 1 2), the second 3
    in_lens, tgt_lens = torch.tensor([3, 3]), torch.tensor([3, 3])
    kept = ctc_loss(logp, targets, in_lens, tgt_lens, reduction="none", zero_infinity=False).detach()
    assert math.isinf(float(kept[0])) and math.isfinite(float(kept[1]))
    zeroed = ctc_loss(logp, targets, in_lens, tgt_lens, reduction="none", zero_infinity=True)
    assert float(zeroed[0].detach()) == 0.0
    zeroed.sum().backward()
    assert torch.all(logp.grad[:, 0] == 0) and torch.any(logp.grad[:, 1] != 0)


def test_lengths_outside_the_tensors_are_errors():
    logp = torch.randn(4, 2, 3).log_softmax(-1)
    targets = torch.tensor([[1, 2], [2, -1]])  # -1 padding beyond the second target's length is fine
    ok = ctc_loss(logp, targets, torch.tensor([4, 3]), torch.tensor([2, 1]), reduction="none")
    assert torch.isfinite(ok).all()
    with pytest.raises(ValueError, match="input_lengths must be in 0..4"):
        ctc_loss(logp, targets, torch.tensor([5, 3]), torch.tensor([2, 1]))
    with pytest.raises(ValueError, match="target_lengths must be in 0..2"):
        ctc_loss(logp, targets, torch.tensor([4, 3]), torch.tensor([3, 1]))
    with pytest.raises(ValueError, match="batch of 2"):
        ctc_loss(logp, targets, torch.tensor([4]), torch.tensor([2, 1]))


def test_unknown_reduction_is_an_error():
    logp = torch.randn(4, 1, 3).log_softmax(-1)
    with pytest.raises(ValueError, match="reduction"):
        ctc_loss(logp, torch.tensor([[1]]), torch.tensor([4]), torch.tensor([1]), reduction="avg")


def test_ctc_head_loss_matches_torch():
    torch.manual_seed(3)
    head = CtcHead(16, 9)
    hidden = torch.randn(3, 12, 16)
    lens = torch.tensor([12, 9, 4])
    targets = torch.tensor([[1, 2, 2, 3], [4, 5, -1, -1], [6, 7, 8, -1]])
    tgt_lens = torch.tensor([4, 2, 3])
    loss = head.loss(hidden, lens, targets, tgt_lens)
    logp = head(hidden).transpose(0, 1)
    ref = F.ctc_loss(logp, targets.clamp(min=0), lens, tgt_lens, reduction="sum", zero_infinity=True) / 3
    torch.testing.assert_close(loss, ref)
