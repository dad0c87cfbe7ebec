#!/usr/bin/env python3
"""Feature-pipeline benchmarks: ours vs a peer, printed as a ratio (peer time / our time; > 1 means we are faster).

* resample: 60 s of 44.1 kHz audio to 16 kHz. Ours (:func:`asr.data.audio.resample`, on an array already in
  memory) vs ``sox in.wav -r 16000 out.wav`` (whole command: process start, file read and write). Quality of both:
  SNR against the analytic 16 kHz signal.
* speed: 3-way speed perturbation of a 5 s utterance as the data loader does it, ours (in-process resampling) vs
  one sox process per utterance (``sox ... speed F``), the way Kaldi/WeNet recipes do it.
* lfr: LFR m=7 n=6 of a 30 s utterance, ours (one gather) vs the row loop of FunASR's ``apply_lfr``.
* fbank: real-time factor of kaldi-native-fbank through :func:`compute_fbank` (+ LFR) on one core.

Example:
  OMP_NUM_THREADS=1 .venv/bin/python tools/bench/features.py
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from asr.data.audio import resample  # noqa: E402
from asr.features.fbank import compute_fbank  # noqa: E402
from asr.features.lfr import apply_lfr  # noqa: E402
from asr.features.speed import speed_perturb, speed_perturb_sox  # noqa: E402


def _best(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def _signal(rate: int, seconds: float) -> np.ndarray:
    t = np.arange(int(rate * seconds)) / rate
    return (0.3 * np.sin(2 * np.pi * 440 * t) + 0.2 * np.sin(2 * np.pi * 3100 * t)).astype(np.float32)


def _snr(x: np.ndarray, ref: np.ndarray, edge: int) -> float:
    n = min(len(x), len(ref))
    err = x[edge : n - edge] - ref[edge : n - edge]
    return 10 * np.log10(np.sum(ref[edge : n - edge] ** 2) / np.sum(err**2))


def bench_resample(repeat: int) -> None:
    import soundfile as sf

    x = _signal(44100, 60.0)
    ref = _signal(16000, 60.0)
    with tempfile.TemporaryDirectory() as d:
        src, dst = Path(d) / "in.wav", Path(d) / "out.wav"
        sf.write(src, x, 44100, subtype="FLOAT")
        ours = _best(lambda: resample(x, 44100, 16000), repeat)
        peer = _best(
            lambda: subprocess.run(["sox", "-V1", str(src), "-r", "16000", str(dst)], check=True), repeat
        )
        sox_out, _ = sf.read(dst, dtype="float32")
    snr_ours = _snr(resample(x, 44100, 16000), ref, 1000)
    snr_sox = _snr(sox_out, ref, 1000)
    print(
        f"resample 60 s 44.1k->16k: ours {ours * 1000:.1f} ms, sox {peer * 1000:.1f} ms, ratio {peer / ours:.2f}x; "
        f"SNR ours {snr_ours:.1f} dB, sox {snr_sox:.1f} dB"
    )


def bench_speed(repeat: int) -> None:
    x = _signal(16000, 5.0)

    def ours():
        for f in (0.9, 1.1):
            speed_perturb(x, f)

    def peer():
        for f in (0.9, 1.1):
            speed_perturb_sox(x, 16000, f)

    a, b = _best(ours, repeat), _best(peer, repeat)
    print(
        f"speed perturb 5 s x (0.9, 1.1): ours {a * 1000:.1f} ms, sox per utterance {b * 1000:.1f} ms, "
        f"ratio {b / a:.2f}x"
    )


def _lfr_loop(x: np.ndarray, m: int, n: int) -> np.ndarray:
    T = x.shape[0]
    left = (m - 1) // 2
    padded = np.vstack([np.repeat(x[:1], left, axis=0), x])
    T2 = T + left
    out = []
    for i in range(int(np.ceil(T / n))):
        if m <= T2 - i * n:
            out.append(padded[i * n : i * n + m].reshape(-1))
        else:
            frame = padded[i * n :].reshape(-1)
            for _ in range(m - (T2 - i * n)):
                frame = np.hstack([frame, x[-1]])
            out.append(frame)
    return np.vstack(out)


def bench_lfr(repeat: int) -> None:
    feats = np.random.default_rng(0).standard_normal((3000, 80)).astype(np.float32)
    a = _best(lambda: apply_lfr(feats, 7, 6), repeat)
    b = _best(lambda: _lfr_loop(feats, 7, 6), repeat)
    assert np.array_equal(apply_lfr(feats, 7, 6), _lfr_loop(feats, 7, 6))
    print(
        f"LFR 30 s (3000x80 -> 500x560): ours {a * 1000:.2f} ms, FunASR-style loop {b * 1000:.2f} ms, "
        f"ratio {b / a:.2f}x"
    )


def bench_fbank(repeat: int) -> None:
    x = _signal(16000, 30.0)
    t = _best(lambda: apply_lfr(compute_fbank(x, 16000)), repeat)
    print(f"fbank+LFR 30 s: {t * 1000:.1f} ms, RTF {t / 30.0:.4f}")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--repeat", type=int, default=5)
    args = p.parse_args()
    bench_resample(args.repeat)
    bench_speed(args.repeat)
    bench_lfr(args.repeat)
    bench_fbank(args.repeat)
    return 0


if __name__ == "__main__":
    sys.exit(main())
