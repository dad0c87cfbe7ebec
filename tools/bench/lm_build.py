"""Benchmark: ``cifst lm build`` vs kenlm's ``lmplz`` on the same corpus, orders 3 and 5 (wall time, peak RSS).

Input: a seeded Zipf-distributed synthetic corpus (``--words`` tokens, default 10M; vocabulary ``--vocab``, with
sentence lengths drawn from a geometric distribution and a first-order Markov flavour so that higher-order n-grams
repeat as in real text), written once to a temp dir. Output: a table with ours / lmplz wall time and peak RSS and
their ratios, CPU time (user+sys) of each side, plus a check that both ARPAs hold the same n-gram counts.

Each tool runs as its own child process; peak RSS is the child's ``ru_maxrss`` (resource.getrusage
RUSAGE_CHILDREN, measured per run in a fresh interpreter). lmplz gets the same ``-S`` memory bound as ours.

Usage:
  OMP_NUM_THREADS=1 nice -n 19 .venv/bin/python tools/bench/lm_build.py --words 10000000 --orders 3 5
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]


def make_corpus(path: Path, words: int, vocab: int, seed: int) -> None:
    """Write ``words`` tokens of seeded synthetic text: Zipf unigrams mixed with a sparse bigram transition table."""
    rng = np.random.default_rng(seed)
    ranks = np.arange(1, vocab + 1)
    p = 1.0 / ranks**1.07
    p /= p.sum()
    names = np.array([f"w{i}" for i in range(vocab)])
    # Each word has a few favourite successors, so n-grams repeat as in natural text.
    fav = rng.choice(vocab, size=(vocab, 4), p=p)
    with open(path, "w", encoding="utf-8") as f:
        done = 0
        while done < words:
            n = min(1_000_000, words - done)
            base = rng.choice(vocab, size=n, p=p)
            follow = rng.random(n) < 0.5
            pick = rng.integers(0, 4, n)
            toks = base.copy()
            toks[1:] = np.where(follow[1:], fav[base[:-1], pick[1:]], base[1:])
            lens = rng.geometric(1 / 18, size=n // 4 + 10)
            ends = np.cumsum(lens)
            ends = ends[ends < n]
            text = names[toks]
            lines = np.split(text, ends)
            f.write("\n".join(" ".join(line) for line in lines if len(line)) + "\n")
            done += n


def run_measured(cmd: list[str], stdin_path: Path | None = None) -> tuple[float, float, float]:
    """Run a command in a child; return (wall seconds, CPU seconds user+sys, peak RSS MiB) of that child."""
    code = (
        "import resource, subprocess, sys, time, json\n"
        "cmd = json.loads(sys.argv[1]); inp = sys.argv[2]\n"
        "t = time.time()\n"
        "stdin = open(inp, 'rb') if inp else None\n"
        "r = subprocess.run(cmd, stdin=stdin, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)\n"
        "wall = time.time() - t\n"
        "ru = resource.getrusage(resource.RUSAGE_CHILDREN)\n"
        "print(json.dumps([r.returncode, wall, ru.ru_utime + ru.ru_stime, ru.ru_maxrss / 1024]))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, json.dumps(cmd), str(stdin_path or "")], capture_output=True, text=True
    )
    rc, wall, cpu, rss = json.loads(out.stdout)
    if rc != 0:
        raise SystemExit(f"command failed ({rc}): {' '.join(cmd)}")
    return wall, cpu, rss


def header_counts(path: Path) -> dict[int, int]:
    sys.path.insert(0, str(ROOT))
    from lm.arpa import read_arpa_header

    return read_arpa_header(path)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--words", type=int, default=10_000_000)
    ap.add_argument("--vocab", type=int, default=200_000)
    ap.add_argument("--orders", type=int, nargs="+", default=[3, 5])
    ap.add_argument("--memory", default="1G", help="-S for both tools")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--lmplz", default=str(ROOT / "tools" / "kenlm" / "bin" / "lmplz"))
    ap.add_argument("--corpus", default=None, help="use this text instead of generating one")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="lm-bench-"))
    corpus = Path(args.corpus) if args.corpus else tmp / "corpus.txt"
    if not args.corpus:
        t = time.time()
        make_corpus(corpus, args.words, args.vocab, args.seed)
        print(
            f"corpus: {corpus} ({corpus.stat().st_size / 2**20:.0f} MiB, {time.time() - t:.0f} s to generate)"
        )
    # python -m lm = cifst lm without importing the other packages' CLIs (see docs/benchmarks/lm.md)
    cifst = [sys.executable, "-m", "lm", "build", "--quiet"]
    print(f"load average before: {os.getloadavg()}")
    print(
        "| order | ours wall s | lmplz wall s | wall ratio | ours CPU s | lmplz CPU s | CPU ratio "
        "| ours MiB | lmplz MiB | RSS ratio | same counts |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for order in args.orders:
        ours_arpa, kenlm_arpa = tmp / f"ours{order}.arpa", tmp / f"lmplz{order}.arpa"
        ow, ocpu, orss = run_measured(
            cifst
            + ["-o", str(order), "-S", args.memory, "-T", str(tmp), "--arpa", str(ours_arpa), str(corpus)]
        )
        kw, kcpu, krss = run_measured(
            [
                args.lmplz,
                "-o",
                str(order),
                "-S",
                args.memory,
                "-T",
                str(tmp) + "/",
                "--text",
                str(corpus),
                "--arpa",
                str(kenlm_arpa),
            ]
        )
        same = header_counts(ours_arpa) == header_counts(kenlm_arpa)
        print(
            f"| {order} | {ow:.1f} | {kw:.1f} | {ow / kw:.2f} | {ocpu:.1f} | {kcpu:.1f} | {ocpu / kcpu:.2f} "
            f"| {orss:.0f} | {krss:.0f} | {orss / krss:.2f} | {same} |"
        )
        ours_arpa.unlink()
        kenlm_arpa.unlink()
    print(f"load average after: {os.getloadavg()}")
    if not args.corpus:
        corpus.unlink()


if __name__ == "__main__":
    main()
