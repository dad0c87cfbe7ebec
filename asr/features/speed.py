"""Speed perturbation: a wave and a factor -> the wave played ``factor`` times faster (tempo and pitch change
together, length divided by the factor), as sox's ``speed`` effect does and Kaldi's ``perturb_data_dir_speed.sh``
(0.9 / 1.0 / 1.1) uses for 3-way augmentation.

It is a resampling from ``rate`` to ``rate / factor`` whose result is read back at ``rate``; we use our sinc
resampler (:func:`asr.data.audio.resample`), so no sox process is needed per utterance. :func:`speed_perturb_sox`
runs sox itself, for comparison and for data preparation on disk.

Reference: Ko et al., "Audio augmentation for speech recognition", Interspeech 2015; sox ``speed`` effect.
"""

from __future__ import annotations

import random
import shutil
import subprocess
from dataclasses import dataclass, field

import numpy as np

from asr.data.audio import resample
from asr.errors import CifstError

__all__ = ["SpeedPerturbConfig", "speed_perturb", "speed_perturb_sox", "choose_speed"]


@dataclass
class SpeedPerturbConfig:
    """Speed perturbation options (YAML section ``speed_perturb``).

    Attributes:
        factors: Factors drawn uniformly per utterance in training.
    """

    factors: list[float] = field(default_factory=lambda: [0.9, 1.0, 1.1])


def choose_speed(config: SpeedPerturbConfig, rng: random.Random) -> float:
    """Draw one factor from ``config.factors``."""
    return rng.choice(config.factors)


def speed_perturb(wave: np.ndarray, factor: float) -> np.ndarray:
    """Change the speed of ``wave`` by ``factor`` (1.1 = 10 % faster and higher).

    Args:
        wave: float32 ``[n]``.
        factor: Speed factor, > 0.

    Returns:
        float32 ``[ceil(n / factor)]``; ``wave`` itself when ``factor == 1``.
    """
    if factor <= 0:
        raise ValueError(f"speed factor must be > 0, got {factor}")
    if factor == 1.0:
        return wave
    # read at the original rate, samples spaced as at rate * factor: resample by 1 / factor
    return resample(wave, factor, 1.0)


def speed_perturb_sox(wave: np.ndarray, rate: int, factor: float) -> np.ndarray:
    """Same as :func:`speed_perturb` but with the sox binary (``sox -t f32 ... speed F``).

    Raises:
        CifstError: sox is not installed.
    """
    sox = shutil.which("sox")
    if sox is None:
        raise CifstError("sox not found: install it (apt-get install sox) or use speed_perturb()")
    raw = np.asarray(wave, dtype="<f4").tobytes()
    fmt = ["-t", "f32", "-r", str(rate), "-c", "1"]
    cmd = [sox, *fmt, "-", *fmt, "-", "speed", str(factor), "rate", "-v", str(rate)]
    proc = subprocess.run(cmd, input=raw, capture_output=True, check=False)
    if proc.returncode != 0:
        raise CifstError(f"sox failed: {proc.stderr.decode('utf-8', 'replace').strip()}")
    return np.frombuffer(proc.stdout, dtype="<f4").astype(np.float32)
