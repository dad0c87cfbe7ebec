"""sox augmentation: each effect checked by what it must do to the audio (duration, band, SNR, level)."""

from __future__ import annotations

import random
import shutil

import numpy as np
import pytest
import soundfile

from asr.data.synth.augment import Augmentation, choose_augmentation, render_wav

pytestmark = pytest.mark.skipif(shutil.which("sox") is None, reason="sox not installed")

RATE = 22050


def _signal(seconds: float = 1.0) -> np.ndarray:
    """Harmonics of 150 Hz up to 7 kHz (speech-like band), float32."""
    t = np.arange(int(RATE * seconds)) / RATE
    x = sum(np.sin(2 * np.pi * f * t) / (1 + k) for k, f in enumerate(range(150, 7000, 150)))
    return (0.5 * x / np.max(np.abs(x))).astype(np.float32)


def _band_energy(x: np.ndarray, rate: int, lo: float, hi: float) -> float:
    spec = np.abs(np.fft.rfft(x)) ** 2
    freqs = np.fft.rfftfreq(len(x), 1 / rate)
    return float(spec[(freqs >= lo) & (freqs < hi)].sum())


def test_clean_is_16k_mono_pcm16_at_a_safe_level(tmp_path):
    out = tmp_path / "a.wav"
    dur = render_wav(_signal(), RATE, out, Augmentation(), seed=1)
    info = soundfile.info(str(out))
    assert (info.samplerate, info.channels, info.subtype) == (16000, 1, "PCM_16")
    assert dur == pytest.approx(1.0, abs=0.01)
    y, _ = soundfile.read(out)
    assert 10 ** (-6.1 / 20) <= np.max(np.abs(y)) <= 10 ** (-0.9 / 20)  # peak normalized to -1..-6 dBFS


@pytest.mark.parametrize("factor", [0.9, 1.1])
def test_speed_changes_duration_and_time_scale(tmp_path, factor):
    aug = Augmentation("speed", factor)
    dur = render_wav(_signal(2.0), RATE, tmp_path / "s.wav", aug, seed=1)
    assert dur == pytest.approx(2.0 / factor, abs=0.01)
    assert aug.time_scale == pytest.approx(1 / factor)


def test_telephone_removes_the_band_above_3400_hz(tmp_path):
    render_wav(_signal(), RATE, tmp_path / "clean.wav", Augmentation(), seed=1)
    render_wav(_signal(), RATE, tmp_path / "tel.wav", Augmentation("telephone"), seed=1)
    clean, _ = soundfile.read(tmp_path / "clean.wav")
    tel, _ = soundfile.read(tmp_path / "tel.wav")
    ratio_clean = _band_energy(clean, 16000, 4000, 8000) / _band_energy(clean, 16000, 300, 3400)
    ratio_tel = _band_energy(tel, 16000, 4000, 8000) / _band_energy(tel, 16000, 300, 3400)
    assert ratio_tel < 1e-3 * ratio_clean


@pytest.mark.parametrize("snr", [5.0, 20.0])
def test_noise_is_added_at_the_drawn_snr(tmp_path, snr):
    render_wav(_signal(2.0), RATE, tmp_path / "clean.wav", Augmentation(), seed=3)
    render_wav(_signal(2.0), RATE, tmp_path / "noisy.wav", Augmentation("noise", snr), seed=3)
    clean, _ = soundfile.read(tmp_path / "clean.wav")
    noisy, _ = soundfile.read(tmp_path / "noisy.wav")
    noise = (
        noisy - clean
    )  # same seed: same level, so the difference is the noise (no clipping at these levels)
    measured = 10 * np.log10(np.mean(clean**2) / np.mean(noise**2))
    assert measured == pytest.approx(snr, abs=0.5)


def test_reverb_adds_a_tail(tmp_path):
    x = np.concatenate([_signal(0.5), np.zeros(RATE // 2, np.float32)])
    render_wav(x, RATE, tmp_path / "dry.wav", Augmentation(), seed=1)
    render_wav(x, RATE, tmp_path / "wet.wav", Augmentation("reverb", 80), seed=1)
    dry, _ = soundfile.read(tmp_path / "dry.wav")
    wet, _ = soundfile.read(tmp_path / "wet.wav")
    tail = slice(int(0.55 * 16000), int(0.75 * 16000))
    assert np.sqrt(np.mean(wet[tail] ** 2)) > 30 * (np.sqrt(np.mean(dry[tail] ** 2)) + 1e-6)


def test_choice_respects_probability():
    rng = random.Random(0)
    draws = [choose_augmentation(rng, 0.3) for _ in range(2000)]
    share = np.mean([d.kind != "clean" for d in draws])
    assert share == pytest.approx(0.3, abs=0.04)
    assert {d.kind for d in draws} == {"clean", "speed", "noise", "reverb", "telephone"}
    assert all(5 <= d.value <= 25 for d in draws if d.kind == "noise")
