"""Benchmark: synthesizing sentences with espeak-ng through our ctypes binding (asr.data.synth, audio + word times in
one call, in-process) vs the usual way, one ``espeak-ng -w FILE`` process per sentence (audio only).

Prints seconds per sentence for both and the ratio (peer / ours; above 1 = ours faster), plus the audio produced per
second of wall time. Run:  OMP_NUM_THREADS=1 .venv/bin/python tools/bench/synth_espeak.py [--n 200]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import tempfile
import time

from asr.data.synth.engines import synthesize
from asr.data.synth.lexicon import cmu_dictionary
from asr.data.synth.text import collect_sentences, default_english_sources
from asr.data.synth.voices import Voice


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--n", type=int, default=200)
    args = p.parse_args()
    sentences = collect_sentences(default_english_sources(), cmu_dictionary())[: args.n]
    voice = Voice("espeak", "en-us+f3", "espeak-f3", pitch=50, rate=175)
    synthesize(voice, "warm up.", 2)
    t0 = time.perf_counter()
    audio_s = 0.0
    for s in sentences:
        syn = synthesize(voice, s.spoken, len(s.words.split()))
        audio_s += len(syn.audio) / syn.sample_rate
    ours = time.perf_counter() - t0
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "x.wav")
        t0 = time.perf_counter()
        for s in sentences:
            subprocess.run(["espeak-ng", "-v", "en-us+f3", "-s", "175", "-p", "50", "-w", path, s.spoken], check=True,
                           stderr=subprocess.DEVNULL)  # fmt: skip
        peer = time.perf_counter() - t0
    n = len(sentences)
    print(f"sentences: {n}, audio: {audio_s:.1f} s")
    print(f"ours (ctypes libespeak-ng, audio + word times): {ours / n * 1000:.1f} ms/sentence, "
          f"{audio_s / ours:.0f}x real time")  # fmt: skip
    print(f"peer (espeak-ng -w per sentence, audio only):   {peer / n * 1000:.1f} ms/sentence, "
          f"{audio_s / peer:.0f}x real time")  # fmt: skip
    print(f"ratio peer/ours: {peer / ours:.2f}")


if __name__ == "__main__":
    main()
