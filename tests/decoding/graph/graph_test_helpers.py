"""Small inputs and helpers shared by the graph tests: a token table, a lexicon with homophones/prefixes/variants, a hand-made
bigram ARPA (its G is derived by hand in test_grammar.py), a fake character tokenizer, and helpers that read
FSTs path by path with pywrapfst (the independent reference)."""

from __future__ import annotations

import math
import random
from pathlib import Path

import numpy as np

from asr.text.symbol_table import SymbolTable

LN10 = math.log(10.0)

TOKENS = ["<blk>", "<unk>", "x", "y", "z", "sil"]

# a = x y #1, f = x y #2 (homophones); b = x #1 (prefix of a/f); c = y z; d = z #1 (prefix of e, g2);
# e = z z; g = y #1 (prefix of c) | z y (p = 0.5); <unk> = y y y
LEXICON = """\
a x y
b x
c y z
d z
e z z
f x y
g y
g 0.5 z y
<unk> y y y
"""

HAND_ARPA = """\
\\data\\
ngram 1=5
ngram 2=3

\\1-grams:
-0.5\t</s>
-99\t<s>\t-0.3
-0.4\ta\t-0.2
-0.6\tb\t-0.1
-0.7\tc\t-0.25

\\2-grams:
-0.2\t<s> a
-0.3\ta b
-0.1\tb </s>

\\end\\
"""


def random_corpus(path: Path, words: list[str], lines: int, seed: int) -> Path:
    """A seeded corpus over ``words`` with skewed word frequencies."""
    rng = random.Random(seed)
    weights = [1.0 / (i + 1) for i in range(len(words))]
    with open(path, "w") as f:
        for _ in range(lines):
            f.write(" ".join(rng.choices(words, weights, k=rng.randint(1, 8))) + "\n")
    return path


class FakeCharTokenizer:
    """The asr.text.tokenizer.Tokenizer interface for characters (test double): one token per character."""

    def __init__(self, chars: str):
        self.symbols = SymbolTable(["<blk>", "<unk>", *chars])

    def encode(self, text: str) -> list[int]:
        unk = self.symbols.id("<unk>")
        return [self.symbols.get(c, unk) for c in text if not c.isspace()]


# --- path-by-path helpers (pywrapfst only) ---------------------------------------------------------------------


def linear_fst(labels: list[int], olabels: list[int] | None = None):
    """An FST accepting exactly one string (acceptor unless ``olabels`` given)."""
    import pywrapfst as fst

    f = fst.VectorFst()
    s = f.add_state()
    f.set_start(s)
    olabels = labels if olabels is None else olabels
    for i, o in zip(labels, olabels):
        t = f.add_state()
        f.add_arc(s, fst.Arc(i, o, fst.Weight.one("tropical"), t))
        s = t
    f.set_final(s)
    return f


def best_cost(f) -> float:
    """Shortest-distance cost from the start to a final state (inf when nothing is accepted)."""
    import pywrapfst as fst

    if f.start() < 0 or f.num_states() == 0:
        return math.inf
    d = fst.shortestdistance(f, reverse=True)
    return float(d[f.start()]) if len(d) > f.start() else math.inf


def output_strings(f, max_paths: int = 1000) -> dict[tuple[int, ...], float]:
    """All (output string -> best cost) of an acyclic FST, epsilons dropped."""
    out: dict[tuple[int, ...], float] = {}
    if f.start() < 0:
        return out
    stack = [(f.start(), (), 0.0)]
    while stack:
        s, labels, cost = stack.pop()
        fw = float(f.final(s))
        if math.isfinite(fw):
            out[labels] = min(out.get(labels, math.inf), cost + fw)
            if len(out) > max_paths:
                raise RuntimeError("too many paths")
        for a in f.arcs(s):
            stack.append((a.nextstate, labels + ((a.olabel,) if a.olabel else ()), cost + float(a.weight)))
    return out


def emission_fst(logp: np.ndarray):
    """Frames x tokens lattice: arc t -> t+1 on label token+1 with cost -log p."""
    import pywrapfst as fst

    f = fst.VectorFst()
    f.add_states(logp.shape[0] + 1)
    f.set_start(0)
    f.set_final(logp.shape[0])
    for t in range(logp.shape[0]):
        for v in range(logp.shape[1]):
            f.add_arc(t, fst.Arc(v + 1, v + 1, fst.Weight("tropical", float(-logp[t, v])), t + 1))
    return f


def viterbi(graph, logp: np.ndarray) -> tuple[float, list[int]]:
    """Plain frame-synchronous Viterbi over the CSR arrays (no epsilon handling: there must be none)."""
    src, dst = graph.src.numpy(), graph.dst.numpy()
    il, ol, w = graph.ilabel.numpy(), graph.olabel.numpy(), graph.weight.numpy().astype(np.float64)
    assert np.all(il > 0)
    score = np.full(graph.num_states, np.inf)
    score[graph.start] = 0.0
    back = []
    for t in range(logp.shape[0]):
        cand = score[src] + w - logp[t, il - 1]
        new = np.full_like(score, np.inf)
        np.minimum.at(new, dst, cand)
        best_arc = np.full(graph.num_states, -1)
        ok = np.isfinite(cand) & (cand == new[dst])
        best_arc[dst[ok]] = np.flatnonzero(ok)
        back.append(best_arc)
        score = new
    total = score + graph.final.numpy()
    s = int(np.argmin(total))
    words = []
    for t in reversed(range(logp.shape[0])):
        a = back[t][s]
        if ol[a]:
            words.append(int(ol[a]))
        s = int(src[a])
    return float(total.min()), words[::-1]
