"""SpecAugment: masks stay within their limits and inside each utterance, padding untouched, time warp keeps the
ends of the utterance and the values within range, seeds reproduce."""

from __future__ import annotations

import pytest
import torch

from asr.features.specaug import SpecAugConfig, mask_along_axis, spec_augment, time_warp


def _runs(mask_1d: torch.Tensor) -> list[int]:
    """Lengths of runs of True."""
    runs, n = [], 0
    for v in mask_1d.tolist() + [False]:
        if v:
            n += 1
        elif n:
            runs.append(n)
            n = 0
    return runs


def test_masks_within_limits():
    torch.manual_seed(0)
    lens = torch.tensor([100, 60, 7, 100])
    cfg = SpecAugConfig(num_freq_masks=2, freq_mask_width=10, num_time_masks=2, time_mask_width=12)
    for trial in range(50):
        x = torch.randn(4, 100, 40) + 10.0  # never exactly 0 before masking
        x[1, 60:] = 5.0
        x[2, 7:] = 5.0
        g = torch.Generator().manual_seed(trial)
        y = spec_augment(x, lens, cfg, generator=g)
        assert y.shape == x.shape
        for b, n in enumerate(lens.tolist()):
            masked = y[b, :n] == 0
            freq_cols = masked.all(dim=0)  # a column masked over the whole utterance
            time_rows = masked.all(dim=1)
            # every zero comes from a full-row or full-column mask
            assert torch.equal(masked, freq_cols[None, :] | time_rows[:, None])
            assert freq_cols.sum() <= 2 * 10
            assert all(r <= 2 * 10 for r in _runs(freq_cols))
            tmax = min(12, int(n * cfg.time_mask_max_ratio))
            if not freq_cols.all():
                assert time_rows.sum() <= 2 * tmax
            # padding unchanged
            assert torch.equal(y[b, n:], x[b, n:])


def test_masks_are_used_and_reproducible():
    x = torch.randn(8, 200, 80) + 10.0
    lens = torch.full((8,), 200)
    cfg = SpecAugConfig(num_freq_masks=1, freq_mask_width=30, num_time_masks=1, time_mask_width=40)
    a = spec_augment(x, lens, cfg, generator=torch.Generator().manual_seed(3))
    b = spec_augment(x, lens, cfg, generator=torch.Generator().manual_seed(3))
    assert torch.equal(a, b)
    assert (a == 0).any()
    assert not torch.equal(x, a)
    assert torch.equal(x, x.clone())  # input not modified in place


def test_zero_masks_is_identity():
    x = torch.randn(2, 10, 5)
    assert torch.equal(mask_along_axis(x, torch.tensor([10, 5]), 0, 3, 1), x)


def test_time_warp_keeps_ends_and_range():
    g = torch.Generator().manual_seed(0)
    t = torch.linspace(0, 1, 50)
    x = torch.stack([t, 1 - t], dim=1)[None].repeat(3, 1, 1)  # monotone ramps
    lens = torch.tensor([50, 50, 8])
    y = time_warp(x, lens, window=5, generator=g)
    assert y.shape == x.shape
    assert torch.equal(y[2], x[2])  # too short to warp
    for b in range(2):
        assert y[b, :, 0].min() >= 0 and y[b, :, 0].max() <= 1
        assert (y[b, 1:, 0] - y[b, :-1, 0] >= -1e-6).all()  # a warp keeps a ramp monotone
        assert abs(float(y[b, 0, 0])) < 0.05 and abs(float(y[b, -1, 0]) - 1.0) < 0.05


def test_lfr_aware_frequency_mask_hits_every_stacked_frame():
    x = torch.randn(6, 20, 7 * 10) + 10.0
    lens = torch.full((6,), 20)
    cfg = SpecAugConfig(num_freq_masks=1, freq_mask_width=4, num_time_masks=0)
    for seed in range(20):
        y = spec_augment(x, lens, cfg, generator=torch.Generator().manual_seed(seed), groups=7)
        cols = (y == 0).all(dim=1).reshape(6, 7, 10)  # [B, stacked frame, bin]
        assert torch.equal(cols, cols[:, :1].expand_as(cols))  # the same bins in all 7 frames
        assert int(cols[:, 0].sum(dim=1).max()) <= 4
    with pytest.raises(ValueError, match="multiple"):
        spec_augment(x, lens, cfg, groups=3)
