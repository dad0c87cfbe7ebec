"""Audio augmentation with sox: float32 audio at any rate -> 16 kHz mono 16-bit wav, optionally changed by one
effect: speed perturbation (``speed``, as Kaldi's ``perturb_data_dir_speed.sh``), additive noise at a random SNR,
room reverberation (``reverb``), or a telephone channel (300-3400 Hz band, 8 kHz, mu-law, back to 16 kHz).

Returns the factor by which times stretch (``1/speed``) so that word times stay true.
Reference: sox(1) effects manual; Ko et al., "Audio augmentation for speech recognition" (Interspeech 2015).
"""

from __future__ import annotations

import os
import random
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from asr.errors import CifstError

__all__ = ["AUGMENTATIONS", "Augmentation", "choose_augmentation", "render_wav"]

AUGMENTATIONS = ("speed", "noise", "reverb", "telephone")


@dataclass(frozen=True)
class Augmentation:
    """One effect with its drawn parameter.

    Attributes:
        kind: ``clean`` or one of :data:`AUGMENTATIONS`.
        value: speed factor, SNR in dB, reverberance 0..100, or 0 for telephone/clean.
    """

    kind: str = "clean"
    value: float = 0.0

    @property
    def label(self) -> str:
        """Short description for ``utt2aug`` (``speed1.1``, ``noise12``, ``reverb60``, ``telephone``)."""
        if self.kind in ("clean", "telephone"):
            return self.kind
        return f"{self.kind}{self.value:g}"

    @property
    def time_scale(self) -> float:
        """Factor applied to times by the effect."""
        return 1.0 / self.value if self.kind == "speed" else 1.0


def choose_augmentation(rng: random.Random, probability: float) -> Augmentation:
    """Draw ``clean`` with probability ``1 - probability``, else one effect uniformly with a random parameter."""
    if rng.random() >= probability:
        return Augmentation()
    kind = rng.choice(AUGMENTATIONS)
    if kind == "speed":
        return Augmentation(kind, rng.choice((0.9, 1.1)))
    if kind == "noise":
        return Augmentation(kind, float(rng.randint(5, 25)))
    if kind == "reverb":
        return Augmentation(kind, float(rng.randint(30, 80)))
    return Augmentation(kind, 0.0)


def _effects(aug: Augmentation, gain_db: float) -> list[str]:
    if aug.kind == "speed":
        return ["speed", f"{aug.value:g}", "rate", "-h", "16000", "gain", "-n", f"{-gain_db:.1f}"]
    if aug.kind == "reverb":
        return [
            "reverb",
            f"{aug.value:g}",
            "50",
            "80",
            "rate",
            "-h",
            "16000",
            "gain",
            "-n",
            f"{-gain_db:.1f}",
        ]
    if aug.kind == "telephone":
        return ["sinc", "300-3400", "rate", "8000", "gain", "-n", f"{-gain_db:.1f}", "rate", "16000"]
    return ["rate", "-h", "16000", "gain", "-n", f"{-gain_db:.1f}"]


def render_wav(audio: np.ndarray, rate: int, out_path: str | Path, aug: Augmentation, seed: int) -> float:
    """Write ``audio`` as 16 kHz mono 16-bit PCM wav at ``out_path`` (atomically) with ``aug`` applied.

    Args:
        audio: float32 [n] in [-1, 1].
        rate: its sample rate.
        out_path: destination ``.wav``.
        aug: the effect.
        seed: seeds the peak level (-1..-6 dBFS) and the noise.

    Returns:
        Duration of the written file in seconds.

    Raises:
        CifstError: sox fails.
    """
    import soundfile

    rng = np.random.default_rng(seed)
    gain_db = float(rng.uniform(1.0, 6.0))
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    fd_in, tmp_in = tempfile.mkstemp(suffix=".wav", dir=out_path.parent)
    os.close(fd_in)
    tmp_out = str(out_path) + ".tmp.wav"
    try:
        soundfile.write(tmp_in, audio, rate, subtype="PCM_16")
        args = ["sox", "-V1", tmp_in, "-c", "1", "-b", "16", "-e", "signed-integer", tmp_out]
        proc = subprocess.run(args + _effects(aug, gain_db), capture_output=True, text=True, timeout=120)
        if proc.returncode != 0:
            raise CifstError(f"sox failed on {out_path}: {proc.stderr.strip()[-300:]}")
        if aug.kind == "noise":
            clean, sr = soundfile.read(tmp_out, dtype="float32")
            power = float(np.mean(clean**2)) + 1e-10
            noise = rng.standard_normal(len(clean)).astype(np.float32)
            # pink-ish noise: a one-pole low-pass of white noise, scaled to the drawn SNR
            noise = np.asarray(np.cumsum(noise) * 0.02 + noise * 0.3, dtype=np.float32)
            noise -= np.convolve(noise, np.ones(401) / 401, mode="same").astype(np.float32)
            noise *= np.sqrt(power / (float(np.mean(noise**2)) + 1e-10) / 10 ** (aug.value / 10))
            mixed = clean + noise
            peak = float(np.max(np.abs(mixed))) or 1.0
            if peak > 0.99:
                mixed *= 0.99 / peak
            soundfile.write(tmp_out, mixed, sr, subtype="PCM_16")
        os.replace(tmp_out, out_path)
        return soundfile.info(str(out_path)).frames / 16000.0
    finally:
        for p in (tmp_in, tmp_out):
            if os.path.exists(p):
                os.unlink(p)
