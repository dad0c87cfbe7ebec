"""Fbank: equal to kaldi-native-fbank called directly, to an independent numpy implementation of Kaldi's recipe, and
a sine's energy lands in the mel bin whose centre is nearest its frequency."""

from __future__ import annotations

import numpy as np
import pytest

from asr.features.fbank import FbankConfig, compute_fbank, num_frames


def _mel(f):
    return 1127.0 * np.log(1.0 + np.asarray(f, dtype=np.float64) / 700.0)


def _numpy_kaldi_fbank(wave: np.ndarray, rate: int, bins: int, window: str) -> np.ndarray:
    """Kaldi fbank written out from the Kaldi docs (snip_edges, DC removal, pre-emphasis, window, |FFT|^2, mel)."""
    x = wave.astype(np.float64) * 32768.0
    length, shift = int(rate * 0.025), int(rate * 0.010)
    n = 1 + (len(x) - length) // shift
    frames = np.stack([x[i * shift : i * shift + length] for i in range(n)])
    frames = frames - frames.mean(axis=1, keepdims=True)
    frames[:, 1:] = frames[:, 1:] - 0.97 * frames[:, :-1]
    frames[:, 0] = frames[:, 0] - 0.97 * frames[:, 0]
    k = np.arange(length)
    hann = 0.5 - 0.5 * np.cos(2 * np.pi * k / (length - 1))
    win = 0.54 - 0.46 * np.cos(2 * np.pi * k / (length - 1)) if window == "hamming" else hann**0.85
    fft_len = 1 << (length - 1).bit_length()
    spec = np.abs(np.fft.rfft(frames * win, n=fft_len)) ** 2  # [n, fft_len/2+1]
    lo, hi = _mel(20.0), _mel(rate / 2)
    delta = (hi - lo) / (bins + 1)
    freqs = np.arange(fft_len // 2) * rate / fft_len
    m = _mel(freqs)
    banks = np.zeros((bins, fft_len // 2 + 1))
    for b in range(bins):
        left, centre, right = lo + b * delta, lo + (b + 1) * delta, lo + (b + 2) * delta
        up = (m - left) / (centre - left)
        down = (right - m) / (right - centre)
        w = np.where((m > left) & (m < right), np.where(m <= centre, up, down), 0.0)
        banks[b, : fft_len // 2] = w
    energies = spec @ banks.T
    return np.log(np.maximum(energies, np.finfo(np.float32).eps))


@pytest.mark.parametrize("window", ["hamming", "povey"])
def test_matches_numpy_kaldi_recipe(window):
    rng = np.random.default_rng(0)
    wave = (0.1 * rng.standard_normal(4000)).astype(np.float32)
    cfg = FbankConfig(window=window)
    ours = compute_fbank(wave, 16000, cfg, dither=0.0)
    ref = _numpy_kaldi_fbank(wave, 16000, 80, window)
    assert ours.shape == ref.shape == (num_frames(4000, cfg), 80)
    np.testing.assert_allclose(ours, ref, atol=2e-3, rtol=1e-4)


def test_equals_kaldi_native_fbank_directly():
    import kaldi_native_fbank as knf

    rng = np.random.default_rng(1)
    wave = (0.2 * rng.standard_normal(8000)).astype(np.float32)
    opts = knf.FbankOptions()
    opts.frame_opts.dither = 0.0
    opts.frame_opts.window_type = "hamming"
    opts.mel_opts.num_bins = 80
    opts.energy_floor = 0.0
    fb = knf.OnlineFbank(opts)
    fb.accept_waveform(16000, (wave * 32768).tolist())
    fb.input_finished()
    ref = np.stack([fb.get_frame(i) for i in range(fb.num_frames_ready)])
    np.testing.assert_array_equal(compute_fbank(wave, 16000), ref)


@pytest.mark.parametrize("freq", [300.0, 1000.0, 3000.0])
def test_sine_energy_peaks_in_nearest_mel_bin(freq):
    rate = 16000
    t = np.arange(rate) / rate
    wave = (0.5 * np.sin(2 * np.pi * freq * t)).astype(np.float32)
    feats = compute_fbank(wave, rate)
    lo, hi = _mel(20.0), _mel(rate / 2)
    centres = lo + (np.arange(80) + 1) * (hi - lo) / 81
    expected = int(np.argmin(np.abs(centres - _mel(freq))))
    peak = int(np.argmax(feats.mean(axis=0)))
    assert abs(peak - expected) <= 1
    # the peak stands far above the bins away from the tone
    assert feats.mean(axis=0)[peak] - np.median(feats.mean(axis=0)) > 8.0


def test_dither_only_when_asked_and_shapes():
    wave = np.zeros(16000, dtype=np.float32)
    a = compute_fbank(wave, 16000, dither=0.0)
    b = compute_fbank(wave, 16000, dither=0.0)
    np.testing.assert_array_equal(a, b)  # deterministic at inference
    c = compute_fbank(wave, 16000, dither=1.0)
    assert not np.array_equal(a, c)
    assert a.shape == (98, 80) and a.dtype == np.float32
    assert compute_fbank(np.zeros(100, np.float32), 16000).shape == (0, 80)


def test_wrong_rate_is_refused():
    with pytest.raises(ValueError, match="resample"):
        compute_fbank(np.zeros(8000, np.float32), 8000)
