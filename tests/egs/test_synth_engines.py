"""Synthesis with word times: the ctypes binding against the espeak-ng command line, word-event alignment by hand,
and word times against the audio's own silences."""

from __future__ import annotations

import io
import shutil
import subprocess

import numpy as np
import pytest

from asr.data.synth.engines import align_word_events, refine_word_times, speech_span, synthesize, word_offsets
from asr.data.synth.voices import Voice

needs_espeak = pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng not installed")


def test_word_offsets():
    assert word_offsets("well, i don't know.", 4) == [0, 6, 8, 14]


def test_align_word_events_tolerates_drift_after_a_sentence_end():
    # "apple. banana. cherry." starts at 0, 7, 15; espeak-ng reported 0, 6 and 14
    assert align_word_events([(0, 5, 0.0), (6, 6, 0.3), (14, 1, 0.67)], [0, 7, 15], 22, 1.4) == [
        0.0,
        0.3,
        0.67,
    ]


def test_align_word_events_extra_and_missing_events():
    offsets = [0, 6, 8, 14]  # "well, i don't know."
    # "don't" gives two events (8 and 11); "i" gives none
    events = [(0, 4, 0.0), (8, 3, 0.5), (11, 2, 0.6), (14, 4, 0.9)]
    starts = align_word_events(events, offsets, 19, end=1.2)
    assert starts[0] == 0.0 and starts[2] == 0.5 and starts[3] == 0.9
    assert 0.0 < starts[1] < 0.5  # interpolated by character position
    assert starts[1] == pytest.approx(0.0 + (6 - 0) / (8 - 0) * 0.5)


def test_refine_moves_word_edges_off_silence():
    rate = 16000
    audio = np.zeros(rate, dtype=np.float32)
    t = np.arange(int(0.2 * rate)) / rate
    audio[int(0.1 * rate) : int(0.3 * rate)] = 0.5 * np.sin(2 * np.pi * 200 * t)
    audio[int(0.6 * rate) : int(0.8 * rate)] = 0.5 * np.sin(2 * np.pi * 300 * t)
    assert speech_span(audio, rate) == pytest.approx((0.1, 0.8), abs=0.011)
    times = refine_word_times([0.0, 0.45], 1.0, audio, rate)
    assert times[0] == pytest.approx((0.1, 0.3), abs=0.011)
    assert times[1] == pytest.approx((0.6, 0.8), abs=0.011)


@needs_espeak
def test_library_audio_equals_command_line():
    """Our ctypes binding must produce the very samples `espeak-ng --stdout` does for the same voice and settings."""
    import soundfile

    text = "the quick brown fox jumps over the lazy dog."
    syn = synthesize(Voice("espeak", "en-us+f3", "espeak-f3", pitch=50, rate=175), text, 9)
    cli = subprocess.run(["espeak-ng", "-v", "en-us+f3", "-s", "175", "-p", "50", "--stdout", text],
                         capture_output=True, check=True).stdout  # fmt: skip
    ref, rate = soundfile.read(io.BytesIO(cli), dtype="float32")
    assert rate == syn.sample_rate == 22050
    n = min(len(ref), len(syn.audio))
    assert abs(len(ref) - len(syn.audio)) < 0.05 * rate
    assert np.corrcoef(ref[:n], syn.audio[:n])[0, 1] > 0.99


@needs_espeak
def test_espeak_word_times_match_isolated_words():
    """Words separated by commas: each measured interval must hold speech and the pauses between must not."""
    text = "apple, banana, cherry."
    syn = synthesize(Voice("espeak", "en-us+m1", "espeak-m1", rate=160), text, 3)
    assert syn.timing == "measured"
    audio, rate = syn.audio, syn.sample_rate
    starts = [s for s, _ in syn.word_times]
    assert starts == sorted(starts)
    for (s, e), (s2, _) in zip(syn.word_times, syn.word_times[1:]):
        assert e <= s2 + 1e-6
        gap = audio[int(e * rate) + int(0.03 * rate) : int(s2 * rate) - int(0.03 * rate)]
        word = audio[int(s * rate) : int(e * rate)]
        assert len(gap) > 0.1 * rate  # the comma gives a pause
        assert np.sqrt(np.mean(gap**2)) < 0.05 * np.sqrt(np.mean(word**2))
    assert syn.word_times[-1][1] <= len(audio) / rate + 1e-6


@pytest.mark.skipif(shutil.which("flite") is None, reason="flite not installed")
def test_estimated_times_cover_the_speech_of_another_engine():
    syn = synthesize(Voice("flite", "slt", "slt"), "apple, banana, cherry.", 3)
    assert syn.timing == "estimated"
    lo, hi = speech_span(syn.audio, syn.sample_rate)
    assert syn.word_times[0][0] == pytest.approx(lo, abs=0.02)
    assert syn.word_times[-1][1] == pytest.approx(hi, abs=0.02)
    assert all(e > s for s, e in syn.word_times)


@needs_espeak
def test_forced_estimate_is_close_to_measured_times():
    """The estimate other engines get, checked where the truth is known: audio of an espeak-ng voice with another
    accent and rate (measured times) against the estimate mapped from the en-us voice."""
    from asr.data.synth.engines import estimate_word_times

    sentences = [
        "the quick brown fox jumps over the lazy dog.",
        "well, i don't know what you mean by that.",
        "a gift of a flower will soon be made to you.",
        "all the troubles you have will pass away very quickly.",
        "necessity is the mother of invention.",
        "he that is giddy thinks the world turns round.",
    ]
    errors = []
    for text in sentences:
        n = len(text.split())
        target = synthesize(Voice("espeak", "en-gb-scotland+m3", "x", pitch=45, rate=150), text, n)
        est = estimate_word_times(
            Voice("flite", "slt", "slt"), text, n, target.audio, target.sample_rate, 175
        )
        errors += [(abs(a0 - b0) + abs(a1 - b1)) / 2 for (a0, a1), (b0, b1) in zip(target.word_times, est)]
    assert np.mean(errors) < 0.06  # measured 32 ms over 100 fortune sentences (docs/benchmarks/recipes.md)
    assert np.mean(np.array(errors) < 0.1) > 0.85
