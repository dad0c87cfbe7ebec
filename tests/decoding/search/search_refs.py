"""Test helpers for the search: random and tiny TLG graphs, and three outside references for the best path.

- :func:`openfst_best`: exact Viterbi by OpenFst (compose a linear acceptor of the posteriors with the graph, then
  ``shortestpath``): no pruning, the ground truth for any beam.
- :func:`brute_force_best`: enumerate every path of a tiny graph (an independent check of the former).
- :func:`kaldi_best`: kaldi-decoder's ``FasterDecoder`` + ``DecodableCtc`` on the same ``TLG.fst``.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pywrapfst as fst


@dataclass
class RefPath:
    ilabels: list[int]
    olabels: list[int]
    cost: float
    final: bool


def random_fst(
    num_states: int,
    vocab: int,
    max_deg: int,
    rng: np.random.Generator,
    p_final: float = 0.3,
    num_words: int = 5,
    self_loops: bool = True,
) -> fst.VectorFst:
    """A random epsilon-free graph: input labels 1..vocab (token id + 1), output labels 0..num_words-1."""
    f = fst.VectorFst()
    wt = f.weight_type()
    for _ in range(num_states):
        f.add_state()
    f.set_start(0)
    for s in range(num_states):
        for _ in range(int(rng.integers(1, max_deg + 1))):
            d = int(rng.integers(0, num_states))
            f.add_arc(
                s,
                fst.Arc(
                    int(rng.integers(1, vocab + 1)),
                    int(rng.integers(0, num_words)),
                    fst.Weight(wt, float(rng.uniform(0, 3))),
                    d,
                ),
            )
        if self_loops and rng.random() < 0.5:
            f.add_arc(s, fst.Arc(1, 0, fst.Weight(wt, float(rng.uniform(0, 1))), s))
        if rng.random() < p_final:
            f.set_final(s, fst.Weight(wt, float(rng.uniform(0, 2))))
    if f.num_states() and all(float(f.final(s)) == float("inf") for s in f.states()):
        f.set_final(num_states - 1, fst.Weight(wt, 0.5))
    return f


def linear_acceptor(logprobs: np.ndarray) -> fst.VectorFst:
    """Rows x tokens log-probs -> acceptor with arc ``token+1`` of cost ``-logprob`` at each row."""
    f = fst.VectorFst()
    wt = f.weight_type()
    n, v = logprobs.shape
    for _ in range(n + 1):
        f.add_state()
    f.set_start(0)
    for t in range(n):
        for k in range(v):
            if np.isfinite(logprobs[t, k]):
                f.add_arc(t, fst.Arc(k + 1, k + 1, fst.Weight(wt, float(-logprobs[t, k])), t + 1))
    f.set_final(n, fst.Weight.one(wt))
    return f


def openfst_best(graph: fst.VectorFst, logprobs: np.ndarray) -> RefPath | None:
    """Exact best path through ``graph`` that ends in a final state after all rows (None if there is none)."""
    g = graph.copy().arcsort("ilabel")
    comp = fst.compose(linear_acceptor(logprobs), g)
    if comp.num_states() == 0:
        return None
    sp = fst.shortestpath(comp)
    if sp.num_states() == 0:
        return None
    ils, ols, cost = [], [], 0.0
    s = sp.start()
    while True:
        arcs = list(sp.arcs(s))
        if not arcs:
            cost += float(sp.final(s))
            break
        a = arcs[0]
        ils.append(a.ilabel)
        if a.olabel:
            ols.append(a.olabel)
        cost += float(a.weight)
        s = a.nextstate
    return RefPath(ils, ols, cost, True)


def brute_force_best(graph: fst.VectorFst, logprobs: np.ndarray) -> RefPath | None:
    """Enumerate all paths of ``len(logprobs)`` arcs (tiny graphs only)."""
    n = logprobs.shape[0]
    arcs = {s: list(graph.arcs(s)) for s in graph.states()}
    best = None
    stack = [(graph.start(), 0, 0.0, [], [])]
    while stack:
        s, t, c, ils, ols = stack.pop()
        if t == n:
            fw = float(graph.final(s))
            if np.isfinite(fw) and (best is None or c + fw < best.cost):
                best = RefPath(ils, [o for o in ols if o], c + fw, True)
            continue
        for a in arcs[s]:
            lp = logprobs[t, a.ilabel - 1]
            if np.isfinite(lp):
                stack.append(
                    (a.nextstate, t + 1, c + float(a.weight) - float(lp), ils + [a.ilabel], ols + [a.olabel])
                )
    return best


def kaldi_best(
    fst_path: str | Path, logprobs: np.ndarray, beam: float, max_active: int, min_active: int, decoder=None
) -> RefPath | None:
    """Best path of kaldi-decoder's FasterDecoder (cost = graph + acoustic, as its lattice weight reports)."""
    import kaldi_decoder
    import kaldifst

    if decoder is None:
        graph = kaldifst.StdVectorFst.read(str(fst_path))
        opts = kaldi_decoder.FasterDecoderOptions(beam=beam, max_active=max_active, min_active=min_active)
        decoder = kaldi_decoder.FasterDecoder(graph, opts)
    mat = np.ascontiguousarray(logprobs, dtype=np.float32)
    decodable = kaldi_decoder.DecodableCtc(mat)  # keep both alive while the decoder runs
    decoder.decode(decodable)
    ok, lat = decoder.get_best_path()
    if not ok:
        return None
    ok, ils, ols, w = kaldifst.get_linear_symbol_sequence(lat)
    assert ok
    return RefPath(list(ils), list(ols), float(w.value1) + float(w.value2), decoder.reached_final())


def all_label_sequences(vocab: int, n: int):
    """Every sequence of ``n`` input labels 1..vocab (for exhaustive checks of greedy/prefix search)."""
    return itertools.product(range(1, vocab + 1), repeat=n)


def _compile_text(text: str) -> fst.VectorFst:
    comp = fst.Compiler()
    comp.write(text)
    return comp.compile()


def build_tlg(
    num_tokens: int,
    lexicon: list[tuple[int, list[int]]],
    g_text: str,
    disambig0_word: int,
    topo: str = "ctc",
    cif_skip_cost: float = 2.0,
) -> fst.VectorFst:
    """A small epsilon-free TLG: T o rmepsilon(L o G) (not determinized, so no disambiguation symbols).

    Args:
        num_tokens: V, token ids 0..V-1 (0 = blank); graph input labels are token id + 1.
        lexicon: (word id, token ids) pairs, several per word allowed.
        g_text: G in OpenFst text format (``src dst ilabel olabel [cost]``, word ids; backoff arcs read
            ``disambig0_word``), e.g. from ``kaldilm.arpa2fst(..., disambig_symbol="#0")``.
        disambig0_word: word id of ``#0``.
        topo: ``"ctc"`` (blank state + one state per token with repeats) or ``"cif"`` (one state: every row reads
            a token, or blank at ``cif_skip_cost``).
    """
    # L without disambiguation symbols and LG without determinization: every L arc reads a token, so after
    # removing G's backoff epsilons (eps:eps once #0 is relabelled) the graph has no input epsilons
    L = fst.VectorFst()
    wt = L.weight_type()
    one = fst.Weight.one(wt)
    L.add_state()
    L.set_start(0)
    L.set_final(0, one)
    for word, pron in lexicon:
        s = 0
        for i, tok in enumerate(pron):
            d = 0 if i == len(pron) - 1 else L.add_state()
            L.add_arc(s, fst.Arc(tok + 1, word if i == 0 else 0, one, d))
            s = d
    G = _compile_text(g_text)
    for s in G.states():
        it = G.mutable_arcs(s)
        while not it.done():
            a = it.value()
            if a.ilabel == disambig0_word or a.olabel == disambig0_word:
                it.set_value(fst.Arc(0, 0, a.weight, a.nextstate))
            it.next()
    LG = fst.compose(L.arcsort("olabel"), G.arcsort("ilabel"))
    LG.rmepsilon()
    LG.connect()
    LG.arcsort("ilabel")
    T = fst.VectorFst()
    T.add_state()
    T.set_start(0)
    T.set_final(0, one)
    if topo == "ctc":
        T.add_arc(0, fst.Arc(1, 0, one, 0))
        for k in range(1, num_tokens):
            T.add_state()
            T.set_final(k, one)
        for k in range(1, num_tokens):
            T.add_arc(0, fst.Arc(k + 1, k + 1, one, k))
            T.add_arc(k, fst.Arc(k + 1, 0, one, k))
            T.add_arc(k, fst.Arc(1, 0, one, 0))
            for j in range(1, num_tokens):
                if j != k:
                    T.add_arc(k, fst.Arc(j + 1, j + 1, one, j))
    else:
        T.add_arc(0, fst.Arc(1, 0, fst.Weight(wt, cif_skip_cost), 0))
        for k in range(1, num_tokens):
            T.add_arc(0, fst.Arc(k + 1, k + 1, one, 0))
    T.arcsort("olabel")
    TLG = fst.compose(T, LG)
    TLG.connect()
    TLG.arcsort("ilabel")
    return TLG


def toy_bigram_arpa(sentences: list[list[str]], discount: float = 0.5) -> str:
    """A valid bigram ARPA (absolute discounting, backoff to unigrams, backoff weights capped at 1 so the graph has
    no negative-cost cycles) for small test corpora."""
    import math
    from collections import Counter

    uni = Counter()
    bi = Counter()
    for s in sentences:
        seq = ["<s>", *s, "</s>"]
        uni.update(seq[1:])
        bi.update(zip(seq[:-1], seq[1:]))
    vocab = sorted(set(uni) | {"<s>"})
    total = sum(uni.values())
    lines = ["\\data\\", f"ngram 1={len(vocab)}", f"ngram 2={len(bi)}", "", "\\1-grams:"]
    uni_p = {w: uni[w] / total for w in vocab if w != "<s>"}
    hist = Counter()
    types = Counter()
    for (a, _b), c in bi.items():
        hist[a] += c
        types[a] += 1
    bo = {}
    for w in vocab:
        if hist[w]:
            left = discount * types[w] / hist[w]
            seen = sum(uni_p[b] for (a, b) in bi if a == w)
            bo[w] = min(1.0, left / max(1e-9, 1 - seen))  # capped: no negative-cost backoff cycles
    for w in vocab:
        p = -99.0 if w == "<s>" else math.log10(uni_p[w])
        b = f"\t{math.log10(bo[w]):.6f}" if w in bo else ""
        lines.append(f"{p:.6f}\t{w}{b}")
    lines += ["", "\\2-grams:"]
    for (a, b), c in sorted(bi.items()):
        lines.append(f"{math.log10((c - discount) / hist[a]):.6f}\t{a} {b}")
    lines += ["", "\\end\\", ""]
    return "\n".join(lines)


def synth_posteriors(
    token_ids: list[int],
    vocab: int,
    rng: np.random.Generator,
    row_type: str = "frame",
    peak: float = 4.0,
    noise: float = 1.5,
    p_wrong: float = 0.1,
) -> np.ndarray:
    """Log-softmax rows for a token sequence: CTC-like frames (repeats and blanks) or one CIF row per token.

    Each row's logits are Gaussian noise plus ``peak`` on its label; with probability ``p_wrong`` the peak goes to
    a random other label (a recognition error the LM may fix).
    """
    labels: list[int] = []
    if row_type == "frame":
        labels += [0] * int(rng.integers(0, 3))
        for i, t in enumerate(token_ids):
            if i and token_ids[i - 1] == t:
                labels.append(0)
            labels += [t] * int(rng.integers(1, 3))
            labels += [0] * int(rng.integers(0, 2))
    else:
        labels = list(token_ids)
    n = len(labels)
    logits = rng.normal(0.0, noise, size=(n, vocab)).astype(np.float32)
    for r, lab in enumerate(labels):
        if rng.random() < p_wrong:
            lab = int(rng.integers(0, vocab))
        logits[r, lab] += peak
    m = logits.max(axis=1, keepdims=True)
    return (logits - m - np.log(np.exp(logits - m).sum(axis=1, keepdims=True))).astype(np.float32)


class FakeContext:
    """A tiny hotword automaton for one phrase with the ContextGraph interface (``num_states``, ``to``, ``step``,
    ``finalize``), as dense tables: entering the phrase's k-th token gives ``score``, leaving a partial match takes
    back what it gave, completing it keeps the bonus (the phrase is a list of token ids, no blank)."""

    def __init__(self, phrase: list[int], vocab: int, score: float):
        import torch

        n = len(phrase) + 1
        nxt = np.zeros((n, vocab), np.int64)
        bonus = np.zeros((n, vocab), np.float32)
        potential = np.array([score * k for k in range(n)], np.float32)
        potential[-1] = 0.0  # a completed match keeps its bonus: the end state holds nothing to take back

        def walk(state: int, tok: int) -> int:
            # longest suffix of (matched prefix + tok) that is a prefix of the phrase
            seq = (phrase[:state] if state < n - 1 else list(phrase)) + [tok]
            for k in range(min(len(seq), n - 1), -1, -1):
                if seq[len(seq) - k :] == phrase[:k] or k == 0:
                    return k
            return 0

        for s in range(n):
            for t in range(vocab):
                d = walk(s, t)
                if d == n - 1:  # completed: pay the whole phrase, land in the end state
                    nxt[s, t] = n - 1
                    bonus[s, t] = score * (n - 1) - potential[s]
                else:
                    nxt[s, t] = d
                    bonus[s, t] = potential[d] - potential[s]
        self.next = torch.from_numpy(nxt)
        self.bonus = torch.from_numpy(bonus)
        self.potential = torch.from_numpy(potential)

    @property
    def num_states(self) -> int:
        return int(self.next.shape[0])

    def to(self, device):
        self.next, self.bonus, self.potential = (
            x.to(device) for x in (self.next, self.bonus, self.potential)
        )
        return self

    def step(self, state, token, token_logp=None):
        return self.bonus[state, token], self.next[state, token]

    def finalize(self, state):
        return -self.potential[state]

    def score_tokens(self, tokens: list[int]) -> float:
        """Net bonus of a whole token sequence (steps + finalize), the reference for the search."""
        s, total = 0, 0.0
        for t in tokens:
            total += float(self.bonus[s, t])
            s = int(self.next[s, t])
        return total + float(-self.potential[s])


def brute_force_best_ctx(graph: fst.VectorFst, logprobs: np.ndarray, ctx: FakeContext, row_type: str):
    """Best final path by enumeration with the hotword bonus of its emitted tokens (CTC or CIF emission rules)."""
    from decoding.search.results import emissions

    n = logprobs.shape[0]
    arcs = {s: list(graph.arcs(s)) for s in graph.states()}
    best = None
    stack = [(graph.start(), 0, 0.0, [])]
    while stack:
        s, t, c, ils = stack.pop()
        if t == n:
            fw = float(graph.final(s))
            if np.isfinite(fw):
                toks, _, _ = emissions(np.array(ils, np.int64) - 1, row_type)
                tot = c + fw - ctx.score_tokens(toks)
                if best is None or tot < best.cost:
                    best = RefPath(ils, [], tot, True)
            continue
        for a in arcs[s]:
            stack.append(
                (a.nextstate, t + 1, c + float(a.weight) - float(logprobs[t, a.ilabel - 1]), ils + [a.ilabel])
            )
    return best


def openfst_nbest_words(graph: fst.VectorFst, logprobs: np.ndarray, n: int) -> list[tuple[list[int], float]]:
    """The ``n`` best distinct word sequences with their best-path costs (determinize the output projection)."""
    g = graph.copy().arcsort("ilabel")
    comp = fst.compose(linear_acceptor(logprobs), g)
    comp.project("output")
    comp.rmepsilon()
    det = fst.determinize(comp)
    sp = fst.shortestpath(det, nshortest=n)
    out = []
    for first in sp.arcs(sp.start()) if sp.num_states() else []:
        words, cost, s = [], float(first.weight), first.nextstate
        if first.olabel:
            words.append(first.olabel)
        while True:
            arcs = list(sp.arcs(s))
            if not arcs:
                cost += float(sp.final(s))
                break
            a = arcs[0]
            if a.olabel:
                words.append(a.olabel)
            cost += float(a.weight)
            s = a.nextstate
        out.append((words, cost))
    if sp.num_states() and np.isfinite(float(sp.final(sp.start()))):
        out.append(([], float(sp.final(sp.start()))))
    return sorted(out, key=lambda x: x[1])
