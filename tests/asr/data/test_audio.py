"""Audio loading (files, pipes, segments, ark entries, bad input) and the resampler against analytic sines and
against sox."""

from __future__ import annotations

import logging
import shutil
import subprocess

import numpy as np
import pytest
import soundfile as sf

from asr.data import audio as audio_mod
from asr.data.audio import AudioError, audio_duration, load_audio, resample

needs_espeak = pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng not installed")
needs_sox = pytest.mark.skipif(shutil.which("sox") is None, reason="sox not installed")


def _sine(freq, rate, seconds=1.0, amp=0.5):
    t = np.arange(int(rate * seconds)) / rate
    return (amp * np.sin(2 * np.pi * freq * t)).astype(np.float32)


@pytest.mark.parametrize(
    "src,dst", [(44100, 16000), (22050, 16000), (8000, 16000), (16000, 8000), (48000, 16000)]
)
def test_resample_sine_matches_analytic(src, dst):
    y = resample(_sine(1000, src), src, dst)
    assert len(y) == int(np.ceil(src * dst / src))
    ref = _sine(1000, dst)[: len(y)]
    edge = dst // 50  # the filter sees zeros beyond the ends
    assert np.max(np.abs(y[edge:-edge] - ref[edge:-edge])) < 1e-3


def test_resample_removes_what_the_new_rate_cannot_hold():
    y = resample(_sine(7000, 22050), 22050, 8000)  # 7 kHz is above 4 kHz Nyquist: must not alias to 1 kHz
    assert np.max(np.abs(y[200:-200])) < 1e-3


def test_resample_torch_and_identity():
    import torch

    x = _sine(440, 22050)
    out = resample(torch.from_numpy(x), 22050, 16000)
    np.testing.assert_allclose(out.numpy(), resample(x, 22050, 16000), atol=1e-6)
    assert resample(x, 16000, 16000) is x


@needs_sox
def test_resample_close_to_sox(tmp_path):
    rng = np.random.default_rng(0)
    x = (0.3 * _sine(300, 22050) + 0.2 * _sine(2500, 22050) + 0.01 * rng.standard_normal(22050)).astype(
        np.float32
    )
    sf.write(tmp_path / "in.wav", x, 22050, subtype="FLOAT")
    subprocess.run(["sox", str(tmp_path / "in.wav"), "-r", "16000", str(tmp_path / "out.wav")], check=True)
    ref, _ = sf.read(tmp_path / "out.wav", dtype="float32")
    ours = resample(x, 22050, 16000)
    n = min(len(ref), len(ours))
    err = ours[300 : n - 300] - ref[300 : n - 300]
    assert np.sqrt(np.mean(err**2)) < 0.02 * np.sqrt(np.mean(ref**2))


def test_load_file_segment_and_channels(tmp_path):
    x = _sine(500, 16000, 2.0)
    stereo = np.stack([x, -x], axis=1)
    sf.write(tmp_path / "a.flac", stereo, 16000)
    wave, rate = load_audio(str(tmp_path / "a.flac"), 16000)
    assert rate == 16000 and wave.dtype == np.float32 and len(wave) == 32000
    np.testing.assert_allclose(wave, x, atol=1e-4)  # channel 0
    seg, _ = load_audio(str(tmp_path / "a.flac"), 16000, start=0.5, end=1.0)
    np.testing.assert_allclose(seg, x[8000:16000], atol=1e-4)
    assert audio_duration(str(tmp_path / "a.flac")) == pytest.approx(2.0)


def test_wrong_rate_resampled_with_one_warning(tmp_path, caplog):
    audio_mod._warned.clear()
    for i in range(3):
        sf.write(tmp_path / f"{i}.wav", _sine(440, 8000), 8000)
    with caplog.at_level(logging.WARNING, logger="asr.data.audio"):
        for i in range(3):
            wave, rate = load_audio(str(tmp_path / f"{i}.wav"), 16000)
            assert rate == 16000 and len(wave) == 16000
    warnings = [r for r in caplog.records if "resampling" in r.getMessage()]
    assert len(warnings) == 1 and "8000 Hz" in warnings[0].getMessage()


@needs_sox
def test_pipe(tmp_path):
    sf.write(tmp_path / "a.wav", _sine(440, 22050), 22050)
    spec = f"sox {tmp_path / 'a.wav'} -t wav -r 16000 - |"
    wave, rate = load_audio(spec, 16000)
    assert rate == 16000 and abs(len(wave) - 16000) <= 1
    assert audio_duration(spec) is None
    seg, _ = load_audio(spec, 16000, start=0.25, end=0.5)
    assert len(seg) == 4000


def test_ark_entry(tmp_path):
    import kaldiio

    x = (_sine(300, 16000) * 32767).astype(np.int16)
    kaldiio.save_ark(str(tmp_path / "w.ark"), {"u1": (16000, x)}, scp=str(tmp_path / "w.scp"))
    spec = (tmp_path / "w.scp").read_text().split()[1]
    wave, rate = load_audio(spec, 16000)
    np.testing.assert_allclose(wave, x / 32768.0, atol=1e-6)


@needs_espeak
def test_real_speech_from_espeak(tmp_path):
    wav = tmp_path / "s.wav"
    subprocess.run(["espeak-ng", "-w", str(wav), "hello world"], check=True)
    wave, rate = load_audio(str(wav), 16000)
    assert rate == 16000 and 0.5 < len(wave) / rate < 3 and np.abs(wave).max() > 0.05


def test_bad_input_is_named(tmp_path):
    (tmp_path / "junk.wav").write_bytes(b"not audio at all")
    with pytest.raises(AudioError, match="junk.wav: cannot read audio"):
        load_audio(str(tmp_path / "junk.wav"))
    with pytest.raises(AudioError, match="cannot read audio"):
        load_audio(str(tmp_path / "missing.wav"))
    sf.write(tmp_path / "empty.wav", np.zeros(0, np.float32), 16000)
    with pytest.raises(AudioError, match="empty"):
        load_audio(str(tmp_path / "empty.wav"))
    with pytest.raises(AudioError, match="status 3"):
        load_audio("echo oops >&2; exit 3 |")
    with pytest.raises(AudioError, match="wrote nothing"):
        load_audio("true |")


def test_resample_in_chunks_equals_one_pass(monkeypatch):
    x = np.random.default_rng(0).standard_normal(44100).astype(np.float32)
    whole = resample(x, 44100, 16000)
    monkeypatch.setattr(audio_mod, "_CHUNK_OUTPUTS", 1000)
    np.testing.assert_allclose(resample(x, 44100, 16000), whole, atol=1e-6)
