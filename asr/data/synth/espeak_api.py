"""espeak-ng through its C library (``libespeak-ng.so.1``) via ctypes: text -> int16 samples + word start events.

The command line ``espeak-ng -w`` writes audio only; the library's synchronous mode also reports, for every word, the
sample at which it starts (``espeakEVENT_WORD``), which is what reference CTMs need. One :class:`EspeakLibrary` per
process (the library keeps global state); :func:`get_library` makes it lazily, so worker processes of a pool each own
theirs. Reference: ``speak_lib.h`` of espeak-ng 1.51 (``espeak_Initialize``, ``espeak_SetSynthCallback``,
``espeak_Synth``, ``espeak_EVENT``).

Limitation found by testing: with an mbrola voice (``mb-us1``) the library reports only the first word event, so
callers estimate mbrola word times from the matching formant voice (see :mod:`asr.data.synth.engines`).
"""

from __future__ import annotations

import ctypes
import ctypes.util
from dataclasses import dataclass

import numpy as np

from asr.errors import CifstError

__all__ = ["EspeakLibrary", "EspeakResult", "get_library"]

_AUDIO_OUTPUT_SYNCHRONOUS = 2
_POS_CHARACTER = 1
_ESPEAK_CHARS_UTF8 = 1
_ESPEAK_ENDPAUSE = 0x1000  # the closing pause; without it the last phoneme is cut short (as the CLI does)
_EVENT_LIST_TERMINATED = 0
_EVENT_WORD = 1
_EVENT_END = 5
_EVENT_SAMPLERATE = 8
_PARAM_RATE = 1
_PARAM_PITCH = 3
_PARAM_RANGE = 4


class _EventId(ctypes.Union):
    _fields_ = [("number", ctypes.c_int), ("name", ctypes.c_char_p), ("string", ctypes.c_char * 8)]


class _Event(ctypes.Structure):
    _fields_ = [
        ("type", ctypes.c_int),
        ("unique_identifier", ctypes.c_uint),
        ("text_position", ctypes.c_int),
        ("length", ctypes.c_int),
        ("audio_position", ctypes.c_int),
        ("sample", ctypes.c_int),
        ("user_data", ctypes.c_void_p),
        ("id", _EventId),
    ]


_Callback = ctypes.CFUNCTYPE(
    ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.POINTER(_Event)
)


@dataclass
class EspeakResult:
    """One synthesized text.

    Attributes:
        audio: int16 [n] samples.
        sample_rate: Hz (22050 for formant voices, 16000 for mbrola voices).
        word_starts: ``(char_offset, length, start_seconds)`` per word event, in text order; ``char_offset`` is
            0-based into the UTF-8 text given to :meth:`EspeakLibrary.synth`.
        end_seconds: time of the end-of-text event (last sample of speech plus espeak's closing pause).
    """

    audio: np.ndarray
    sample_rate: int
    word_starts: list[tuple[int, int, float]]
    end_seconds: float


class EspeakLibrary:
    """A loaded ``libespeak-ng`` in synchronous mode (no sound card needed).

    Raises:
        CifstError: the library cannot be found or initialised (install the ``libespeak-ng1`` apt package).
    """

    def __init__(self) -> None:
        name = ctypes.util.find_library("espeak-ng") or "libespeak-ng.so.1"
        try:
            self._lib = ctypes.CDLL(name)
        except OSError as e:
            raise CifstError(
                f"cannot load libespeak-ng ({e}); install it with: apt-get install espeak-ng"
            ) from None
        self._lib.espeak_Synth.argtypes = [
            ctypes.c_char_p, ctypes.c_size_t, ctypes.c_uint, ctypes.c_int, ctypes.c_uint, ctypes.c_uint,
            ctypes.c_void_p, ctypes.c_void_p,
        ]  # fmt: skip
        self._lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
        rate = self._lib.espeak_Initialize(_AUDIO_OUTPUT_SYNCHRONOUS, 0, None, 0)
        if rate <= 0:
            raise CifstError("espeak_Initialize failed: espeak-ng-data not found (reinstall espeak-ng-data)")
        self._default_rate = rate
        self._chunks: list[np.ndarray] = []
        self._events: list[tuple[int, int, int, int, int]] = []
        self._callback = _Callback(self._on_audio)  # keep a reference: the library holds only the pointer
        self._lib.espeak_SetSynthCallback(self._callback)

    def _on_audio(self, wav, numsamples, events) -> int:
        if numsamples > 0 and wav:
            self._chunks.append(np.ctypeslib.as_array(wav, shape=(numsamples,)).copy())
        i = 0
        while events[i].type != _EVENT_LIST_TERMINATED:
            ev = events[i]
            number = ev.id.number if ev.type in (_EVENT_WORD, _EVENT_SAMPLERATE) else 0
            self._events.append((ev.type, ev.text_position, ev.length, ev.sample, number))
            i += 1
        return 0

    def synth(
        self, text: str, voice: str, rate_wpm: int = 175, pitch: int = 50, pitch_range: int = 50
    ) -> EspeakResult:
        """Speak ``text`` with ``voice`` (``en-us+f3``, ``mb-us1``...).

        Args:
            text: UTF-8 text, one utterance.
            voice: espeak-ng voice name, optionally ``+variant``.
            rate_wpm: speaking rate, words per minute (80..450).
            pitch: base pitch 0..99.
            pitch_range: pitch range 0..99 (0 = monotone).

        Raises:
            CifstError: unknown voice, or the synthesis returns an error code.
        """
        if self._lib.espeak_SetVoiceByName(voice.encode()) != 0:
            raise CifstError(f"espeak-ng has no voice '{voice}' (list them with: espeak-ng --voices=en)")
        self._lib.espeak_SetParameter(_PARAM_RATE, int(rate_wpm), 0)
        self._lib.espeak_SetParameter(_PARAM_PITCH, int(pitch), 0)
        self._lib.espeak_SetParameter(_PARAM_RANGE, int(pitch_range), 0)
        self._chunks, self._events = [], []
        data = text.encode("utf-8")
        flags = _ESPEAK_CHARS_UTF8 | _ESPEAK_ENDPAUSE
        err = self._lib.espeak_Synth(data, len(data) + 1, 0, _POS_CHARACTER, 0, flags, None, None)
        self._lib.espeak_Synchronize()
        if err != 0:
            raise CifstError(
                f"espeak_Synth failed with code {err} for voice '{voice}' and text {text[:60]!r}"
            )
        sample_rate = self._default_rate
        for kind, _, _, _, number in self._events:
            if kind == _EVENT_SAMPLERATE and number > 0:
                sample_rate = number
        audio = np.concatenate(self._chunks) if self._chunks else np.zeros(0, np.int16)
        # text_position is 1-based in characters; convert to a 0-based offset in the str
        words = [(pos - 1, length, sample / sample_rate) for kind, pos, length, sample, _ in self._events
                 if kind == _EVENT_WORD]  # fmt: skip
        ends = [sample / sample_rate for kind, _, _, sample, _ in self._events if kind == _EVENT_END]
        end = ends[-1] if ends else len(audio) / sample_rate
        return EspeakResult(audio=audio, sample_rate=sample_rate, word_starts=words, end_seconds=end)


_LIBRARY: EspeakLibrary | None = None


def get_library() -> EspeakLibrary:
    """The process's :class:`EspeakLibrary`, created on first use."""
    global _LIBRARY
    if _LIBRARY is None:
        _LIBRARY = EspeakLibrary()
    return _LIBRARY
