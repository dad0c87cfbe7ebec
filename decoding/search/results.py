"""From a searched path to what a person reads: words, token alignment, word times and confidences.

Input: a :class:`~decoding.search.beam.PathResult` (one arc per row) or a graph-less token path, the graph's arc
arrays, the symbol tables and the utterance's posteriors (and CIF row times). Output: :class:`UttResult` with the
words, the emitted tokens with their rows, and one :class:`WordSpan` per word (start, duration, confidence) as the
``ctm`` needs.

Token emissions follow the row type: CTC frames (``frame``) emit a token at the first row of a run of equal
non-blank labels (Graves et al. 2006); CIF rows (``cif``) emit one token per non-blank row. Words get their tokens
by spelling (tokens with the sentencepiece ``▁`` removed concatenate to the word, true for character, BPE and mixed
lexicons); when a lexicon is not spelled that way, word ``k`` takes the tokens from the row of its output label up to
the next word's. Times are rows x ``frame_shift`` for frames and the ``times.scp`` start/end for CIF rows.
Confidence is the mean over the word's tokens of the token's highest posterior over its rows.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

__all__ = ["WordSpan", "UttResult", "TokenPath", "emissions", "align_words", "format_ctm", "format_nbest"]

WORD_START = "\u2581"


@dataclass
class WordSpan:
    """One ``ctm`` entry: ``word`` from ``start`` for ``duration`` seconds, confidence in [0, 1]."""

    word: str
    start: float
    duration: float
    confidence: float


@dataclass
class TokenPath:
    """A decoded path reduced to its emitted tokens.

    Attributes:
        tokens: token ids emitted, in order.
        first_row: first row of each token (int, same length as ``tokens``).
        last_row: last row of each token (a CTC run can span several frames).
        word_ids: word ids in order (graph output labels; empty for graph-less search).
        word_rows: the row at which each word's output label was read.
    """

    tokens: list[int]
    first_row: list[int]
    last_row: list[int]
    word_ids: list[int] = field(default_factory=list)
    word_rows: list[int] = field(default_factory=list)


@dataclass
class UttResult:
    """The decoding result of one utterance.

    Attributes:
        key: Utterance id.
        words: Recognized words.
        spans: One :class:`WordSpan` per word (same order), for the ``ctm``.
        cost: Total path cost (lower is better); 0 for greedy search.
        am_cost: Acoustic part ``-acoustic_scale * sum(logpost)`` (+ blank penalties).
        graph_cost: Graph part (scaled arc weights + final cost).
        reached_final: False when the search ended outside a final state (Kaldi's fallback to the best token).
        tokens: Emitted token ids.
        nbest: ``(words, cost)`` pairs, best first (the 1-best included).
    """

    key: str
    words: list[str]
    spans: list[WordSpan]
    cost: float = 0.0
    am_cost: float = 0.0
    graph_cost: float = 0.0
    reached_final: bool = True
    tokens: list[int] = field(default_factory=list)
    nbest: list[tuple[list[str], float]] = field(default_factory=list)


def emissions(labels: np.ndarray, row_type: str) -> tuple[list[int], list[int], list[int]]:
    """Token emissions of a label-per-row path.

    Args:
        labels: int [T] token id read at each row (0 = blank).
        row_type: ``"frame"`` (CTC: runs of equal labels are one token) or ``"cif"`` (each non-blank row a token).

    Returns:
        (tokens, first_row, last_row) lists.
    """
    toks, first, last = [], [], []
    prev = 0
    for t, lab in enumerate(np.asarray(labels).tolist()):
        if lab == 0:
            prev = 0
            continue
        if row_type == "frame" and lab == prev:
            last[-1] = t
            continue
        toks.append(lab)
        first.append(t)
        last.append(t)
        prev = lab
    return toks, first, last


def _spelled_groups(token_syms: list[str], words: list[str]) -> list[list[int]] | None:
    """Assign tokens to words by spelling; None when the tokens do not spell the words."""
    groups: list[list[int]] = []
    k, acc, cur = 0, "", []
    for i, sym in enumerate(token_syms):
        piece = sym.replace(WORD_START, "")
        if not piece and not cur:
            # a bare word-start piece belongs to the next word
            cur.append(i)
            continue
        if k >= len(words):
            return None
        acc += piece
        cur.append(i)
        if acc == words[k]:
            groups.append(cur)
            k, acc, cur = k + 1, "", []
        elif not words[k].startswith(acc):
            return None
    if k != len(words) or acc:
        return None
    if cur and groups:
        groups[-1].extend(cur)
    return groups


def _row_groups(path: TokenPath) -> list[list[int]]:
    """Assign tokens to words by the rows at which the words' output labels were read."""
    n_words = len(path.word_ids)
    groups: list[list[int]] = [[] for _ in range(n_words)]
    if not n_words:
        return groups
    rows = path.word_rows
    for i, r in enumerate(path.first_row):
        k = int(np.searchsorted(rows, r, side="right")) - 1
        groups[max(k, 0)].append(i)
    return groups


def align_words(
    path: TokenPath,
    words: list[str],
    token_syms: list[str],
    logprobs: np.ndarray,
    row_type: str,
    frame_shift: float,
    times: np.ndarray | None = None,
) -> list[WordSpan]:
    """Word start/duration/confidence for a path.

    Args:
        path: The emitted tokens and word labels.
        words: Word strings of ``path.word_ids`` (or of the spelled tokens for graph-less search).
        token_syms: Symbol of each token id (tokens.txt).
        logprobs: float32 [T, V] the utterance's log-posteriors.
        row_type: ``"frame"`` or ``"cif"``.
        frame_shift: Seconds per row for frames (also the fallback for CIF rows without times).
        times: float32 [T, 2] start/end seconds of each CIF row, or None.

    Returns:
        One span per word.
    """
    syms = [token_syms[t] if 0 <= t < len(token_syms) else "" for t in path.tokens]
    groups = _spelled_groups(syms, words)
    if groups is None:
        groups = _row_groups(path) if len(path.word_ids) == len(words) else [[] for _ in words]
    spans = []
    use_times = row_type == "cif" and times is not None and len(times) == len(logprobs)
    for w, grp in zip(words, groups):
        if not grp:
            spans.append(WordSpan(w, 0.0, 0.0, 0.0))
            continue
        r0, r1 = path.first_row[grp[0]], path.last_row[grp[-1]]
        if use_times:
            start, end = float(times[r0, 0]), float(times[r1, 1])
        else:
            start, end = r0 * frame_shift, (r1 + 1) * frame_shift
        probs = [
            float(np.exp(np.max(logprobs[path.first_row[i] : path.last_row[i] + 1, path.tokens[i]])))
            for i in grp
        ]
        spans.append(WordSpan(w, start, max(0.0, end - start), float(np.mean(probs))))
    return spans


def format_ctm(key: str, spans: list[WordSpan]) -> str:
    """Kaldi ctm lines ``utt 1 start dur word confidence`` (seconds with 2 decimals)."""
    return "".join(f"{key} 1 {s.start:.2f} {s.duration:.2f} {s.word} {s.confidence:.2f}\n" for s in spans)


def format_nbest(key: str, nbest: list[tuple[list[str], float]]) -> str:
    """N-best lines ``utt rank cost word1 word2 ...`` (rank from 1, cost = total path cost)."""
    return "".join(f"{key} {i} {c:.4f} {' '.join(w)}".rstrip() + "\n" for i, (w, c) in enumerate(nbest, 1))
