"""Benchmark: align N reference/hypothesis pairs (default 100k) with cifst's scorer and with jiwer in one run, check
that the counts agree, and print the times and the ratio (jiwer time / ours: > 1 means ours is faster).

Two levels are timed:

- API: ``asr.scoring.process(refs, hyps, policy="jiwer")`` vs ``jiwer.process_words(refs, hyps)`` on lists of
  strings: both split the texts, align every pair and return per-utterance alignments and totals.
- Kernel: our compiled batch aligner on pre-encoded ids vs rapidfuzz ``Levenshtein.editops`` (jiwer's kernel),
  called per pair on the same id lists.

Numba's JIT warm-up (compile or load from the on-disk cache) is timed separately and excluded from "ours".
The pairs are synthetic English sentences (words from /usr/share/dict/words, 5-30 words) with ~12% word errors.

Usage:
  OMP_NUM_THREADS=1 .venv/bin/python tools/bench/score.py [--pairs 100000] [--seed 0]
"""

from __future__ import annotations

import argparse
import platform
import random
import time
from pathlib import Path


def make_pairs(n: int, seed: int) -> tuple[list[str], list[str]]:
    rng = random.Random(seed)
    dict_path = Path("/usr/share/dict/words")
    if dict_path.exists():
        words = [w for w in dict_path.read_text(encoding="utf-8", errors="ignore").split() if w.isalpha()][
            :20000
        ]
    else:  # pragma: no cover - machine without wamerican
        words = [f"w{i}" for i in range(20000)]
    common = words[:300]
    refs, hyps = [], []
    for _ in range(n):
        ref = [
            rng.choice(common) if rng.random() < 0.6 else rng.choice(words) for _ in range(rng.randint(5, 30))
        ]
        hyp: list[str] = []
        for w in ref:
            r = rng.random()
            if r < 0.06:
                hyp.append(rng.choice(words))  # substitution
            elif r < 0.09:
                continue  # deletion
            else:
                hyp.append(w)
            if rng.random() < 0.03:
                hyp.append(rng.choice(common))  # insertion
        refs.append(" ".join(ref))
        hyps.append(" ".join(hyp))
    return refs, hyps


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--pairs", type=int, default=100_000)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()

    import jiwer
    import numpy as np
    from rapidfuzz.distance import Levenshtein

    from asr.scoring import ScoreConfig, process
    from asr.scoring.align import align_batch

    refs, hyps = make_pairs(args.pairs, args.seed)
    n_words = sum(len(r.split()) for r in refs)
    print(
        f"machine: {platform.processor() or platform.machine()}, python {platform.python_version()}, "
        f"{args.pairs} pairs, {n_words} reference words"
    )

    t0 = time.perf_counter()
    process(["a b"], ["a c"])  # JIT compile, or load from numba's cache
    warm = time.perf_counter() - t0
    print(f"numba warm-up (excluded): {warm:.3f} s")

    # API level: texts in, per-utterance alignments and totals out
    t0 = time.perf_counter()
    ours = process(refs, hyps, ScoreConfig(policy="jiwer"))
    t_ours = time.perf_counter() - t0
    t0 = time.perf_counter()
    theirs = jiwer.process_words(refs, hyps)
    t_jiwer = time.perf_counter() - t0
    same = (ours.totals.hits, ours.totals.subs, ours.totals.dels, ours.totals.ins) == (
        theirs.hits,
        theirs.substitutions,
        theirs.deletions,
        theirs.insertions,
    )
    print(
        f"API     ours {t_ours:7.3f} s   jiwer {t_jiwer:7.3f} s   ratio jiwer/ours = {t_jiwer / t_ours:5.2f}x   "
        f"WER ours {100 * ours.error_rate:.3f}% jiwer {100 * theirs.wer:.3f}%  counts identical: {same}"
    )

    # the same jiwer call with the garbage collector paused as ours pauses it: how much of the gap is GC
    import gc

    gc.disable()
    try:
        t0 = time.perf_counter()
        jiwer.process_words(refs, hyps)
        t_jiwer_nogc = time.perf_counter() - t0
    finally:
        gc.enable()
    print(f"API     jiwer with GC paused {t_jiwer_nogc:7.3f} s   ratio = {t_jiwer_nogc / t_ours:5.2f}x")

    # kernel level: the same integer sequences
    vocab: dict[str, int] = {}
    r_ids = [[vocab.setdefault(w, len(vocab)) for w in r.split()] for r in refs]
    h_ids = [[vocab.setdefault(w, len(vocab)) for w in h.split()] for h in hyps]
    r_flat = np.fromiter((x for s in r_ids for x in s), dtype=np.int32)
    h_flat = np.fromiter((x for s in h_ids for x in s), dtype=np.int32)
    r_off = np.zeros(len(r_ids) + 1, np.int64)
    np.cumsum([len(s) for s in r_ids], out=r_off[1:])
    h_off = np.zeros(len(h_ids) + 1, np.int64)
    np.cumsum([len(s) for s in h_ids], out=h_off[1:])
    t0 = time.perf_counter()
    res = align_batch(r_flat, r_off, h_flat, h_off, policy="jiwer")
    t_k_ours = time.perf_counter() - t0
    t0 = time.perf_counter()
    n_err = 0
    for r, h in zip(r_ids, h_ids):
        n_err += len(Levenshtein.editops(r, h))
    t_k_rf = time.perf_counter() - t0
    print(
        f"kernel  ours {t_k_ours:7.3f} s   rapidfuzz editops {t_k_rf:7.3f} s   ratio = {t_k_rf / t_k_ours:5.2f}x   "
        f"errors ours {int(res.counts[:, 1:].sum())} rapidfuzz {n_err}"
    )


if __name__ == "__main__":
    main()
