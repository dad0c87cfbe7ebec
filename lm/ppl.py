"""Back-off n-gram model + text -> per-sentence log10 scores, perplexity and OOV counts (``cifst lm ppl``).

Input: an :class:`lm.model.NgramModel` (or an ARPA path) and text, one sentence per line. Output:
:class:`PerplexityResult` with the same numbers kenlm's ``query`` prints and kenlm's python ``Model.score``
returns: each sentence is scored from ``<s>`` through ``</s>``; a word's log10 probability is that of the longest
n-gram in the model ending in it plus the back-offs of the longer contexts; an out-of-vocabulary word scores
``p(<unk>)`` plus the back-offs of its whole context and, as in kenlm, nothing before it is used as context for the
next word. Perplexity including OOVs is ``10^(-total / tokens)`` (tokens = words + one ``</s>`` per sentence);
excluding OOVs, their scores and count are left out.

Reference: the ARPA back-off semantics (SRILM ``ngram-format(5)``) and kenlm ``lm/ngram_query.hh`` /
``python/kenlm.pyx`` for the OOV and summary conventions. Our own vectorized code: every order is looked up for all
tokens at once with integer keys.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from lm.counts import split_units
from lm.model import NgramModel, read_model_arpa

__all__ = ["PerplexityResult", "score_sentences", "perplexity", "perplexity_file"]


@dataclass
class PerplexityResult:
    """Scores of a text.

    Attributes:
        sentence_logprob: float64 [S] log10 probability of each sentence (with ``</s>``).
        total_logprob: Sum over sentences (log10).
        tokens: Words plus one ``</s>`` per sentence.
        oovs: Words not in the model's vocabulary.
        oov_logprob: Sum of the log10 scores given to OOV words.
        sentences: S.
    """

    sentence_logprob: np.ndarray
    total_logprob: float
    tokens: int
    oovs: int
    oov_logprob: float
    sentences: int

    @property
    def perplexity(self) -> float:
        """Perplexity including OOVs (kenlm ``query``'s first line)."""
        return float(10.0 ** (-self.total_logprob / max(self.tokens, 1)))

    @property
    def perplexity_no_oov(self) -> float:
        """Perplexity excluding OOVs."""
        n = self.tokens - self.oovs
        return float(10.0 ** (-(self.total_logprob - self.oov_logprob) / max(n, 1)))

    def summary(self) -> str:
        """kenlm ``query``'s summary lines."""
        return (
            f"Perplexity including OOVs:\t{self.perplexity:.10g}\n"
            f"Perplexity excluding OOVs:\t{self.perplexity_no_oov:.10g}\n"
            f"OOVs:\t{self.oovs}\nTokens:\t{self.tokens}\n"
        )


def _lookup(keys: np.ndarray, needles: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """Index of each needle in sorted ``keys`` (-1 when absent or not valid)."""
    out = np.full(len(needles), -1, np.int64)
    sel = np.flatnonzero(valid)
    if len(sel) == 0 or len(keys) == 0:
        return out
    nd = needles[sel]
    order = np.argsort(nd)
    snd = nd[order]
    pos = np.searchsorted(keys, snd)
    pc = np.minimum(pos, len(keys) - 1)
    hit = keys[pc] == snd
    res = np.where(hit, pc, -1)
    out[sel[order]] = res
    return out


def score_sentences(model: NgramModel, sentences: Iterable[list[str]]) -> PerplexityResult:
    """Score tokenized sentences.

    Args:
        model: The LM.
        sentences: Each a list of words (without ``<s>``/``</s>``).

    Returns:
        :class:`PerplexityResult`.
    """
    index = {w: i for i, w in enumerate(model.vocab)}
    unk = index.get("<unk>", -1)
    bos = index["<s>"]
    eos = index["</s>"]
    seq: list[int] = []
    lens: list[int] = []
    for words in sentences:
        seq.append(bos)
        seq.extend(index.get(w, -1) for w in words)
        seq.append(eos)
        lens.append(len(words) + 1)
    ids = np.asarray(seq, np.int64)
    n_sent = len(lens)
    total_len = len(ids)
    top = model.order
    vsize = np.uint64(len(model.vocab))
    oov = ids < 0
    # Position of each token's sentence start (the <s>) and the start limit after the last OOV.
    plen = np.asarray(lens, np.int64) + 1
    sent_start = np.repeat(np.cumsum(plen) - plen, plen)
    last_oov = np.where(oov, np.arange(total_len), -1)
    last_oov = np.maximum.accumulate(np.maximum(last_oov, -1)) if total_len else last_oov
    # for position t the earliest usable position is max(sentence start, last OOV strictly before t + 1)
    prev_oov = np.concatenate([[-1], last_oov[:-1]]) if total_len else last_oov
    limit = np.maximum(sent_start, prev_oov + 1)
    word = np.where(oov, unk if unk >= 0 else 0, ids)
    # E[j][t]: index of the j-gram ending at t in order j (-1 when absent or crossing the limit).
    uni_pos = np.full(len(model.vocab), -1, np.int64)
    uni_pos[model.orders[0].first] = np.arange(len(model.orders[0]))
    pos = np.arange(total_len)
    e = [uni_pos[word]]
    e[0] = np.where(oov, -1, e[0])
    for j in range(2, top + 1):
        start = pos - j + 1
        usable = (start >= limit) & (e[-1] >= 0)
        startc = np.maximum(start, 0)
        key = e[-1].astype(np.uint64) * vsize + word[startc].astype(np.uint64)
        e.append(_lookup(model.keys(j), key, usable & ~oov[startc]))
    # Longest match and its probability.
    score = np.zeros(total_len)
    matched = np.zeros(total_len, np.int64)
    for j in range(top, 0, -1):
        sel = (matched == 0) & (e[j - 1] >= 0)
        score[sel] = model.orders[j - 1].logprob[e[j - 1][sel]]
        matched[sel] = j
    unk_lp = model.orders[0].logprob[uni_pos[unk]] if unk >= 0 and uni_pos[unk] >= 0 else -100.0
    score[oov] = unk_lp
    matched[oov] = 1
    # Back-offs of the contexts longer than the match: context of length j ends at t-1.
    for j in range(1, top):
        ctx = np.concatenate([[-1], e[j - 1][:-1]]) if total_len else e[j - 1]
        ok = (ctx >= 0) & (pos - j >= limit) & (matched <= j)
        score[ok] += model.orders[j - 1].backoff[ctx[ok]]
    is_bos = np.zeros(total_len, bool)
    is_bos[np.cumsum(plen) - plen] = True
    score[is_bos] = 0.0
    sent_id = np.repeat(np.arange(n_sent), plen)
    sent_lp = np.bincount(sent_id, weights=score, minlength=n_sent)
    return PerplexityResult(
        sentence_logprob=sent_lp,
        total_logprob=float(sent_lp.sum()),
        tokens=int(sum(lens)),
        oovs=int(oov.sum()),
        oov_logprob=float(score[oov].sum()),
        sentences=n_sent,
    )


def perplexity(
    model: NgramModel | str | os.PathLike, lines: Iterable[str], unit: str = "word"
) -> PerplexityResult:
    """Score lines of text (split like :func:`lm.counts.split_units`).

    Args:
        model: The LM or the path of an ARPA file.
        lines: Sentences, one per item.
        unit: ``word`` or ``char``.
    """
    if not isinstance(model, NgramModel):
        model = read_model_arpa(model)
    return score_sentences(model, (split_units(line.rstrip("\n"), unit) for line in lines))


def perplexity_file(model: NgramModel | str | os.PathLike, text: str | os.PathLike, unit: str = "word"):
    """:func:`perplexity` over a text file (``.gz`` accepted, ``"-"`` = stdin)."""
    from lm.arpa import open_text

    with open_text(text) as f:
        return perplexity(model, f, unit)
