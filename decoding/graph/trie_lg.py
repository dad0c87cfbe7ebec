"""det(L o G) built directly, without composing or determinizing: the lexicon as a trie under every history of G.

Input: the pronunciations (:class:`~decoding.graph.lexicon.Lexicon` with the ``#k`` of :func:`add_disambig`, so no
token sequence is a prefix of another) and G as arc arrays (:func:`~decoding.graph.fst_arrays.fst_to_arrays` of
:func:`~decoding.graph.grammar.make_grammar_fst`: word arcs ``w:w``, back-off arcs ``#0:<eps>``). Output:
:class:`TrieLg`, the arcs of a deterministic transducer equivalent to OpenFst's ``determinize(compose(L, G))``
(same token-string -> word-string relation, same costs; the tests check it path by path and with
``randequivalent``; OpenFst has fewer states only where two histories have identical subsets, i.e. the same words
to the same destinations with the same relative costs, which minimization merges in both), or :class:`~decoding.graph.compose.DeterminizeBlowup` naming the n-gram context and words.

Why: OpenFst determinizes L o G subset by subset, hashing every subset; on the unpruned 4-gram of the benchmark
L o G alone has 12.2M states (4.3 GB) and determinizing it did not finish in 30 minutes on the loaded machine. Its
result has a simple known shape, which we write down with numpy sorts instead:

- each G state ``h`` keeps one state (the "root", same id as in G) with G's final cost and back-off arcs
  (input = token-side ``#0``);
- the word arcs ``h -w/c-> d`` of ``h`` (one entry per pronunciation ``p`` of ``w``, cost ``c + -ln prob(p)``) are
  spelled as a trie: the determinized subset after reading a prefix ``x`` at ``h`` is the set of entries whose
  token sequence starts with ``x``. A trie node whose subset holds several entries is a state of its own; the arc
  into it carries the smallest cost of its subset minus its parent's (OpenFst's weight residuals);
- at the first token where the subset becomes one entry, the arc outputs the word and the rest of the cost, and
  goes to the *tail* state ``(p, i, d)`` ("i tokens of p read, then go to d") which is shared by every history
  whose entry for ``p`` leads to ``d``; the tail ends on the root of ``d``.

With the entries sorted by ``(h, pronunciation rank)`` the trie depth at which entry ``e`` becomes unique is
``1 + max(lcp(e-1, e), lcp(e, e+1))`` (longest common prefixes of neighbours), so counting and building the states
takes a few sorts and a loop over the trie depth. The counts are known before anything is allocated, so a size
cap costs nothing and its message can name the histories that make the graph big; two entries of one history
whose token sequences collide (homophones or prefixes without ``#k``) are named with the n-gram context they both
follow. Reference: the subset construction of Mohri, "Finite-state transducers in language and speech processing"
(1997), as OpenFst ``determinize`` implements it; the trie view is ours.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from asr.errors import CifstError
from decoding.graph.compose import DeterminizeBlowup
from decoding.graph.fst_arrays import FstArrays

__all__ = ["TrieLg", "trie_lg", "det_state_counts", "LgEntries", "lg_entries", "blame_message"]

log = logging.getLogger(__name__)

_CHUNK = 1 << 20  # entries per block when comparing token sequences


@dataclass
class LgEntries:
    """The word arcs of G times the pronunciations of their words, sorted by (history, pronunciation rank).

    Attributes:
        h: int64 [E] G source state (history) of each entry.
        d: int64 [E] G destination state.
        pron: int64 [E] pronunciation index (into the lexicon).
        word: int64 [E] word id.
        cost: float64 [E] G arc cost + pronunciation cost.
        k: int64 [E] trie depth at which the entry becomes unique in its history (tokens read when the word is
            output); ``k > length`` means its sequence collides with a neighbour's (no ``#k``).
        lcp_prev: int64 [E] common prefix length with the previous entry of the same history (0 for the first).
        seqs: int32 [P, Lmax] token sequences (+ ``#k``) of the pronunciations, padded with -1.
        lens: int64 [P] their lengths.
        num_g_states: S of G.
    """

    h: np.ndarray
    d: np.ndarray
    pron: np.ndarray
    word: np.ndarray
    cost: np.ndarray
    k: np.ndarray
    lcp_prev: np.ndarray
    seqs: np.ndarray
    lens: np.ndarray
    num_g_states: int


@dataclass
class TrieLg:
    """det(L o G) as arcs (see the module docstring) and its sizes.

    Attributes:
        arrays: :class:`FstArrays` (arcs not sorted); input = token id or token disambiguation id, output = word id.
        roots, trie_states, tail_states: States by kind (``roots`` = G's states).
    """

    arrays: FstArrays
    roots: int
    trie_states: int
    tail_states: int


def _pron_table(lexicon, disambig: list[int] | None, first_disambig: int, words):
    n = len(lexicon.prons)
    seqs = [
        list(p.tokens) + ([first_disambig + disambig[i]] if disambig is not None and disambig[i] else [])
        for i, p in enumerate(lexicon.prons)
    ]
    lens = np.array([len(s) for s in seqs], np.int64)
    table = np.full((n, int(lens.max(initial=1))), -1, np.int32)
    for i, s in enumerate(seqs):
        table[i, : len(s)] = s
    wid = np.array([words.id(p.word) for p in lexicon.prons], np.int64)
    cost = np.array([-math.log(p.prob) for p in lexicon.prons], np.float64)
    return table, lens, wid, cost


def _lcp(table: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Longest common prefix length of the sequences ``table[a[i]]`` and ``table[b[i]]``. int64 [m]."""
    out = np.empty(a.size, np.int64)
    for lo in range(0, a.size, _CHUNK):
        ta, tb = table[a[lo : lo + _CHUNK]], table[b[lo : lo + _CHUNK]]
        eq = (ta == tb) & (ta >= 0)
        out[lo : lo + _CHUNK] = np.cumprod(eq, axis=1, dtype=np.int8).sum(1)
    return out


def lg_entries(lexicon, disambig, first_disambig: int, words, g: FstArrays) -> LgEntries:
    """Pair every word arc of G with the pronunciations of its word and find where each becomes unique.

    Args:
        lexicon: :class:`~decoding.graph.lexicon.Lexicon`.
        disambig: Per pronunciation the ``k`` of ``#k`` (0 = none), or ``None`` for no disambiguation symbols.
        first_disambig: Token-side id of ``#0``.
        words: Word table (``words.txt``) with ``#0``.
        g: G's arcs.

    Returns:
        :class:`LgEntries`.
    """
    table, lens, pw, pc = _pron_table(lexicon, disambig, first_disambig, words)
    backoff = words.id("#0")
    wa = np.flatnonzero((g.ilabel != backoff) & (g.ilabel > 0))
    num_words = int(max(pw.max(initial=0), int(g.ilabel.max(initial=0)))) + 1
    by_word = np.argsort(pw, kind="stable")
    cnt = np.bincount(pw, minlength=num_words)
    off = np.concatenate([[0], np.cumsum(cnt)[:-1]])
    gw = g.ilabel[wa].astype(np.int64)
    n_per = cnt[gw]
    total = int(n_per.sum())
    arc = np.repeat(wa, n_per)
    within = np.arange(total, dtype=np.int64) - np.repeat(np.cumsum(n_per) - n_per, n_per)
    pron = by_word[np.repeat(off[gw], n_per) + within]
    if total == 0:
        raise CifstError(
            "L o G is empty: no word of the LM has a pronunciation (check that the lexicon's words and the LM's "
            "words are the same strings, e.g. upper/lower case)"
        )
    rank = np.empty(len(pw), np.int64)
    rank[np.lexsort(table.T[::-1])] = np.arange(len(pw))
    h = g.src[arc]
    order = np.lexsort((rank[pron], h))
    arc, pron, h = arc[order], pron[order], h[order]
    lcp = _lcp(table, pron[:-1], pron[1:])
    lcp[h[1:] != h[:-1]] = 0
    lcp_prev = np.concatenate([[0], lcp])
    lcp_next = np.concatenate([lcp, [0]])
    k = np.maximum(lcp_prev, lcp_next) + 1
    return LgEntries(
        h=h,
        d=g.dst[arc],
        pron=pron,
        word=pw[pron],
        cost=g.weight[arc].astype(np.float64) + pc[pron],
        k=k,
        lcp_prev=lcp_prev,
        seqs=table,
        lens=lens,
        num_g_states=g.num_states,
    )


def _tails(e: LgEntries):
    """Distinct (pronunciation, destination) tails: keys, inverse per entry with k < length, first depth, size."""
    t = np.flatnonzero(e.k < e.lens[e.pron])
    key = e.pron[t] * e.num_g_states + e.d[t]
    ukey, inv = np.unique(key, return_inverse=True)
    first = np.full(ukey.size, np.iinfo(np.int64).max, np.int64)
    np.minimum.at(first, inv, e.k[t])
    up = ukey // e.num_g_states
    size = e.lens[up] - first
    return t, ukey, inv, first, size


def det_state_counts(e: LgEntries) -> tuple[np.ndarray, int]:
    """States of det(L o G) per G state (its root + its own trie nodes), and the shared tail states.

    Returns:
        ``(per_history int64 [S], tails)``.
    """
    new = np.maximum(0, e.k - 1 - e.lcp_prev)
    per = np.bincount(e.h, weights=new, minlength=e.num_g_states).astype(np.int64) + 1
    return per, int(_tails(e)[4].sum())


Describe = Callable[[list[int]], list[str]]


def _check_collisions(e: LgEntries, lexicon, describe: Describe) -> None:
    bad = np.flatnonzero(e.k > e.lens[e.pron])
    if not bad.size:
        return
    i = int(bad[0])
    j = (
        i + 1
        if i + 1 < e.h.size and e.h[i + 1] == e.h[i] and e.lcp_prev[i + 1] >= e.lens[e.pron[i]]
        else i - 1
    )
    a, b = lexicon.prons[int(e.pron[i])], lexicon.prons[int(e.pron[j])]
    if e.lens[e.pron[i]] == e.lens[e.pron[j]]:
        how = f"'{a.word}' (line {a.line}) and '{b.word}' (line {b.line}) spell the same tokens"
    else:
        how = f"'{a.word}' (line {a.line}) is a prefix of '{b.word}' (line {b.line})"
        by_seq = {p.tokens: p for p in lexicon.prons}
        rest = by_seq.get(b.tokens[len(a.tokens) :])
        if rest is not None:  # the classic case: a word spelled like two others in a row
            how = (
                f"'{b.word}' (line {b.line}) spells the same tokens as '{a.word}' (line {a.line}) + "
                f"'{rest.word}' (line {rest.line})"
            )
    src = lexicon.path or "the generated lexicon"
    raise DeterminizeBlowup(
        f"L o G cannot be determinized (determinization would not end): in {src}, {how} without a "
        f"disambiguation symbol #k, and both follow {describe([int(e.h[i])])[0]} ({bad.size} colliding "
        "word entries in all); keep the disambiguation symbols on (the default) or remove the duplicate "
        "pronunciations"
    )


def blame_message(
    e: LgEntries, describe: Describe, state_order: np.ndarray | None = None, top: int = 3
) -> str:
    """Say which n-gram histories make det(L o G) big.

    Args:
        e: :func:`lg_entries`.
        describe: Names G states (n-gram context and ARPA line).
        state_order: int64 [S] history length of each G state (:attr:`GrammarStats.state_order`), for the
            per-order totals; ``None`` = leave them out.
        top: How many of the largest contexts to name (the empty history, which holds every word, aside).

    Returns:
        One paragraph: total states, states per history order, the largest contexts with their ARPA lines.
    """
    per, tails = det_state_counts(e)
    total = int(per.sum()) + tails
    parts = [f"det(L o G) has up to {total} states ({tails} of them word tails shared by all histories)"]
    if state_order is not None:
        by = np.bincount(state_order, weights=per, minlength=1).astype(np.int64)
        num = np.bincount(state_order, minlength=by.size)
        parts.append(
            "by history length: "
            + "; ".join(
                f"{k}-word histories: {int(num[k])} with {int(by[k])} states"
                for k in range(by.size)
                if num[k]
            )
        )
    rest = per.copy()
    rest[0] = -1  # the empty history holds every word: the lexicon's own trie
    best = [int(s) for s in np.argsort(-rest, kind="stable")[:top] if rest[s] > 1]
    if best:
        names = describe(best)
        parts.append(
            "largest n-gram contexts: "
            + "; ".join(f"{name}: {int(per[s]) - 1} trie states" for name, s in zip(names, best))
        )
    return ". ".join(parts)


def trie_lg(
    lexicon,
    disambig: list[int] | None,
    first_disambig: int,
    words,
    g: FstArrays,
    max_states: int = 0,
    describe: Describe | None = None,
    state_order: np.ndarray | None = None,
) -> TrieLg:
    """Build det(L o G) (see the module docstring).

    Args:
        lexicon: :class:`~decoding.graph.lexicon.Lexicon` (no optional silence: use OpenFst for that).
        disambig: ``#k`` per pronunciation (:func:`~decoding.graph.lexicon.add_disambig`), or ``None``.
        first_disambig: Token-side id of ``#0`` (= number of tokens).
        words: Word table with ``#0``.
        g: G's arcs (:func:`~decoding.graph.fst_arrays.fst_to_arrays`).
        max_states: Stop before building when the result would have more states (0 = no cap).
        describe: Names G states for messages (their n-gram contexts and ARPA lines), a list at a time.
        state_order: History length of each G state, for the size message (see :func:`blame_message`).

    Returns:
        :class:`TrieLg`.

    Raises:
        DeterminizeBlowup: two pronunciations of one history collide (homophones / prefixes without ``#k``:
            determinization would not end), or the result exceeds ``max_states``; both name the n-gram context.
    """
    describe = describe or (lambda states: [f"G state {s}" for s in states])
    e = lg_entries(lexicon, disambig, first_disambig, words, g)
    _check_collisions(e, lexicon, describe)
    S = g.num_states
    t_idx, ukey, inv, t_first, t_size = _tails(e)
    trie_states = int(np.maximum(0, e.k - 1 - e.lcp_prev).sum())
    tail_states = int(t_size.sum())
    num_states = S + trie_states + tail_states
    if max_states and num_states > max_states:
        raise DeterminizeBlowup(
            f"{blame_message(e, describe, state_order)}; that exceeds --max-det-states {max_states}. Prune the LM (cifst lm "
            "prune LM.arpa SMALL.arpa --threshold 1e-8, or cifst lm build --prune 0 0 1 1: most of those histories "
            "are singleton n-grams), or raise --max-det-states"
        )
    log.info(
        "det(L o G) as tries: %d histories, %d trie states, %d tail states, %d word entries",
        S,
        trie_states,
        tail_states,
        e.h.size,
    )
    src_l, dst_l, il_l, ol_l, w_l = [], [], [], [], []

    def add(src, dst, il, ol, w):
        src_l.append(np.asarray(src, np.int64))
        dst_l.append(np.asarray(dst, np.int64))
        il_l.append(np.asarray(il, np.int64))
        ol_l.append(np.broadcast_to(np.asarray(ol, np.int64), np.shape(src)))
        w_l.append(np.asarray(w, np.float64))

    # trie nodes, depth by depth; node[e] / minw[e] = the entry's deepest shared node so far and its cost
    node = e.h.copy()
    minw = np.zeros(e.h.size, np.float64)
    next_id = S
    kmax = int(e.k.max(initial=1))
    for j in range(1, kmax):
        act = np.flatnonzero(e.k - 1 >= j)
        if not act.size:
            break
        new = e.lcp_prev[act] < j
        starts = np.flatnonzero(new)
        ids = np.arange(next_id, next_id + starts.size, dtype=np.int64)
        next_id += starts.size
        blk = np.cumsum(new) - 1
        mw = np.minimum.reduceat(e.cost[act], starts)
        first = act[starts]
        add(node[first], ids, e.seqs[e.pron[first], j - 1], 0, mw - minw[first])
        node[act] = ids[blk]
        minw[act] = mw[blk]
    assert next_id == S + trie_states
    # branch arcs: the word is output where its entry becomes unique
    dest = e.d.copy()
    tail_base = next_id + np.cumsum(t_size) - t_size
    dest[t_idx] = tail_base[inv] + (e.k[t_idx] - t_first[inv])
    add(node, dest, e.seqs[e.pron, e.k - 1], e.word, e.cost - minw)
    # shared tails (p, i, d): i = t_first .. len-1, the last arc into d's root
    if t_size.size:
        rep = np.repeat(np.arange(ukey.size), t_size)
        i = t_first[rep] + (np.arange(rep.size) - np.repeat(np.cumsum(t_size) - t_size, t_size))
        up, ud = ukey // S, ukey % S
        src = tail_base[rep] + (i - t_first[rep])
        last = i == e.lens[up[rep]] - 1
        add(src, np.where(last, ud[rep], src + 1), e.seqs[up[rep], i], 0, np.zeros(rep.size))
    # G's back-off arcs, read by L's #0 self-loop
    bo = np.flatnonzero(g.ilabel == words.id("#0"))
    add(g.src[bo], g.dst[bo], np.full(bo.size, first_disambig), 0, g.weight[bo])
    final = np.full(num_states, np.inf, np.float32)
    final[:S] = g.final
    cat = np.concatenate
    arrays = FstArrays(
        start=g.start,
        final=final,
        src=cat(src_l),
        dst=cat(dst_l),
        ilabel=cat(il_l).astype(np.int32),
        olabel=cat(ol_l).astype(np.int32),
        weight=cat(w_l).astype(np.float32),
    )
    return TrieLg(arrays, S, trie_states, tail_states)
