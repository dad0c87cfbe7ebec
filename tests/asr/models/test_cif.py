"""CIF against a hand-worked example and against a plain frame loop (the integrate-and-fire of the paper)."""

from __future__ import annotations

import pytest
import torch

from asr.models.cif import add_tail, cif, count_tokens, fire_frames, scale_weights, token_spans


def loop_cif(hidden: torch.Tensor, alphas: torch.Tensor, threshold: float = 1.0):
    """Reference: accumulate weights frame by frame; when the sum reaches the threshold, the part that completes it
    goes to the current token, which fires, and the remainder starts the next one. One utterance, float64."""
    acc_w = 0.0
    acc_h = torch.zeros(hidden.shape[1], dtype=torch.float64)
    tokens, fires = [], []
    for t in range(hidden.shape[0]):
        a = float(alphas[t])
        h = hidden[t].double()
        if acc_w + a < threshold - 1e-9:
            acc_w += a
            acc_h += a * h
            continue
        # fires (possibly several times if a > threshold)
        need = threshold - acc_w
        tokens.append(acc_h + need * h)
        fires.append(t)
        rest = a - need
        while rest >= threshold - 1e-9:
            tokens.append(threshold * h)
            fires.append(t)
            rest -= threshold
        acc_w, acc_h = rest, rest * h
    return (torch.stack(tokens) if tokens else torch.zeros(0, hidden.shape[1], dtype=torch.float64)), fires


def test_hand_worked_example():
    # weights 0.3 0.5 0.4 0.9 0.2 0.7 -> cumulative 0.3 0.8 1.2 2.1 2.3 3.0: fires at frames 2, 3, 5
    alphas = torch.tensor([[0.3, 0.5, 0.4, 0.9, 0.2, 0.7]])
    hidden = torch.tensor([[[1.0, 0.0], [0.0, 1.0], [1.0, 1.0], [2.0, 0.0], [0.0, 2.0], [1.0, -1.0]]])
    out = cif(hidden, alphas, torch.tensor([3]))
    # token 1 = 0.3*h0 + 0.5*h1 + 0.2*h2; token 2 = 0.2*h2 + 0.8*h3; token 3 = 0.1*h3 + 0.2*h4 + 0.7*h5
    expected = torch.tensor([[0.5, 0.7], [1.8, 0.2], [0.9, -0.3]])
    torch.testing.assert_close(out.embeds[0], expected, rtol=0, atol=1e-6)
    assert out.fires.tolist() == [[2, 3, 5]]
    torch.testing.assert_close(out.weights[0].sum(-1), torch.ones(3))
    assert count_tokens(alphas).tolist() == [3]
    start, end = token_spans(out.weights, out.fires, min_weight=0.15)
    assert start.tolist() == [[0, 2, 4]]  # token 3 gets only 0.1 of frame 3: below min_weight
    assert end.tolist() == [[3, 4, 6]]


def test_matches_frame_loop_on_random_batches():
    g = torch.Generator().manual_seed(0)
    for _ in range(20):
        b, t, d = 3, 17, 4
        alphas = torch.rand(b, t, generator=g) * 0.9
        lens = torch.tensor([17, 11, 5])
        alphas = alphas * (torch.arange(t)[None] < lens[:, None])
        hidden = torch.randn(b, t, d, generator=g)
        num = count_tokens(alphas)
        out = cif(hidden, alphas, num)
        for i in range(b):
            ref, ref_fires = loop_cif(hidden[i, : lens[i]], alphas[i, : lens[i]])
            n = int(num[i])
            assert n == len(ref_fires)
            torch.testing.assert_close(out.embeds[i, :n].double(), ref, atol=1e-5, rtol=1e-5)
            assert out.fires[i, :n].tolist() == ref_fires
            assert (out.embeds[i, n:] == 0).all() and (out.fires[i, n:] == -1).all()


def test_scaled_weights_give_exactly_the_target_count():
    g = torch.Generator().manual_seed(1)
    alphas = torch.rand(4, 50, generator=g)
    target = torch.tensor([7, 1, 23, 13])
    scaled = scale_weights(alphas, target)
    torch.testing.assert_close(scaled.sum(-1), target.float())
    out = cif(torch.randn(4, 50, 8, generator=g), scaled, target)
    assert out.embeds.shape == (4, 23, 8)
    assert (out.fires[torch.arange(4), target - 1] >= 0).all()  # every target token fires (within EPS)
    # each complete token integrates weight 1
    for i in range(4):
        torch.testing.assert_close(out.weights[i, : target[i]].sum(-1), torch.ones(int(target[i])))


def test_tail_lets_the_last_token_fire():
    alphas = torch.tensor([[0.6, 0.5, 0.6, 0.0], [0.9, 0.0, 0.0, 0.0]])
    lens = torch.tensor([3, 1])
    assert count_tokens(alphas).tolist() == [1, 0]
    hidden, tailed = add_tail(torch.ones(2, 4, 3), alphas, lens, 0.45)
    assert hidden.shape == (2, 5, 3) and (hidden[:, -1] == 0).all()
    torch.testing.assert_close(tailed[1], torch.tensor([0.9, 0.45, 0.0, 0.0, 0.0]))
    assert count_tokens(tailed).tolist() == [2, 1]


def test_gradient_reaches_weights_and_states():
    alphas = torch.tensor([[0.4, 0.7, 0.5, 0.6]], requires_grad=True)
    hidden = torch.randn(1, 4, 3, requires_grad=True)
    out = cif(hidden, scale_weights(alphas, torch.tensor([2])), torch.tensor([2]))
    (out.embeds**2).sum().backward()
    assert alphas.grad is not None and alphas.grad.abs().sum() > 0
    assert hidden.grad is not None and hidden.grad.abs().sum() > 0


@pytest.mark.parametrize("threshold", [1.0, 0.5])
def test_fire_frames_follow_threshold(threshold):
    alphas = torch.full((1, 10), 0.25)
    n = count_tokens(alphas, threshold)
    assert int(n) == int(2.5 / threshold)
    fires = fire_frames(alphas, n, threshold)
    step = int(threshold / 0.25)
    assert fires[0].tolist() == [step * (k + 1) - 1 for k in range(int(n))]
