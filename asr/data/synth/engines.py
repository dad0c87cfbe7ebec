"""One voice + one sentence -> float32 audio and per-word (start, end) times, for every engine of
:mod:`asr.data.synth.voices`.

espeak-ng formant voices are driven through the C library (:mod:`asr.data.synth.espeak_api`), which reports the
sample where each word starts: those times are measured. The other engines give no word times (mbrola through
espeak-ng reports only its first word; flite, festival and pico2wave report none), so their times are a *forced
estimate*: the same text is spoken by the espeak-ng voice of the matching accent, its word starts are mapped linearly
from its speech span onto the target audio's speech span (found by frame energy), and every word's edges are then
pulled in to the nearest voiced frames. Mbrola reuses espeak-ng's own phoneme durations, so its estimate is close; for
flite/festival/pico it is a proportional estimate whose error grows with differences in rhythm (see
``docs/architecture/recipes.md``).
"""

from __future__ import annotations

import os
import subprocess
import tempfile
from dataclasses import dataclass

import numpy as np

from asr.data.synth.espeak_api import get_library
from asr.data.synth.voices import Voice
from asr.errors import CifstError

__all__ = [
    "Synthesis",
    "synthesize",
    "speech_span",
    "refine_word_times",
    "word_offsets",
    "align_word_events",
    "estimate_word_times",
]

_FRAME = 0.01  # seconds per energy frame
_SILENCE_DB = 35.0  # a frame more than this below the utterance's loudest frame is silence


@dataclass
class Synthesis:
    """Audio of one sentence.

    Attributes:
        audio: float32 [n] in [-1, 1].
        sample_rate: Hz.
        word_times: ``(start, end)`` seconds per transcript word, in order.
        timing: ``measured`` (espeak-ng word events) or ``estimated`` (forced estimate, see module doc).
    """

    audio: np.ndarray
    sample_rate: int
    word_times: list[tuple[float, float]]
    timing: str


def _frame_db(audio: np.ndarray, rate: int) -> np.ndarray:
    """Frame energies in dB relative to the loudest frame: float64 [frames]."""
    hop = max(1, int(rate * _FRAME))
    n = len(audio) // hop
    if n == 0:
        return np.zeros(0)
    frames = audio[: n * hop].astype(np.float64).reshape(n, hop)
    energy = 10 * np.log10(np.mean(frames**2, axis=1) + 1e-12)
    return energy - energy.max()


def speech_span(audio: np.ndarray, rate: int) -> tuple[float, float]:
    """Start and end (seconds) of the part of ``audio`` louder than the silence threshold."""
    db = _frame_db(audio, rate)
    voiced = np.flatnonzero(db > -_SILENCE_DB)
    if len(voiced) == 0:
        return 0.0, len(audio) / rate
    return voiced[0] * _FRAME, (voiced[-1] + 1) * _FRAME


def refine_word_times(
    starts: list[float], end: float, audio: np.ndarray, rate: int
) -> list[tuple[float, float]]:
    """Turn word start times into (start, end) pairs: each word runs to the next word's start (the last to
    ``end``), then both edges move inwards past silent frames (a pause after a comma is not part of the word).

    Args:
        starts: word start times, seconds, non-decreasing.
        end: end of the last word, seconds.
        audio: float32 [n] the times refer to.
        rate: its sample rate.
    """
    db = _frame_db(audio, rate)
    voiced = db > -_SILENCE_DB
    out: list[tuple[float, float]] = []
    bounds = list(starts) + [end]
    for i in range(len(starts)):
        s, e = bounds[i], max(bounds[i + 1], bounds[i])
        fs, fe = int(round(s / _FRAME)), int(round(e / _FRAME))
        fs, fe = max(0, min(fs, len(voiced))), max(0, min(fe, len(voiced)))
        seg = np.flatnonzero(voiced[fs:fe])
        if len(seg):
            s2, e2 = (fs + seg[0]) * _FRAME, (fs + seg[-1] + 1) * _FRAME
            out.append((round(float(s2), 3), round(float(max(e2, s2 + _FRAME)), 3)))
        else:
            out.append((round(float(s), 3), round(float(max(e, s + _FRAME)), 3)))
    return out


def word_offsets(spoken: str, n_words: int) -> list[int]:
    """0-based character offset of each transcript word in ``spoken`` (words are its space-separated parts)."""
    offsets, pos = [], 0
    for part in spoken.split(" "):
        if part:
            offsets.append(pos)
        pos += len(part) + 1
    if len(offsets) != n_words:
        raise CifstError(f"spoken text has {len(offsets)} words, transcript {n_words}: {spoken!r}")
    return offsets


def align_word_events(events: list[tuple[int, int, float]], offsets: list[int], text_len: int,
                      end: float) -> list[float]:  # fmt: skip
    """Start time of each word from espeak-ng word events, which need not be one per word (``don't`` may give two
    events, a contraction may give none).

    Args:
        events: ``(char_offset, length, seconds)`` per event.
        offsets: 0-based character offset of each word.
        text_len: length of the text.
        end: end of speech, seconds (bounds interpolation for trailing words without events).

    Returns:
        One start time per word: the earliest event inside the word's span, and for a word with none, a time
        interpolated by character position between its neighbours.
    """
    n = len(offsets)
    starts: list[float | None] = [None] * n
    import bisect

    for off, _, t in events:
        # espeak-ng's positions drift by a character after a sentence end: take the word starting nearest to the
        # event, and drop events more than two characters from any word start (the second event of "don't").
        j = bisect.bisect_left(offsets, off)
        cands = [k for k in (j - 1, j) if 0 <= k < n]
        k = min(cands, key=lambda k: abs(offsets[k] - off))
        if abs(offsets[k] - off) <= 2:
            starts[k] = t if starts[k] is None else min(starts[k], t)
    known = [(offsets[i], starts[i]) for i in range(n) if starts[i] is not None]
    if not known:
        known = [(0, 0.0)]
    known_x = [k[0] for k in known] + [text_len]
    known_t = [k[1] for k in known] + [end]

    out: list[float] = []
    for i in range(n):
        if starts[i] is not None:
            out.append(float(starts[i]))
            continue
        j = bisect.bisect_right(known_x, offsets[i])
        x0, t0 = (known_x[j - 1], known_t[j - 1]) if j > 0 else (0, 0.0)
        x1, t1 = known_x[min(j, len(known_x) - 1)], known_t[min(j, len(known_t) - 1)]
        frac = 0.0 if x1 == x0 else (offsets[i] - x0) / (x1 - x0)
        out.append(float(t0 + frac * (t1 - t0)))
    for i in range(1, n):  # keep starts non-decreasing
        out[i] = max(out[i], out[i - 1])
    return out


def _reference_accent(voice: Voice) -> str:
    if voice.engine == "espeak":
        return voice.name.split("+")[0]
    if voice.name.startswith("cmn") or voice.identity.startswith("cn"):
        return "cmn-latn-pinyin"
    if voice.name in ("mb-en1", "en-GB", "rab_diphone"):
        return "en"
    return "en-us"


def estimate_word_times(
    voice: Voice, spoken: str, n_words: int, audio: np.ndarray, rate: int, wpm: float
) -> list[tuple[float, float]]:
    """Forced estimate of word times on ``audio`` (float32 [n] at ``rate``) from the espeak-ng voice of the accent
    ``voice`` speaks (see the module doc); ``wpm`` is the reference voice's rate. Returns ``(start, end)`` seconds per
    word."""
    ref = get_library().synth(spoken, _reference_accent(voice), rate_wpm=int(wpm))
    ref_audio = ref.audio.astype(np.float32) / 32768
    r0, r1 = speech_span(ref_audio, ref.sample_rate)
    starts = align_word_events(ref.word_starts, word_offsets(spoken, n_words), len(spoken), r1)
    t0, t1 = speech_span(audio, rate)
    scale = (t1 - t0) / max(r1 - r0, 1e-3)
    mapped = [t0 + (max(s, r0) - r0) * scale for s in starts]
    return refine_word_times(mapped, t1, audio, rate)


def _run(cmd: list[str], stdin: str | None = None) -> None:
    proc = subprocess.run(cmd, input=stdin, capture_output=True, text=True, timeout=120)
    if proc.returncode != 0:
        raise CifstError(f"{cmd[0]} failed (exit {proc.returncode}): {proc.stderr.strip()[-300:]}")


def _read_wav(path: str) -> tuple[np.ndarray, int]:
    import soundfile

    audio, rate = soundfile.read(path, dtype="float32", always_2d=True)
    return audio.mean(axis=1), int(rate)


def _external(voice: Voice, spoken: str, rate_factor: float) -> tuple[np.ndarray, int]:
    """Run flite / festival / pico2wave into a temporary wav and read it back."""
    fd, path = tempfile.mkstemp(suffix=".wav")
    os.close(fd)
    try:
        if voice.engine == "flite":
            _run(["flite", "-voice", voice.name, "--setf", f"duration_stretch={rate_factor:.3f}", "-t", spoken,
                  "-o", path])  # fmt: skip
        elif voice.engine == "pico":
            _run(["pico2wave", "-l", voice.name, "-w", path, spoken])
        elif voice.engine == "festival":
            script = f"(voice_{voice.name}) (Parameter.set 'Duration_Stretch {rate_factor:.3f})"
            _run(["text2wave", "-eval", script, "-o", path], stdin=spoken)
        else:
            raise CifstError(f"unknown engine '{voice.engine}' for voice {voice.name}")
        return _read_wav(path)
    finally:
        os.unlink(path)


def synthesize(voice: Voice, spoken: str, n_words: int, rate_jitter: float = 1.0) -> Synthesis:
    """Speak one sentence.

    Args:
        voice: the speaker.
        spoken: the text to read (normalized words with commas and a final mark).
        n_words: number of transcript words in ``spoken`` (word times are returned for these).
        rate_jitter: speaking-rate factor for this utterance (1.1 = 10% faster).

    Returns:
        The audio at the engine's own sample rate, with word times.

    Raises:
        CifstError: the engine failed, or espeak-ng's word events do not match the words.
    """
    wpm = voice.rate * rate_jitter if voice.engine in ("espeak", "mbrola") else 175.0 * rate_jitter
    if voice.engine in ("espeak", "mbrola"):
        res = get_library().synth(spoken, voice.name, rate_wpm=int(wpm), pitch=voice.pitch)
        audio = res.audio.astype(np.float32) / 32768
        if len(audio) == 0:
            raise CifstError(f"espeak-ng voice {voice.name} produced no audio for {spoken!r}")
        if voice.engine == "espeak":
            _, end = speech_span(audio, res.sample_rate)
            starts = align_word_events(res.word_starts, word_offsets(spoken, n_words), len(spoken), end)
            return Synthesis(audio, res.sample_rate, refine_word_times(starts, end, audio, res.sample_rate),
                             "measured")  # fmt: skip
        times = estimate_word_times(voice, spoken, n_words, audio, res.sample_rate, wpm)
        return Synthesis(audio, res.sample_rate, times, "estimated")
    audio, rate = _external(voice, spoken, 1.0 / rate_jitter)
    if len(audio) == 0:
        raise CifstError(f"{voice.engine} voice {voice.name} produced no audio for {spoken!r}")
    return Synthesis(audio, rate, estimate_word_times(voice, spoken, n_words, audio, rate, wpm), "estimated")
