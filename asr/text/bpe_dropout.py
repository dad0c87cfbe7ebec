"""BPE-dropout: a random segmentation of a transcript into the same BPE vocabulary, for training targets.

Canonical BPE always spells a word the same way, so a model with a large vocabulary learns frequent words as whole
units and never practises spelling them from their pieces, which is what it needs for words it heard rarely.
BPE-dropout (Provilkov et al., "BPE-Dropout: Simple and Effective Subword Regularization", ACL 2020) re-segments
each training transcript every time it is used. This module follows sentencepiece's sampling for BPE models
(``encode(..., enable_sampling=True, alpha=p)``), so ``p`` means what sentencepiece's ``alpha`` does: the adjacent
pairs are merged as in plain BPE (the pair whose merged piece comes first in merge order), but each pair, when its
turn comes, is dropped for good with probability ``p`` and the next best pair goes on (Provilkov et al. re-draw
every candidate at every step and stop when all are dropped, a stronger dropout at the same ``p``). The samples
follow sentencepiece's own distribution (tested). With ``p = 0`` this is plain BPE, with ``p = 1`` the word is
spelled in characters; every piece produced is a token of the vocabulary, since each is a merge result.

The vocabulary is read from ``tokens.txt`` alone: a sentencepiece BPE model lists its merged pieces in merge order,
so a multi-character token's id is its merge rank (the rule :mod:`asr.models.interctc` uses for its derived
vocabularies; with ``p = 0`` the segmentation equals the tokenizer's own, tested). Words are the runs of tokens
that start at a word-start token (sentencepiece's ``\u2581``); a word holding a special token (``<unk>``...) or a
piece that is not plain text keeps its canonical tokens.
"""

from __future__ import annotations

import random
from collections.abc import Sequence

from asr.text.tokenizer import WORD_START

__all__ = ["BpeDropout", "bpe_segment", "is_special"]


def is_special(sym: str) -> bool:
    """A special symbol of tokens.txt (``<blk>``, ``<unk>``, ``<sos/eos>``...), not text."""
    return len(sym) > 2 and sym.startswith("<") and sym.endswith(">")


def bpe_segment(
    word: str, rank: dict[str, int], rng: random.Random | None = None, p: float = 0.0
) -> list[str]:
    """Pieces of ``word``: its characters merged pair by pair, the pair whose merged piece has the lowest ``rank``
    first (the leftmost on a tie), until no adjacent pair is in ``rank``; with ``rng`` and ``p`` > 0 each pair is
    dropped for good with probability ``p`` when its turn comes (sentencepiece's BPE sampling)."""
    parts = list(word)
    drop = rng is not None and p > 0.0
    skipped = [False] * (len(parts) - 1)  # skipped[k]: the pair parts[k], parts[k + 1] was dropped
    while len(parts) > 1:
        best_r, best_k = -1, -1
        for k in range(len(parts) - 1):
            if skipped[k]:
                continue
            r = rank.get(parts[k] + parts[k + 1])
            if r is not None and (best_k < 0 or r < best_r):
                best_r, best_k = r, k
        if best_k < 0:
            break
        if drop and rng.random() < p:
            skipped[best_k] = True
            continue
        parts[best_k : best_k + 2] = [parts[best_k] + parts[best_k + 1]]
        del skipped[best_k]
        # the merged piece forms new pairs with both neighbours: those have not been dropped
        if best_k > 0:
            skipped[best_k - 1] = False
        if best_k < len(skipped):
            skipped[best_k] = False
    return parts


class BpeDropout:
    """Re-segment token sequences of a sentencepiece BPE vocabulary with merge dropout.

    Args:
        symbols: ``tokens.txt`` symbols by id (id 0 the blank).
        p: Probability of dropping a pair when its turn to merge comes (sentencepiece's ``alpha``), in [0, 1].

    Raises:
        ValueError: ``p`` outside [0, 1].
    """

    def __init__(self, symbols: Sequence[str], p: float):
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"BPE-dropout probability {p} is outside [0, 1]")
        self.p = p
        self.id = {s: i for i, s in enumerate(symbols)}
        # merge rank of every multi-character piece: its position among them in id order
        self.rank: dict[str, int] = {}
        for i, s in enumerate(symbols):
            if i > 0 and len(s) > 1 and not is_special(s):
                self.rank.setdefault(s, len(self.rank))
        self.plain = [i > 0 and not is_special(s) for i, s in enumerate(symbols)]
        self.word_start = [s.startswith(WORD_START) for s in symbols]
        self.symbols = list(symbols)

    def words(self, ids: Sequence[int]) -> list[list[int]]:
        """Split a token sequence into words: a new word at every word-start token."""
        out: list[list[int]] = []
        for t in ids:
            if not out or self.word_start[t]:
                out.append([t])
            else:
                out[-1].append(t)
        return out

    def segment(self, word: str, rng: random.Random | None) -> list[str]:
        """Pieces of ``word`` (:func:`bpe_segment` with this vocabulary's merge ranks and ``p``; ``rng`` None:
        canonical BPE)."""
        return bpe_segment(word, self.rank, rng, self.p)

    def __call__(self, ids: Sequence[int], rng: random.Random) -> list[int]:
        """A BPE-dropout segmentation of the words of token sequence ``ids`` (canonical BPE ids), as ids."""
        out: list[int] = []
        for word in self.words(ids):
            if not all(self.plain[t] for t in word):
                out.extend(word)  # a special token inside: keep the word as it is
                continue
            pieces = self.segment("".join(self.symbols[t] for t in word), rng)
            ids_ = [self.id.get(pc) for pc in pieces]
            # a character without a token of its own: keep the canonical form
            out.extend(word if None in ids_ else ids_)
        return out
