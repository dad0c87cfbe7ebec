"""Waveform -> log mel filterbank: float32 samples in [-1, 1] -> float32 ``[T, num_mel_bins]`` Kaldi-compatible fbank.

The computation is kaldi-native-fbank's (a C++ port of Kaldi's ``compute-fbank-feats``): 25 ms Hamming (or Povey)
windows every 10 ms, DC removal, pre-emphasis 0.97, power spectrum, triangular mel filters on the Kaldi mel scale,
natural log. As in Kaldi and FunASR's ``WavFrontend`` the samples are scaled to the 16-bit range first, so that
``dither=1.0`` means one least-significant bit of 16-bit audio. Dither is for training only; inference uses 0.

Reference: Kaldi ``feat/feature-fbank.cc``; FunASR ``funasr/frontends/wav_frontend.py`` (window and scaling).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["FbankConfig", "compute_fbank", "num_frames"]


@dataclass
class FbankConfig:
    """Fbank options (YAML section ``fbank``).

    Attributes:
        sample_rate: Rate the model expects; audio at another rate is resampled when loaded.
        num_mel_bins: Mel filters (feature dimension).
        frame_length_ms: Window length.
        frame_shift_ms: Hop between frames.
        window: ``hamming`` (FunASR's Paraformer), ``povey`` (Kaldi's default), ``hanning`` ...
        dither: Dither used in training (16-bit units); :func:`compute_fbank` takes the value to use per call.
        snip_edges: Kaldi's ``--snip-edges``: only frames that fit entirely inside the signal.
        low_freq: Lowest mel filter edge in Hz.
        high_freq: Highest edge in Hz; ``<= 0`` means Nyquist plus this offset (Kaldi convention).
        scale_to_int16: Multiply ``[-1, 1]`` samples by 32768 before the fbank (Kaldi/FunASR convention).
    """

    sample_rate: int = 16000
    num_mel_bins: int = 80
    frame_length_ms: float = 25.0
    frame_shift_ms: float = 10.0
    window: str = "hamming"
    dither: float = 1.0
    snip_edges: bool = True
    low_freq: float = 20.0
    high_freq: float = 0.0
    scale_to_int16: bool = True

    @property
    def frame_shift_s(self) -> float:
        return self.frame_shift_ms / 1000.0


def num_frames(num_samples: int, config: FbankConfig) -> int:
    """Number of fbank frames for ``num_samples`` samples at ``config.sample_rate`` (Kaldi's ``NumFrames``)."""
    shift = int(config.sample_rate * config.frame_shift_ms / 1000)
    length = int(config.sample_rate * config.frame_length_ms / 1000)
    if config.snip_edges:
        return 0 if num_samples < length else 1 + (num_samples - length) // shift
    return (num_samples + shift // 2) // shift


def _options(config: FbankConfig, sample_rate: int, dither: float):
    import kaldi_native_fbank as knf

    opts = knf.FbankOptions()
    opts.frame_opts.samp_freq = float(sample_rate)
    opts.frame_opts.frame_length_ms = float(config.frame_length_ms)
    opts.frame_opts.frame_shift_ms = float(config.frame_shift_ms)
    opts.frame_opts.dither = float(dither)
    opts.frame_opts.window_type = config.window
    opts.frame_opts.snip_edges = bool(config.snip_edges)
    opts.mel_opts.num_bins = int(config.num_mel_bins)
    opts.mel_opts.low_freq = float(config.low_freq)
    opts.mel_opts.high_freq = float(config.high_freq)
    opts.energy_floor = 0.0
    return opts


def compute_fbank(
    wave: np.ndarray, sample_rate: int, config: FbankConfig | None = None, dither: float = 0.0
) -> np.ndarray:
    """Compute log mel filterbank features of one utterance.

    Args:
        wave: float32 ``[n]`` samples in ``[-1, 1]`` (mono).
        sample_rate: Rate of ``wave``; must equal ``config.sample_rate`` (resample with
            :func:`asr.data.audio.resample` first).
        config: Fbank options; default :class:`FbankConfig`.
        dither: Dither amount in 16-bit units (``config.dither`` in training, 0 at inference: deterministic).

    Returns:
        float32 ``[T, num_mel_bins]``; ``T`` is :func:`num_frames` (0 rows when the wave is shorter than a window).

    Raises:
        ValueError: ``sample_rate`` differs from ``config.sample_rate`` or ``wave`` is not 1-D.
    """
    import kaldi_native_fbank as knf

    config = config or FbankConfig()
    if sample_rate != config.sample_rate:
        raise ValueError(
            f"wave is at {sample_rate} Hz but the fbank config expects {config.sample_rate} Hz: "
            "resample it first (asr.data.audio.load_audio(spec, target_rate) does)"
        )
    wave = np.asarray(wave, dtype=np.float32)
    if wave.ndim != 1:
        raise ValueError(f"compute_fbank takes a 1-D mono wave, got shape {wave.shape}")
    if config.scale_to_int16:
        wave = wave * np.float32(32768.0)
    fbank = knf.OnlineFbank(_options(config, sample_rate, dither))
    fbank.accept_waveform(float(sample_rate), wave)
    fbank.input_finished()
    n = fbank.num_frames_ready
    if n == 0:
        return np.zeros((0, config.num_mel_bins), dtype=np.float32)
    if hasattr(fbank, "get_frames"):
        out = np.asarray(fbank.get_frames(list(range(n))), dtype=np.float32)
    else:
        out = np.stack([np.asarray(fbank.get_frame(i), dtype=np.float32) for i in range(n)])
    return out.reshape(n, config.num_mel_bins)
