"""Graph composition: L, G, T -> LG = min(det(L o G)) without disambiguation symbols -> TLG, epsilon-free.

Input: L (token ids + token disambiguation ids -> word ids, olabel-sorted), G (words, ``#0`` back-off arcs,
ilabel-sorted) and T (token id + 1 -> token id, olabel-sorted), all tropical ``pywrapfst`` FSTs. Output: TLG with
input labels = token id + 1 and output labels = word ids, no input epsilons, ilabel-sorted.

Steps (Kaldi ``mkgraph.sh`` / WeNet ``make_tlg.sh`` / icefall ``compile_hlg.py``): compose L o G; determinize
(functional: the disambiguation symbols make L o G determinizable) with a state cap so a non-determinizable input
(homophones without ``#k``) or an exploding one stops with a message naming the words instead of eating all memory;
minimize with labels and weights encoded (Kaldi ``fstminimizeencoded``); replace the disambiguation symbols by
epsilon and remove the epsilons (icefall ``k2.remove_epsilon`` on LG; words left on epsilon arcs move onto the token
arcs before them); then T o LG, here by OpenFst composition (:func:`compose_tlg`, the reference; the build uses
:func:`decoding.graph.expand.apply_topology`), removing T's epsilons (``ctc-compact``) from TLG too. Because LG has no
input epsilons after this, T o LG has none either, which is checked.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import tempfile
from dataclasses import dataclass

import numpy as np

from asr.errors import CifstError

__all__ = [
    "DeterminizeBlowup",
    "fst_size",
    "compose_lg",
    "determinize_capped",
    "minimize_encoded",
    "remove_disambig",
    "remove_input_epsilons",
    "compose_tlg",
    "diagnose_lexicon",
]

log = logging.getLogger(__name__)


class DeterminizeBlowup(CifstError):
    """Determinization stopped at its state cap; the message names the likely cause."""


@dataclass
class FstSize:
    states: int
    arcs: int

    def __str__(self) -> str:
        return f"{self.states} states, {self.arcs} arcs"


def fst_size(f) -> FstSize:
    """Number of states and arcs of a ``pywrapfst`` FST."""
    n = f.num_states()
    num_arcs = f.num_arcs
    return FstSize(n, sum(num_arcs(s) for s in range(n)))


def compose_lg(L, G):
    """L o G, trimmed. L must be olabel-sorted, G ilabel-sorted."""
    import pywrapfst as fst

    LG = fst.compose(L, G, connect=True)
    if LG.start() < 0 or LG.num_states() == 0:
        raise CifstError(
            "L o G is empty: no word sequence of the LM can be spelled by the lexicon (check that the lexicon's "
            "words and the LM's words are the same strings, e.g. upper/lower case)"
        )
    return LG


def diagnose_lexicon(lexicon, disambig: list[int] | None, limit: int = 5) -> str:
    """Name pronunciations that make L o G non-determinizable: homophones or prefixes lacking ``#k``.

    Args:
        lexicon: :class:`decoding.graph.lexicon.Lexicon`.
        disambig: Per pronunciation the ``k`` of ``#k`` (0 = none) or ``None`` when none were added.

    Returns:
        A sentence naming up to ``limit`` offending word pairs with their lexicon lines, or ``""``.
    """
    by_seq: dict[tuple[int, ...], list[int]] = {}
    for n, p in enumerate(lexicon.prons):
        by_seq.setdefault(p.tokens, []).append(n)
    marked = (lambda n: disambig[n] > 0) if disambig is not None else (lambda n: False)
    problems = []
    for seq, idx in by_seq.items():
        unmarked = [n for n in idx if not marked(n)]
        if len(idx) > 1 and unmarked:
            a, b = idx[0], idx[1]
            problems.append((a, b, "spell the same tokens"))
        for i in range(1, len(seq)):
            for n in by_seq.get(seq[:i], ()):
                if not marked(n):
                    problems.append((n, idx[0], "is a prefix of"))
        if len(problems) >= limit:
            break
    if not problems:
        return ""
    src = lexicon.path or "the generated lexicon"
    parts = []
    for a, b, how in problems[:limit]:
        pa, pb = lexicon.prons[a], lexicon.prons[b]
        if how == "spell the same tokens":
            parts.append(
                f"'{pa.word}' (line {pa.line}) and '{pb.word}' (line {pb.line}) spell the same tokens"
            )
        else:
            parts.append(f"'{pa.word}' (line {pa.line}) is a prefix of '{pb.word}' (line {pb.line})")
    return f"in {src}: " + "; ".join(parts) + " without a disambiguation symbol #k"


@contextlib.contextmanager
def _capture_stderr(box: list[str], limit: int = 4000):
    """Redirect the process's fd 2 (where OpenFst logs) to a temporary file; append its head to ``box``."""
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as tmp:
        os.dup2(tmp.fileno(), 2)
        try:
            yield box
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            tmp.seek(0)
            box.append(tmp.read(limit).decode("utf-8", "replace"))


def determinize_capped(f, max_states: int, what: str = "L o G", cause: str = "", blame=None):
    """Determinize (functional, tropical) but stop at ``max_states``.

    A cause known in advance (``cause`` non-empty, e.g. homophones without ``#k``: the input is not functional and
    determinization would never end) raises at once. OpenFst's own complaints are captured, not printed.

    Args:
        f: The FST (no input epsilons: they would be kept as symbols).
        max_states: State cap; reaching it raises instead of running out of memory.
        what: Name of the graph for messages.
        cause: A diagnosis (from :func:`diagnose_lexicon`); non-empty means "will not determinize".
        blame: Called when the cap is hit; returns a sentence naming the n-gram histories that make the result
            big (:func:`decoding.graph.trie_lg.blame_message`).

    Returns:
        The deterministic FST.

    Raises:
        DeterminizeBlowup: a known cause, the cap was reached, or OpenFst reported the input non-functional.
    """
    import pywrapfst as fst

    if cause:
        raise DeterminizeBlowup(
            f"{what} cannot be determinized (determinization would not end): {cause}; keep the disambiguation "
            "symbols on (the default) or remove the duplicate pronunciations"
        )
    box: list[str] = []
    with _capture_stderr(box):
        d = fst.determinize(f, nstate=max_states)
    msgs = box[0] if box else ""
    if "non-functional" in msgs or d.properties(fst.ERROR, True) == fst.ERROR:
        first = msgs.strip().splitlines()[0] if msgs.strip() else "error"
        raise DeterminizeBlowup(
            f"determinizing {what} failed: OpenFst says '{first}'; two word sequences share one token sequence "
            "(homophones without disambiguation symbols?)"
        )
    if d.num_states() >= max_states:
        why = f" {blame()}." if blame is not None else ""
        raise DeterminizeBlowup(
            f"determinizing {what} ({fst_size(f)}) exceeded {max_states} states and was stopped.{why} The LM is too "
            "large for this lexicon: prune it (cifst lm prune LM.arpa SMALL.arpa --threshold 1e-8, or cifst lm "
            "build --prune 0 0 1 1) or raise --max-det-states"
        )
    return d


def minimize_encoded(f):
    """Minimize as an acceptor over (ilabel, olabel, weight) triples, in place (Kaldi ``fstminimizeencoded``)."""
    import pywrapfst as fst

    mapper = fst.EncodeMapper(f.arc_type(), True, True)
    f.encode(mapper)
    f.minimize()
    f.decode(mapper)
    return f


def remove_disambig(f, first_disambig: int, num_disambig: int | None = None):
    """Replace input labels ``>= first_disambig`` by epsilon and remove every input epsilon.

    Epsilon:epsilon arcs (G's back-off) go by OpenFst ``rmepsilon``. A disambiguation arc that carries a word (the
    determinized L o G emits a homophone's word on its ``#k`` arc) cannot simply vanish, since an OpenFst arc holds one
    output label; its word moves onto the arcs entering its source state, which read a token and emit nothing:
    ``r -t:<eps>/a-> p -<eps>:w/b-> q`` becomes ``r -t:w/a+b-> q`` (k2 keeps such words as ragged aux labels).

    Args:
        f: det(L o G) with token disambiguation symbols on its input side; a ``VectorFst`` is modified.
        first_disambig: Id of the first token disambiguation symbol (``#0``).
        num_disambig: How many there are (``#0`` .. ``#num_disambig-1``); ``None`` = every label from
            ``first_disambig`` up.

    Returns:
        LG without input epsilons, trimmed, ilabel-sorted.

    Raises:
        CifstError: a word-bearing epsilon arc whose entering arcs already emit a word or start at the start state
            (cannot happen with disambiguation symbols from :func:`~decoding.graph.lexicon.add_disambig`).
    """
    g = f if f.fst_type() == "vector" else fst_convert_vector(f)  # relabelled in place
    top = (
        first_disambig + num_disambig - 1 if num_disambig is not None else max(first_disambig, _max_ilabel(g))
    )
    g.relabel_pairs(ipairs=[(k, 0) for k in range(first_disambig, top + 1)])
    return remove_input_epsilons(g)


def remove_input_epsilons(f):
    """Make ``f`` input-epsilon-free: ``rmepsilon`` for epsilon:epsilon arcs, then each epsilon:word arc's word is
    moved onto the arcs entering its source state (see :func:`remove_disambig`), then parallel arcs are merged.

    Args:
        f: A ``VectorFst`` (modified).

    Returns:
        The epsilon-free FST, trimmed and ilabel-sorted.

    Raises:
        CifstError: an epsilon:word arc at the start state or entered by an arc that already emits a word.
    """
    from decoding.graph.fst_arrays import arrays_to_fst, fst_to_arrays

    g = f
    g.rmepsilon()
    a = fst_to_arrays(g)
    del g
    src, dst, il, ol, w = a.src, a.dst, a.ilabel, a.olabel, a.weight
    eps = np.flatnonzero(il == 0)
    if eps.size:
        order = np.argsort(dst, kind="stable")
        dst_sorted = dst[order]
        p = src[eps]
        lo = np.searchsorted(dst_sorted, p, "left")
        cnt = np.searchsorted(dst_sorted, p, "right") - lo
        if np.any(p == a.start) or np.any(cnt == 0):
            raise CifstError(
                "the graph has a word-emitting epsilon arc at its start state (an empty pronunciation?)"
            )
        rep = np.repeat(eps, cnt)
        first = np.repeat(lo - np.concatenate([[0], np.cumsum(cnt)[:-1]]), cnt)
        inc = order[first + np.arange(int(cnt.sum()))]
        if np.any(ol[inc] != 0) or np.any(il[inc] == 0):
            raise CifstError(
                f"the graph has word-emitting epsilon arcs entered by {int(np.count_nonzero(ol[inc] != 0))} arcs "
                "that already emit a word (or by other epsilon arcs); cannot make it epsilon-free (check the lexicon's disambiguation)"
            )
        keep = np.ones(a.num_arcs, bool)
        keep[eps] = False
        cat = np.concatenate
        src, dst, il, ol, w = (
            cat([src[keep], src[inc]]),
            cat([dst[keep], dst[rep]]),
            cat([il[keep], il[inc]]),
            cat([ol[keep], ol[rep]]),
            cat([w[keep], w[inc] + w[rep]]),
        )
        log.info("moved the words of %d epsilon arcs onto %d entering arcs", eps.size, inc.size)
    keep = _cheapest_parallel(src, dst, il, ol, w)
    if keep is not None:
        log.info("merged %d parallel arcs", src.size - keep.size)
        src, dst, il, ol, w = src[keep], dst[keep], il[keep], ol[keep], w[keep]
    g = arrays_to_fst(a.num_states, a.start, src, dst, il, ol, w, a.final)
    g.connect()
    g.arcsort(sort_type="ilabel")
    return g


def fst_convert_vector(f):
    import pywrapfst as fst

    return fst.convert(f, "vector")


def _max_ilabel(f) -> int:
    from decoding.graph.fst_arrays import fst_to_arrays

    a = fst_to_arrays(f)
    return int(a.ilabel.max()) if a.num_arcs else 0


def _cheapest_parallel(src, dst, il, ol, w) -> np.ndarray | None:
    """Indices of the arcs to keep so that of arcs with equal (source, ilabel, olabel, destination) only the
    cheapest stays (the tropical sum); ``None`` when there are no such duplicates.

    Epsilon removal leaves such pairs where a history's own word arc and the copy from its back-off state lead to
    the same state; a path through either has the same labels, so only the cheaper one can win.
    """
    if src.size < 2:
        return None
    order = np.lexsort((w, dst, ol, il, src))
    s, i, o, d = src[order], il[order], ol[order], dst[order]
    first = np.ones(src.size, bool)
    first[1:] = (s[1:] != s[:-1]) | (i[1:] != i[:-1]) | (o[1:] != o[:-1]) | (d[1:] != d[:-1])
    if first.all():
        return None
    return np.sort(order[first])


def compose_tlg(T, LG):
    """T o LG, epsilon-removed where T has epsilons, checked for input epsilons, ilabel-sorted.

    Args:
        T: Topology (olabel-sorted).
        LG: Output of :func:`remove_disambig` (ilabel-sorted, no input epsilons).

    Returns:
        TLG.

    Raises:
        CifstError: TLG still has input-epsilon arcs (LG emits a word on an epsilon arc).
    """
    import pywrapfst as fst

    from decoding.graph.fst_arrays import fst_to_arrays

    TLG = fst.compose(T, LG, connect=True)
    a = fst_to_arrays(TLG)
    if np.any(a.ilabel == 0):
        TLG.rmepsilon()
        TLG.connect()
        a = fst_to_arrays(TLG)
        bad = int(np.count_nonzero(a.ilabel == 0))
        if bad:
            raise CifstError(
                f"TLG has {bad} input-epsilon arcs with word outputs after epsilon removal; the search cannot "
                "follow them (LG emits words on epsilon arcs: check the lexicon for empty pronunciations)"
            )
    TLG.arcsort(sort_type="ilabel")
    return TLG
