"""Frontend (LFR + CMVN + SpecAugment in training) and speed perturbation (against sox's speed effect)."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
import torch

from asr.features import Frontend, FrontendConfig, GlobalCmvn, apply_lfr
from asr.features.speed import speed_perturb, speed_perturb_sox


def _batch():
    rng = np.random.default_rng(0)
    lens = [50, 23]
    feats = torch.zeros(2, 50, 80)
    for b, n in enumerate(lens):
        feats[b, :n] = torch.from_numpy(rng.standard_normal((n, 80)).astype(np.float32) * 3 + 1)
    return feats, torch.tensor(lens)


def test_eval_mode_is_lfr_then_cmvn():
    feats, lens = _batch()
    stacked = [apply_lfr(feats[b, :n].numpy()) for b, n in enumerate(lens.tolist())]
    cmvn = GlobalCmvn.compute(stacked, progress=False)
    fe = Frontend(FrontendConfig(), cmvn).eval()
    x, x_lens = fe(feats, lens)
    assert x.shape == (2, 9, 560) and x_lens.tolist() == [9, 4]
    for b in range(2):
        np.testing.assert_allclose(x[b, : x_lens[b]].numpy(), cmvn.apply(stacked[b]), rtol=1e-5, atol=1e-5)
    assert (x[1, 4:] == 0).all()
    # CMVN buffers travel in the state dict
    fe2 = Frontend(FrontendConfig())
    fe2.load_state_dict(fe.state_dict())
    assert torch.equal(fe2.eval()(feats, lens)[0], x)


def test_training_mode_augments_only_when_configured():
    feats, lens = _batch()
    fe = Frontend(FrontendConfig()).train()
    x, _ = fe(feats, lens, generator=torch.Generator().manual_seed(0))
    y, _ = fe.eval()(feats, lens)
    assert not torch.equal(x, y)
    fe = Frontend(FrontendConfig(specaug=None)).train()
    assert torch.equal(fe(feats, lens)[0], y)


def test_cmvn_dim_mismatch_is_explained():
    with pytest.raises(ValueError, match="recompute"):
        Frontend(FrontendConfig(), GlobalCmvn.identity(80))


def _dominant_freq(x: np.ndarray, rate: int) -> float:
    spec = np.abs(np.fft.rfft(x * np.hanning(len(x))))
    return float(np.argmax(spec) * rate / len(x))


@pytest.mark.parametrize("factor", [0.9, 1.1])
def test_speed_changes_length_and_pitch(factor):
    rate = 16000
    t = np.arange(rate) / rate
    wave = (0.5 * np.sin(2 * np.pi * 500 * t)).astype(np.float32)
    out = speed_perturb(wave, factor)
    assert len(out) == int(np.ceil(rate / factor))
    assert abs(_dominant_freq(out, rate) - 500 * factor) < 3
    assert speed_perturb(wave, 1.0) is wave


@pytest.mark.skipif(shutil.which("sox") is None, reason="sox not installed")
@pytest.mark.parametrize("factor", [0.9, 1.1])
def test_speed_matches_sox(factor):
    rate = 16000
    t = np.arange(rate) / rate
    wave = (0.3 * np.sin(2 * np.pi * 440 * t) + 0.2 * np.sin(2 * np.pi * 1234 * t)).astype(np.float32)
    ours = speed_perturb(wave, factor)
    ref = speed_perturb_sox(wave, rate, factor)
    n = min(len(ours), len(ref))
    assert abs(len(ours) - len(ref)) <= 2
    err = ours[400 : n - 400] - ref[400 : n - 400]
    assert np.sqrt(np.mean(err**2)) < 0.01 * np.sqrt(np.mean(ref**2)) + 1e-3
