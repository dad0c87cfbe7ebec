"""Benchmark: accuracy of the forced word-time estimate used for engines without word events (mbrola, festival,
flite, pico2wave), measured where the truth is known: an espeak-ng voice of another accent and rate
(en-gb-scotland+m3 at 150 wpm, times measured from its word events) against the estimate mapped from the en-us
voice at 175 wpm. Prints the mean/median shift per word ((|start error| + |end error|) / 2, as AAS) and the share
within 50 and 100 ms. Run:  OMP_NUM_THREADS=1 .venv/bin/python tools/bench/synth_word_times.py
"""

from __future__ import annotations

import numpy as np

from asr.data.synth.engines import estimate_word_times, synthesize
from asr.data.synth.lexicon import cmu_dictionary
from asr.data.synth.text import collect_sentences, default_english_sources
from asr.data.synth.voices import Voice


def main() -> None:
    sents = collect_sentences(default_english_sources(), cmu_dictionary())[::97][:100]
    errs = []
    for s in sents:
        n = len(s.words.split())
        # target: an espeak voice of another accent and rate, whose times are measured
        v = Voice("espeak", "en-gb-scotland+m3", "x", pitch=45, rate=150)
        syn = synthesize(v, s.spoken, n)
        # estimate those times the way non-espeak engines get them: from the en-us voice at 175 wpm
        est = estimate_word_times(Voice("flite", "slt", "slt"), s.spoken, n, syn.audio, syn.sample_rate, 175)
        for (a0, a1), (b0, b1) in zip(syn.word_times, est):
            errs.append((abs(a0 - b0) + abs(a1 - b1)) / 2)
    errs = np.array(errs)
    print(
        f"{len(sents)} sentences, {len(errs)} words: mean {errs.mean() * 1000:.0f} ms, median {np.median(errs) * 1000:.0f} ms, "
        f"within 50 ms {np.mean(errs < 0.05) * 100:.0f}%, within 100 ms {np.mean(errs < 0.1) * 100:.0f}%"
    )


if __name__ == "__main__":
    main()
