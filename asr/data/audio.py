"""Audio input: a ``wav.scp`` value (a file path, a ``cmd ... |`` pipe writing audio to stdout, or a Kaldi
``file.ark:offset`` wave entry) plus an optional segment -> float32 mono samples in ``[-1, 1]`` at the model's rate.

Files are read with soundfile (any format libsndfile reads: WAV, FLAC, OGG...). Pipes run through ``/bin/sh`` as in
Kaldi, their stdout is decoded in memory. Multi-channel audio keeps channel 0 (Kaldi's default). Audio at another
rate is resampled with a windowed-sinc polyphase filter (Kaiser window, 16 zero crossings, 94.5 % of the lower
Nyquist) run as one strided ``conv1d`` - the classic bandlimited interpolation of Smith's "Digital Audio
Resampling" (CCRMA), in the form torchaudio's ``sinc_interp_kaiser`` uses; a warning is logged once per rate pair.

Reference: Kaldi ``util/kaldi-io`` (rxfilename pipes); J. O. Smith, "Digital Audio Resampling Home Page".
"""

from __future__ import annotations

import io
import logging
import math
import re
import subprocess
from fractions import Fraction

import numpy as np

from asr.errors import InputError

__all__ = ["AudioError", "load_audio", "resample", "audio_duration", "is_pipe"]

log = logging.getLogger(__name__)

_ARK_RE = re.compile(r"^(.+\.ark):(\d+)$")
_warned: set = set()
_CHUNK_OUTPUTS = 1 << 20  # output samples per conv1d call in resample()


class AudioError(InputError):
    """Audio that cannot be used: unreadable, empty, failing pipe. ``path`` is the ``wav.scp`` value."""

    def __init__(self, spec: str, message: str):
        super().__init__(spec, None, message)


def is_pipe(spec: str) -> bool:
    """True for a ``wav.scp`` value that is a shell command ending in ``|``."""
    return spec.rstrip().endswith("|")


def _warn_once(key, message: str) -> None:
    if key not in _warned:
        _warned.add(key)
        log.warning(message)


def _read_pipe(spec: str, timeout: float | None) -> bytes:
    cmd = spec.rstrip()[:-1]
    try:
        proc = subprocess.run(cmd, shell=True, capture_output=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise AudioError(spec, f"pipe did not finish in {timeout} s") from None
    if proc.returncode != 0:
        err = proc.stderr.decode("utf-8", "replace").strip().splitlines()
        tail = err[-1] if err else "no message"
        raise AudioError(spec, f"pipe exited with status {proc.returncode}: {tail}")
    if not proc.stdout:
        raise AudioError(spec, "pipe wrote nothing on stdout (it must write audio, e.g. sox ... -t wav - |)")
    return proc.stdout


def _decode(spec: str, start: float, end: float | None, pipe_timeout: float | None) -> tuple[np.ndarray, int]:
    import soundfile as sf

    m = _ARK_RE.match(spec)
    if m and not is_pipe(spec):
        import kaldiio

        try:
            rate, data = kaldiio.load_mat(spec)
        except Exception as e:  # kaldiio raises assorted errors on bad offsets
            raise AudioError(spec, f"cannot read the wave entry from the ark ({e})") from None
        data = np.asarray(data)
        wave = data.astype(np.float32) / 32768.0 if data.dtype.kind == "i" else data.astype(np.float32)
        first = int(round(start * rate))
        last = None if end is None or end < 0 else int(round(end * rate))
        return wave[first:last], int(rate)
    try:
        if is_pipe(spec):
            wave, rate = sf.read(io.BytesIO(_read_pipe(spec, pipe_timeout)), dtype="float32", always_2d=True)
            first = int(round(start * rate))
            last = None if end is None or end < 0 else int(round(end * rate))
            wave = wave[first:last]
        else:
            info = sf.info(spec)
            rate = info.samplerate
            first = int(round(start * rate))
            last = None if end is None or end < 0 else int(round(end * rate))
            wave, rate = sf.read(spec, start=first, stop=last, dtype="float32", always_2d=True)
    except AudioError:
        raise
    except (sf.LibsndfileError, RuntimeError, OSError, ValueError) as e:
        raise AudioError(spec, f"cannot read audio ({e})") from None
    if wave.shape[1] > 1:
        _warn_once(("channels", wave.shape[1]), f"{spec}: {wave.shape[1]}-channel audio, using channel 0")
    return np.ascontiguousarray(wave[:, 0]), int(rate)


def load_audio(
    spec: str,
    target_rate: int | None = 16000,
    start: float = 0.0,
    end: float | None = None,
    pipe_timeout: float | None = 600.0,
) -> tuple[np.ndarray, int]:
    """Read one recording (or a segment of it).

    Args:
        spec: ``wav.scp`` value: a path, ``cmd ... |``, or ``file.ark:offset``.
        target_rate: Resample to this rate (warning once per source rate); ``None`` keeps the file's rate.
        start: Segment start in seconds.
        end: Segment end in seconds; ``None`` or ``-1`` means the end of the recording.
        pipe_timeout: Seconds a pipe may run.

    Returns:
        ``(wave, rate)``: float32 ``[n]`` in ``[-1, 1]``, and the rate of ``wave`` (``target_rate`` when given).

    Raises:
        AudioError: the audio cannot be read, the pipe fails, or there are no samples.
    """
    wave, rate = _decode(spec, start, end, pipe_timeout)
    if wave.size == 0:
        what = f"segment {start}-{end} s is" if start or end not in (None, -1) else "audio is"
        raise AudioError(spec, f"{what} empty (0 samples)")
    if target_rate is not None and rate != target_rate:
        _warn_once(
            ("rate", rate, target_rate),
            f"{spec}: audio at {rate} Hz, resampling to {target_rate} Hz (and any other file at {rate} Hz; "
            "convert the data once with sox to save the time)",
        )
        wave = resample(wave, rate, target_rate)
        rate = target_rate
    return wave, rate


def audio_duration(spec: str) -> float | None:
    """Duration in seconds read from the file header, or ``None`` for pipes and ark entries (unknown without
    decoding).

    Raises:
        AudioError: the file cannot be opened as audio.
    """
    import soundfile as sf

    if is_pipe(spec) or _ARK_RE.match(spec):
        return None
    try:
        info = sf.info(spec)
    except (sf.LibsndfileError, RuntimeError, OSError) as e:
        raise AudioError(spec, f"cannot read audio ({e})") from None
    return info.frames / info.samplerate


def _sinc_kernels(orig: int, new: int, zeros: int, rolloff: float, beta: float):
    """Polyphase windowed-sinc kernels: float64 ``[new, 2 * width + orig]`` and ``width`` (input samples)."""
    import torch

    base = min(orig, new) * rolloff  # cutoff * 2, in units of the reduced rates
    width = math.ceil(zeros * orig / base)
    k = torch.arange(-width, width + orig, dtype=torch.float64)  # input offsets
    p = torch.arange(new, dtype=torch.float64)[:, None]  # output phases
    t = (p / new - k[None, :] / orig) * base  # distance in zero crossings of the lowpass sinc
    inside = t.abs() <= zeros
    ratio = (t / zeros).clamp(-1.0, 1.0)
    window = torch.special.i0(beta * torch.sqrt(1.0 - ratio * ratio)) / torch.special.i0(torch.tensor(beta))
    kern = torch.where(inside, torch.sinc(t) * window, torch.zeros_like(t)) * (base / orig)
    return kern, width


def resample(
    wave,
    orig_rate: int | float,
    new_rate: int | float,
    zeros: int = 16,
    rolloff: float = 0.945,
    beta: float = 8.6,
):
    """Bandlimited resampling by a rational factor.

    Args:
        wave: float ``[n]`` (numpy or torch) or ``[C, n]`` torch.
        orig_rate: Input rate (Hz; a float rate is reduced to a fraction with denominator <= 1000).
        new_rate: Output rate.
        zeros: Zero crossings of the sinc on each side (filter length / quality).
        rolloff: Passband edge as a fraction of the lower Nyquist frequency.
        beta: Kaiser window shape (8.6: about -90 dB side lobes).

    Returns:
        Same type as ``wave``, float32, ``ceil(n * new_rate / orig_rate)`` samples along the last axis.
    """
    import torch

    ratio = Fraction(new_rate) / Fraction(orig_rate)
    ratio = ratio.limit_denominator(1000) if ratio.denominator > 1000 else ratio
    new, orig = ratio.numerator, ratio.denominator
    is_numpy = isinstance(wave, np.ndarray)
    x = torch.as_tensor(np.asarray(wave, dtype=np.float32)) if is_numpy else wave.to(torch.float32)
    if new == orig:
        return wave.astype(np.float32, copy=False) if is_numpy else x
    squeeze = x.dim() == 1
    x = x.reshape(1, -1) if squeeze else x
    n = x.shape[-1]
    kern, width = _sinc_kernels(orig, new, zeros, rolloff, beta)
    kern = kern.to(device=x.device, dtype=torch.float32)[:, None, :]  # [new, 1, K]
    xp = torch.nn.functional.pad(x[:, None, :], (width, width + orig))  # [C, 1, n + K]
    ksize = kern.shape[-1]
    blocks = (xp.shape[-1] - ksize) // orig + 1
    step = max(1, _CHUNK_OUTPUTS // new)  # bound the conv's working memory on hour-long recordings
    parts = []
    for q0 in range(0, blocks, step):
        q1 = min(blocks, q0 + step)
        seg = xp[:, :, q0 * orig : (q1 - 1) * orig + ksize]
        parts.append(torch.nn.functional.conv1d(seg, kern, stride=orig))  # [C, new, q1 - q0]
    out = torch.cat(parts, dim=2)
    out = out.transpose(1, 2).reshape(x.shape[0], -1)[:, : -(-n * new // orig)]
    out = out[0] if squeeze else out
    return out.numpy() if is_numpy else out
