"""LFR: a hand-worked toy with FunASR's padding, a loop-based transcription of FunASR's algorithm, and the batched
version equal to the per-utterance one."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from asr.features.lfr import apply_lfr, apply_lfr_batch


def _funasr_style_loop(x: np.ndarray, m: int, n: int) -> np.ndarray:
    """The row-by-row algorithm of FunASR's apply_lfr: left-pad with (m-1)//2 copies of frame 0, take m frames
    every n, and fill a short last window with copies of the last frame."""
    T = x.shape[0]
    rows = int(np.ceil(T / n))
    left = (m - 1) // 2
    padded = np.vstack([np.repeat(x[:1], left, axis=0), x])
    T2 = T + left
    out = []
    for i in range(rows):
        if m <= T2 - i * n:
            out.append(padded[i * n : i * n + m].reshape(-1))
        else:
            frame = padded[i * n :].reshape(-1)
            for _ in range(m - (T2 - i * n)):
                frame = np.hstack([frame, x[-1]])
            out.append(frame)
    return np.vstack(out)


def test_hand_worked_toy():
    # 8 frames of 1 dim, values 0..7; m=3, n=2: left pad (3-1)//2 = 1 copy of frame 0; ceil(8/2) = 4 rows
    x = np.arange(8, dtype=np.float32)[:, None]
    out = apply_lfr(x, m=3, n=2)
    expected = np.array([[0, 0, 1], [1, 2, 3], [3, 4, 5], [5, 6, 7]], dtype=np.float32)
    np.testing.assert_array_equal(out, expected)
    # m=7, n=6 on 7 frames: pad 3 copies of frame 0; 2 rows; the second runs off the end -> last frame repeated
    x = np.arange(7, dtype=np.float32)[:, None]
    out = apply_lfr(x)
    np.testing.assert_array_equal(out, [[0, 0, 0, 0, 1, 2, 3], [3, 4, 5, 6, 6, 6, 6]])


@pytest.mark.parametrize("T", [1, 5, 6, 7, 13, 60, 61])
@pytest.mark.parametrize("m,n", [(7, 6), (1, 1), (5, 3), (4, 4)])
def test_matches_funasr_loop(T, m, n):
    x = np.random.default_rng(T).standard_normal((T, 4)).astype(np.float32)
    np.testing.assert_array_equal(apply_lfr(x, m, n), _funasr_style_loop(x, m, n))
    out_t = apply_lfr(torch.from_numpy(x), m, n)
    assert isinstance(out_t, torch.Tensor)
    np.testing.assert_array_equal(out_t.numpy(), _funasr_style_loop(x, m, n))


def test_empty_input():
    assert apply_lfr(np.zeros((0, 80), np.float32)).shape == (0, 560)


def test_batch_equals_per_utterance():
    rng = np.random.default_rng(0)
    lens = [37, 6, 12, 1]
    feats = torch.zeros(4, 37, 3)
    for b, n in enumerate(lens):
        feats[b, :n] = torch.from_numpy(rng.standard_normal((n, 3)).astype(np.float32))
        feats[b, n:] = 99.0  # padding must not leak in
    out, out_lens = apply_lfr_batch(feats, torch.tensor(lens))
    assert out.shape == (4, 7, 21)
    assert out_lens.tolist() == [7, 1, 2, 1]
    for b, n in enumerate(lens):
        ref = apply_lfr(feats[b, :n].numpy())
        np.testing.assert_array_equal(out[b, : out_lens[b]].numpy(), ref)
        assert (out[b, out_lens[b] :] == 0).all()
