"""The grammar acceptor G: an ARPA back-off n-gram LM -> G as a tropical ``pywrapfst.VectorFst``.

Input: an ARPA file (``lm.arpa.iter_arpa``; log10 probabilities and back-off weights) and the word table
(``words.txt`` with ``#0``, ``<s>``, ``</s>``). Output: G with one state per n-gram history that is needed, word
arcs ``w:w`` with cost ``-ln(10) * log10 p``, back-off arcs ``#0:<eps>`` with cost ``-ln(10) * log10 backoff`` to
the history's back-off state, final costs from the ``... </s>`` n-grams, start state = the ``<s>`` history; plus
:class:`GrammarStats`. ``<s>``/``</s>`` never appear as labels.

Follows Kaldi ``lm/arpa-lm-compiler.cc`` (``arpa2fst --disambig-symbol=#0``), including its removal of redundant
states: a history with no continuations and no ``</s>`` is not a state, arcs into it go straight to its back-off
state with its back-off cost added. The lookups are vectorised: each order's n-grams get integer keys
``prefix_id * V + last_word`` and are matched by ``numpy.searchsorted``, so millions of n-grams take seconds.
Words of the LM that are not in the word table follow ``oov``: ``error`` (file and line of the first one),
``skip`` (drop every n-gram holding one, as ``arpa2fst`` does with unknown words) or ``map:<unk>`` (rewrite them
to ``<unk>``, keeping the best-scoring n-gram where rewritten n-grams collide). Our own code.
"""

from __future__ import annotations

import logging
import math
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from asr.errors import InputError
from asr.text.symbol_table import SymbolTable

__all__ = [
    "GrammarStats",
    "make_grammar_fst",
    "arpa_vocabulary",
    "parse_oov_policy",
    "find_ngram_lines",
    "unk_logprob",
]

log = logging.getLogger(__name__)
LN10 = math.log(10.0)


@dataclass
class GrammarStats:
    """What :func:`make_grammar_fst` read and built.

    Attributes:
        order: Highest n-gram order.
        ngrams: Number of n-grams read per order (after the OOV policy).
        oov_words: LM words not in the word table (with ``skip``/``map``), in first-seen order.
        dropped: n-grams dropped by ``skip``, or merged by ``map``.
        states, arcs: Size of G.
        state_order: int64 [states] n-gram order of each state's history (0 = the empty history).
        state_row: int64 [states] row of that history among the n-grams of its order (-1 for the empty one).
        ngram_words: Per order k, int64 [n_k, k] word ids of the n-grams (to name a state's history).
    """

    order: int = 0
    ngrams: dict[int, int] = field(default_factory=dict)
    oov_words: list[str] = field(default_factory=list)
    dropped: int = 0
    states: int = 0
    arcs: int = 0
    state_order: np.ndarray | None = None
    state_row: np.ndarray | None = None
    ngram_words: list[np.ndarray] = field(default_factory=list)

    def history(self, state: int, words: SymbolTable) -> tuple[str, ...]:
        """The n-gram history (words) of a G state; ``()`` for the empty history (the unigram state)."""
        if self.state_order is None or self.state_order[state] == 0:
            return ()
        k = int(self.state_order[state])
        return tuple(words.symbol(int(x)) for x in self.ngram_words[k - 1][int(self.state_row[state])])


def parse_oov_policy(text: str) -> tuple[str, str | None]:
    """Parse ``error``, ``skip`` or ``map:WORD`` into ``(kind, word)``.

    Raises:
        ValueError: anything else.
    """
    if text in ("error", "skip"):
        return text, None
    if text.startswith("map:") and len(text) > 4:
        return "map", text[4:]
    raise ValueError(f"--oov must be 'error', 'skip' or 'map:<word>' (e.g. map:<unk>), got {text!r}")


def arpa_vocabulary(arpa: str | os.PathLike) -> list[str]:
    """The unigrams of an ARPA file in file order (for lexicon-free graphs)."""
    from lm.arpa import iter_arpa

    out = []
    for e in iter_arpa(arpa):
        if e.order > 1:
            break
        out.append(e.words[0])
    return out


def unk_logprob(arpa: str | os.PathLike) -> float | None:
    """The log10 probability of the ``<unk>`` unigram of an ARPA file, or ``None`` when it has none."""
    from lm.arpa import iter_arpa

    for e in iter_arpa(arpa):
        if e.order > 1:
            break
        if e.words[0] == "<unk>":
            return float(e.logprob)
    return None


def find_ngram_lines(path: str | os.PathLike, ngrams: list[tuple[str, ...]]) -> dict[tuple[str, ...], int]:
    """Line numbers of several n-grams of an ARPA file in one pass (for error messages)."""
    from lm.arpa import open_text

    want = set(ngrams)
    sizes = {len(n) for n in want}
    out: dict[tuple[str, ...], int] = {}
    with open_text(Path(path)) as f:
        for lineno, raw in enumerate(f, start=1):
            fields = raw.split()
            for n in sizes:
                if len(fields) in (n + 1, n + 2):
                    key = tuple(fields[1 : n + 1])
                    if key in want and key not in out:
                        out[key] = lineno
            if len(out) == len(want):
                break
    return out


def _find_line(path: Path, words: tuple[str, ...]) -> int | None:
    """Line number of the n-gram ``words`` in an ARPA file (only called on the error path)."""
    from lm.arpa import open_text

    n = len(words)
    with open_text(path) as f:
        for lineno, raw in enumerate(f, start=1):
            fields = raw.split()
            if len(fields) in (n + 1, n + 2) and tuple(fields[1 : n + 1]) == words:
                return lineno
    return None


class _Order:
    """The n-grams of one order as arrays, with a sorted key index for lookups."""

    def __init__(self, words: np.ndarray, logp: np.ndarray, bo: np.ndarray):
        self.words = words  # int64 [n, k]
        self.logp = logp  # float64 [n]
        self.bo = bo  # float64 [n]
        self.keys = np.empty(0, np.int64)
        self.sorted_keys = np.empty(0, np.int64)
        self.perm = np.empty(0, np.int64)

    def index(self, keys: np.ndarray) -> None:
        self.keys = keys
        self.perm = np.argsort(keys, kind="stable")
        self.sorted_keys = keys[self.perm]

    def lookup(self, keys: np.ndarray) -> np.ndarray:
        """Row of each key, -1 when absent. int64 [m] -> int64 [m]."""
        if self.sorted_keys.size == 0:
            return np.full(keys.shape, -1, np.int64)
        pos = np.searchsorted(self.sorted_keys, keys)
        pos = np.minimum(pos, self.sorted_keys.size - 1)
        hit = (self.sorted_keys[pos] == keys) & (keys >= 0)
        return np.where(hit, self.perm[pos], -1)


def _read_orders(
    arpa: Path, words: SymbolTable, oov: str, stats: GrammarStats
) -> tuple[list[_Order], dict[int, list]]:
    from lm.arpa import iter_arpa, read_arpa_header

    kind, unk_word = parse_oov_policy(oov)
    unk = None
    if kind == "map":
        unk = words.get(unk_word)
        if unk is None:
            raise InputError(
                arpa, None, f"--oov map:{unk_word} but '{unk_word}' is not in the lexicon/word table; add it"
            )
    header = read_arpa_header(arpa)
    order = len(header)
    wid = {s: i for s, i in words}
    rows: dict[int, list] = {k: [] for k in range(1, order + 1)}
    oov_seen: dict[str, None] = {}
    from tqdm import tqdm

    bar = tqdm(total=sum(header.values()), unit=" n-grams", desc="reading ARPA", disable=None, leave=False)
    for n, e in enumerate(iter_arpa(arpa)):
        if n % 65536 == 0:
            bar.update(n - bar.n)
        ids = [wid.get(x, -1) for x in e.words]
        if -1 in ids:
            bad = [x for x, i in zip(e.words, ids) if i < 0]
            for x in bad:
                oov_seen.setdefault(x)
            if kind == "error":
                raise InputError(
                    arpa,
                    _find_line(arpa, e.words),
                    f"word '{bad[0]}' of the {e.order}-gram '{' '.join(e.words)}' is not in the lexicon "
                    "(words.txt); add it to the lexicon, or choose --oov skip or --oov map:<unk>"
                    + (
                        " (lmplz always writes <unk>: a lexicon line '<unk> <unk>' keeps it)"
                        if bad[0] == "<unk>"
                        else ""
                    ),
                )
            if kind == "skip":
                stats.dropped += 1
                continue
            ids = [unk if i < 0 else i for i in ids]
        rows[e.order].append((*ids, e.logprob, e.backoff))
    bar.close()
    stats.oov_words = list(oov_seen)
    stats.order = order
    out = []
    for k in range(1, order + 1):
        a = np.array(rows.pop(k), dtype=np.float64).reshape(-1, k + 2)
        w = a[:, :k].astype(np.int64)
        lp, bo = a[:, k], a[:, k + 1]
        if kind == "map" and len(w):
            # rewritten n-grams may collide: keep the most probable of each
            srt = np.lexsort((-lp,) + tuple(w[:, j] for j in reversed(range(k))))
            w, lp, bo = w[srt], lp[srt], bo[srt]
            first = np.ones(len(w), bool)
            first[1:] = np.any(w[1:] != w[:-1], axis=1)
            stats.dropped += int((~first).sum())
            w, lp, bo = w[first], lp[first], bo[first]
        out.append(_Order(w, lp, bo))
        stats.ngrams[k] = len(w)
    return out, rows


def make_grammar_fst(arpa: str | os.PathLike, words: SymbolTable, oov: str = "error"):
    """Compile an ARPA LM into G.

    Args:
        arpa: ARPA file (plain or gzip).
        words: Word table holding every LM word (or see ``oov``), and ``#0``, ``<s>``, ``</s>``.
        oov: ``error`` | ``skip`` | ``map:<word>`` for LM words missing from ``words``.

    Returns:
        ``(G, stats)``: G (tropical ``VectorFst``, input-label sorted; input = output = word id on word arcs,
        ``#0``:``<eps>`` on back-off arcs) and :class:`GrammarStats`.

    Raises:
        InputError: an OOV word under ``--oov error`` (file and line), no ``<s>`` unigram, or an n-gram whose
            history (its first n-1 words) is not itself in the LM.
    """
    from decoding.graph.fst_arrays import arrays_to_fst

    arpa = Path(arpa)
    for s in ("#0", "<s>", "</s>"):
        if s not in words:
            raise ValueError(f"the word table has no '{s}'")
    bos, eos, backoff_label = words.id("<s>"), words.id("</s>"), words.id("#0")
    stats = GrammarStats()
    orders, _ = _read_orders(arpa, words, oov, stats)
    N = len(orders)
    V = int(words.max_id) + 1
    # keys and prefix / suffix ids per order
    o1 = orders[0]
    o1.index(o1.words[:, 0].copy())
    prefix = [np.full(len(o1.words), -1, np.int64)]  # row of the (k-1)-gram prefix, order 1: empty history
    for k in range(2, N + 1):
        o = orders[k - 1]
        pid = orders[0].lookup(o.words[:, 0])
        for j in range(2, k):
            pid = orders[j - 1].lookup(np.where(pid >= 0, pid * V + o.words[:, j - 1], -1))
        if np.any(pid < 0):
            i = int(np.argmax(pid < 0))
            ng = tuple(words.symbol(int(x)) for x in o.words[i])
            raise InputError(
                arpa,
                _find_line(arpa, ng),
                f"the {k}-gram '{' '.join(ng)}' has no {k - 1}-gram '{' '.join(ng[:-1])}' for its history; "
                "the ARPA is not a valid back-off LM (re-create it with cifst lm build / lmplz)",
            )
        o.index(pid * V + o.words[:, k - 1])
        prefix.append(pid)

    def suffix_of(k: int) -> tuple[np.ndarray, np.ndarray]:
        """For order-k n-grams: (order, row) of their longest proper suffix that is in the LM."""
        o = orders[k - 1]
        n = len(o.words)
        s_ord = np.zeros(n, np.int64)  # 0 = empty history
        s_row = np.full(n, -1, np.int64)
        for start in range(k - 1, 0, -1):  # suffix words[start:], shortest first; longer ones overwrite
            sid = orders[0].lookup(o.words[:, start])
            for j in range(start + 1, k):
                sid = orders[j - start].lookup(np.where(sid >= 0, sid * V + o.words[:, j], -1))
            ok = sid >= 0
            s_ord[ok] = k - start
            s_row[ok] = sid[ok]
        return s_ord, s_row

    # live histories: orders 1..N-1 with a continuation (incl. </s>); <s> always
    live = []
    for k in range(1, N):
        has_child = np.zeros(len(orders[k - 1].words), bool)
        has_child[prefix[k]] = True
        if k == 1:
            has_child |= orders[0].words[:, 0] == bos
        has_child &= orders[k - 1].words[:, -1] != eos
        live.append(has_child)
    state_of = []
    num_states = 1  # state 0 = empty history
    for k in range(1, N):
        sid = np.full(len(live[k - 1]), -1, np.int64)
        cnt = int(live[k - 1].sum())
        sid[live[k - 1]] = np.arange(num_states, num_states + cnt)
        num_states += cnt
        state_of.append(sid)
    bos_row = np.flatnonzero(orders[0].words[:, 0] == bos)
    if bos_row.size == 0:
        raise InputError(arpa, None, "the LM has no '<s>' unigram, so G has no start state")
    start = int(state_of[0][bos_row[0]]) if N > 1 else 0

    # resolved target (state, extra cost) of each n-gram of order < N used as a history
    res_state: list[np.ndarray] = []
    res_cost: list[np.ndarray] = []
    suffixes = {k: suffix_of(k) for k in range(1, N + 1)}

    def resolve(s_ord: np.ndarray, s_row: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        st = np.zeros(len(s_ord), np.int64)
        co = np.zeros(len(s_ord), np.float64)
        for k in range(1, len(res_state) + 1):
            m = s_ord == k
            st[m] = res_state[k - 1][s_row[m]]
            co[m] = res_cost[k - 1][s_row[m]]
        return st, co

    for k in range(1, N):
        o = orders[k - 1]
        st, co = resolve(*suffixes[k])
        bo_cost = -LN10 * o.bo
        st = np.where(live[k - 1], state_of[k - 1], st)
        co = np.where(live[k - 1], 0.0, co + bo_cost)
        res_state.append(st)
        res_cost.append(co)

    src_l, dst_l, lab_l, ilab_l, w_l = [], [], [], [], []
    final = np.full(num_states, np.inf, np.float64)
    for k in range(1, N + 1):
        o = orders[k - 1]
        last = o.words[:, -1]
        src = np.zeros(len(last), np.int64) if k == 1 else state_of[k - 2][prefix[k - 1]]
        cost = -LN10 * o.logp
        is_eos = (last == eos) & (src >= 0)
        fin_src = src[is_eos]
        np.minimum.at(final, fin_src, cost[is_eos])
        word = (last != eos) & (last != bos) & np.isfinite(cost) & (src >= 0)
        if k < N:
            dst, extra = res_state[k - 1], res_cost[k - 1]
        else:
            dst, extra = resolve(*suffixes[k])
        src_l.append(src[word])
        dst_l.append(dst[word])
        lab_l.append(last[word])
        ilab_l.append(last[word])
        w_l.append((cost + extra)[word])
        if k < N:  # back-off arcs of live histories
            m = live[k - 1]
            b_st, b_co = resolve(*(a[m] for a in suffixes[k]))
            src_l.append(state_of[k - 1][m])
            dst_l.append(b_st)
            lab_l.append(np.zeros(int(m.sum()), np.int64))
            ilab_l.append(np.full(int(m.sum()), backoff_label, np.int64))
            w_l.append(b_co - LN10 * o.bo[m])
    src = np.concatenate(src_l)
    w = np.concatenate(w_l)
    G = arrays_to_fst(
        num_states,
        start,
        src,
        np.concatenate(dst_l),
        np.concatenate(ilab_l),
        np.concatenate(lab_l),
        w.astype(np.float32),
        final.astype(np.float32),
    )
    G.arcsort(sort_type="ilabel")
    stats.states, stats.arcs = num_states, int(src.size)
    stats.state_order = np.zeros(num_states, np.int64)
    stats.state_row = np.full(num_states, -1, np.int64)
    for k in range(1, N):
        rows = np.flatnonzero(state_of[k - 1] >= 0)
        stats.state_order[state_of[k - 1][rows]] = k
        stats.state_row[state_of[k - 1][rows]] = rows
    stats.ngram_words = [o.words for o in orders]
    log.info("G: %d-gram LM %s -> %d states, %d arcs", N, arpa, stats.states, stats.arcs)
    return G, stats
