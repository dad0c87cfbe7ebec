"""Extra words for a graph: a word list or hotword file -> pronunciations added to L and unigrams added to G.

Input: a UTF-8 file with one word or phrase per line, in any of the hotword styles (``phrase``, ``phrase weight``,
``phrase :weight``; read by :func:`decoding.hotwords.parse.parse_hotwords`, the weight is ignored here), the
lexicon, the ARPA's vocabulary and optionally a tokenizer. Output: the words the LM does not know (each phrase split
on whitespace), each with its pronunciations (the lexicon's when it has the word, else the tokenizer's spelling),
and a G with one extra arc per such word on the empty history (the unigram back-off state) to itself, with cost
``-ln(10) * logprob``.

Why: a TLG can only output words of G, so hotword biasing (which adds bonuses along token paths) cannot make an
out-of-vocabulary hotword win. The added unigrams make such words reachable from every history through its
back-off arcs, at the cost of an unknown word (the ARPA's ``<unk>`` probability by default), like the class-based
"contextual biasing" words of Kaldi/WeNet graphs (``fstreplace`` of a class slot) but without a class: the LM's
other probabilities are left as they are (they are not renormalised), so every path without an extra word keeps its
cost. Our own code.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np

from asr.errors import InputError
from decoding.graph.lexicon import RESERVED_WORDS, Lexicon, Pronunciation

__all__ = ["DEFAULT_EXTRA_WORD_LOGPROB", "read_extra_words", "add_extra_pronunciations", "add_unigrams"]

DEFAULT_EXTRA_WORD_LOGPROB = -7.0  # log10, when the ARPA has no <unk>


def read_extra_words(path: str | os.PathLike) -> dict[str, int]:
    """The distinct words of a word list / hotword file, with the line they first appear on.

    Raises:
        InputError: bad UTF-8 or a malformed weight (from the hotword parser), a reserved word (``<s>``, ``#0``...).
    """
    from decoding.hotwords.parse import parse_hotwords

    out: dict[str, int] = {}
    for h in parse_hotwords(path):
        for w in h.phrase.split():
            if w in RESERVED_WORDS or w.startswith("#"):
                raise InputError(path, h.line, f"'{w}' is a reserved symbol and cannot be an extra word")
            out.setdefault(w, h.line)
    return out


def add_extra_pronunciations(
    lexicon: Lexicon,
    extra: dict[str, int],
    lm_vocab: set[str],
    tokenizer=None,
    path: str | os.PathLike | None = None,
) -> list[str]:
    """Add the extra words that the LM does not know to ``lexicon`` (in place).

    Args:
        lexicon: The lexicon (from ``lexicon.txt`` or generated from the tokenizer).
        extra: Word -> line in the extra-words file (:func:`read_extra_words`).
        lm_vocab: The ARPA's unigrams (after nothing: a word the LM knows is left to the LM).
        tokenizer: Spells words the lexicon does not have (``.encode``, ``.symbols``), or ``None``.
        path: The extra-words file, for messages.

    Returns:
        The words to add to G, in file order.

    Raises:
        InputError: a word neither the lexicon nor the tokenizer can spell (file and line named).
    """
    have = {p.word for p in lexicon.prons}
    unk = tokenizer.symbols.get("<unk>") if tokenizer is not None else None
    added: list[str] = []
    for w, line in extra.items():
        if w in lm_vocab:
            continue
        added.append(w)
        if w in have:
            continue
        if tokenizer is None:
            raise InputError(
                path,
                line,
                f"extra word '{w}' is neither in the LM nor in the lexicon; add it to the lexicon or give "
                "--tokenizer to spell it",
            )
        try:
            ids = [int(i) for i in tokenizer.encode(w)]
        except ValueError as e:
            raise InputError(path, line, f"the tokenizer cannot spell extra word '{w}': {e}") from None
        if not ids or (unk is not None and unk in ids) or 0 in ids:
            raise InputError(
                path,
                line,
                f"the tokenizer cannot spell extra word '{w}' (it gives {ids}: empty, <unk> or blank)",
            )
        lexicon.prons.append(Pronunciation(w, tuple(ids), 1.0, 0))
        have.add(w)
    return added


def add_unigrams(G, word_ids: list[int], logprob: float):
    """Add ``w:w`` arcs with cost ``-ln(10) * logprob`` from G's empty-history state (0) to itself; re-sorts G.

    Args:
        G: The ``pywrapfst.VectorFst`` of :func:`~decoding.graph.grammar.make_grammar_fst` (state 0 = the empty
            history).
        word_ids: ``words.txt`` ids of the words to add (not yet in G).
        logprob: log10 probability, <= 0.

    Returns:
        G (modified).
    """
    import pywrapfst as fst

    if not math.isfinite(logprob) or logprob > 0:
        raise ValueError(f"--extra-word-logprob must be a log10 probability <= 0, got {logprob}")
    cost = fst.Weight("tropical", float(np.float32(-math.log(10.0) * logprob)))
    for w in word_ids:
        G.add_arc(0, fst.Arc(int(w), int(w), cost, 0))
    G.arcsort(sort_type="ilabel")
    return G


def lm_vocabulary(arpa: str | os.PathLike) -> set[str]:
    """The ARPA's unigrams as a set."""
    from decoding.graph.grammar import arpa_vocabulary

    return set(arpa_vocabulary(Path(arpa)))
